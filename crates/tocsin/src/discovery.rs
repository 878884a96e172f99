//! Finds the Python files to analyse: explicit files always, directories walked with
//! .gitignore respected and `--exclude`/configured globs applied; then reads them in
//! parallel. A file that cannot be read, is too large, is binary or is not UTF-8 is
//! reported with its path and skipped.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::WalkBuilder;
use rayon::prelude::*;
use tocsin_diagnostics::{InputError, Location, Position, SourceSpan};
use tocsin_python::SourceFile;

/// Larger files are reported (E003) rather than analysed: generated modules of this
/// size are not hand-written Flask code, and parsing them costs seconds.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

pub fn build_globset(patterns: &[String]) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(Glob::new(pattern).with_context(|| format!("invalid glob `{pattern}`"))?);
        // `build/` style patterns also exclude everything below.
        let trimmed = pattern.trim_end_matches('/');
        if !trimmed.contains("**") {
            builder.add(
                Glob::new(&format!("{trimmed}/**"))
                    .with_context(|| format!("invalid glob `{pattern}`"))?,
            );
            if !trimmed.starts_with("**/") && !trimmed.starts_with('/') {
                builder.add(
                    Glob::new(&format!("**/{trimmed}"))
                        .with_context(|| format!("invalid glob `{pattern}`"))?,
                );
                builder.add(
                    Glob::new(&format!("**/{trimmed}/**"))
                        .with_context(|| format!("invalid glob `{pattern}`"))?,
                );
            }
        }
    }
    builder.build().context("building exclude globs")
}

fn path_error(path: &Path, code: &str, message: String) -> InputError {
    InputError {
        code: code.to_string(),
        location: Location::Source(SourceSpan {
            path: path.to_path_buf(),
            start: Position { line: 1, column: 1 },
            end: Position { line: 1, column: 1 },
        }),
        message,
    }
}

/// Lists the files to analyse. Missing paths are errors of the run (exit 2 if
/// nothing else is left), reported as input errors.
pub fn discover(paths: &[PathBuf], exclude: &GlobSet) -> (Vec<PathBuf>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for root in paths {
        match fs::metadata(root) {
            Ok(meta) if meta.is_file() => {
                // Explicit files are analysed whatever their extension.
                files.push(root.clone());
                continue;
            }
            Ok(_) => {}
            Err(error) => {
                errors.push(path_error(
                    root,
                    "E002",
                    format!("cannot read {}: {error}", root.display()),
                ));
                continue;
            }
        }
        let walker = WalkBuilder::new(root)
            .hidden(true)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(true)
            .require_git(false)
            .follow_links(false)
            .build();
        for entry in walker {
            match entry {
                Ok(entry) => {
                    let path = entry.path();
                    if !entry.file_type().is_some_and(|t| t.is_file()) {
                        continue;
                    }
                    if path.extension().is_none_or(|e| e != "py") {
                        continue;
                    }
                    let relative = path.strip_prefix(root).unwrap_or(path);
                    if exclude.is_match(path) || exclude.is_match(relative) {
                        continue;
                    }
                    files.push(path.to_path_buf());
                }
                Err(error) => {
                    let path = match &error {
                        ignore::Error::WithPath { path, .. } => path.clone(),
                        _ => root.clone(),
                    };
                    errors.push(path_error(
                        &path,
                        "E002",
                        format!("cannot read {}: {error}", path.display()),
                    ));
                }
            }
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

/// Reads and parses files in parallel. Syntax errors stay attached to their file.
pub fn load(files: Vec<PathBuf>) -> (Vec<SourceFile>, Vec<InputError>) {
    let results: Vec<Result<SourceFile, InputError>> =
        files.into_par_iter().map(load_one).collect();
    let mut sources = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(source) => sources.push(source),
            Err(error) => errors.push(error),
        }
    }
    (sources, errors)
}

fn load_one(path: PathBuf) -> Result<SourceFile, InputError> {
    let meta = fs::metadata(&path).map_err(|e| {
        path_error(
            &path,
            "E002",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(path_error(
            &path,
            "E003",
            format!(
                "{} is {} MiB, above the {} MiB limit; skipped",
                path.display(),
                meta.len() >> 20,
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    let bytes = fs::read(&path).map_err(|e| {
        path_error(
            &path,
            "E002",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    if bytes.contains(&0) {
        return Err(path_error(
            &path,
            "E003",
            format!("{} is binary (contains NUL bytes); skipped", path.display()),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        path_error(
            &path,
            "E003",
            format!(
                "{} is not valid UTF-8 (at byte {}); skipped",
                path.display(),
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    // A BOM is legal in Python sources but not part of the code.
    let text = match text.strip_prefix('\u{feff}') {
        Some(stripped) => stripped.to_string(),
        None => text,
    };
    Ok(SourceFile::parse(path, text))
}
