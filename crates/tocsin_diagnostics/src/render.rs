//! Output formats. Each renderer is a function from a [`Report`] to a writer.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::{Finding, InputError, RuleMeta};

/// Gives renderers the text of a source file, for code frames and fingerprints.
pub trait SourceLookup {
    fn source(&self, path: &Path) -> Option<&str>;
}

impl SourceLookup for HashMap<PathBuf, String> {
    fn source(&self, path: &Path) -> Option<&str> {
        self.get(path).map(String::as_str)
    }
}

/// Everything a renderer needs: the findings (already sorted and filtered), the
/// per-input errors, the metadata of every rule that ran, and the sources.
pub struct Report<'a> {
    pub tool_version: &'a str,
    pub findings: &'a [Finding],
    pub errors: &'a [InputError],
    pub rules: &'a [RuleMeta],
    pub sources: &'a dyn SourceLookup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Concise,
    Json,
    Sarif,
    Github,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    pub color: bool,
}

pub fn render(
    format: Format,
    report: &Report<'_>,
    options: RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let _ = (format, report, options, out);
    unimplemented!("renderers")
}
