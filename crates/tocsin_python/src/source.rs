//! Source files: their text, their parse, and offset-to-position conversion.

use std::path::{Path, PathBuf};

use ruff_python_ast::ModModule;
use ruff_python_parser::{parse_module, Parsed};
use ruff_source_file::{LineIndex, OneIndexed};
use ruff_text_size::{TextRange, TextSize};
use serde::Serialize;

/// Index of a file in [`crate::Project::files`].
pub type FileId = usize;

/// A place in the project: a file and a byte range in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file: FileId,
    pub range: TextRange,
}

impl Loc {
    /// Orders by file, then start, then end.
    pub fn sort_key(&self) -> (FileId, TextSize, TextSize) {
        (self.file, self.range.start(), self.range.end())
    }
}

/// A 1-based line and character column, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

/// Why a file could not be turned into a syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub range: TextRange,
}

pub struct SourceFile {
    /// The path as the user named it.
    pub path: PathBuf,
    pub text: String,
    line_index: LineIndex,
    /// `None` when the file has a syntax error; see `syntax_error`.
    parsed: Option<Parsed<ModModule>>,
    pub syntax_error: Option<SyntaxError>,
}

impl SourceFile {
    /// Parses `text`. A syntax error is recorded, never returned: the rest of the
    /// project is still analysed. The parser recurses on a growing stack (`stacker`),
    /// so deeply nested input does not overflow.
    pub fn parse(path: PathBuf, text: String) -> SourceFile {
        let line_index = LineIndex::from_source_text(&text);
        let (parsed, syntax_error) = match parse_module(&text) {
            Ok(parsed) => (Some(parsed), None),
            Err(error) => (
                None,
                Some(SyntaxError {
                    message: error.error.to_string(),
                    range: error.location,
                }),
            ),
        };
        SourceFile {
            path,
            text,
            line_index,
            parsed,
            syntax_error,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn module(&self) -> Option<&ModModule> {
        self.parsed.as_ref().map(Parsed::syntax)
    }

    /// 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: TextSize) -> LineCol {
        let offset = offset.min(TextSize::of(self.text.as_str()));
        let line = self.line_index.line_index(offset);
        let line_start = self.line_index.line_start(line, &self.text);
        let start = usize::from(line_start).min(self.text.len());
        let end = usize::from(offset).max(start);
        let column = self
            .text
            .get(start..end)
            .map_or(end - start, |prefix| prefix.chars().count());
        LineCol {
            line: u32::try_from(line.get()).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }

    pub fn slice(&self, range: TextRange) -> &str {
        self.text
            .get(usize::from(range.start())..usize::from(range.end()))
            .unwrap_or("")
    }

    /// The full text of the 1-based line `line`, without its newline.
    pub fn line_text(&self, line: u32) -> &str {
        let Some(line) = OneIndexed::new(line as usize) else {
            return "";
        };
        if line.get() > self.line_index.line_count() {
            return "";
        }
        let range = self.line_index.line_range(line, &self.text);
        self.slice(range).trim_end_matches(['\n', '\r'])
    }
}
