//! Finds the Python files to analyse: explicit files always, directories walked with
//! .gitignore respected and `--exclude`/configured globs applied; then reads them in
//! parallel. A file that cannot be read, is too large, is binary or is not UTF-8 is
//! reported with its path and skipped.

use std::fs;
use std::io::Read as _;
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

pub fn path_error(path: &Path, code: &str, message: String) -> InputError {
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
            Ok(meta) if !meta.is_dir() => {
                // A FIFO, socket or device: reading could block or never end.
                errors.push(path_error(
                    root,
                    "E003",
                    format!(
                        "{} is not a regular file or directory; skipped",
                        root.display()
                    ),
                ));
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
                    let path = walk_error_path(&error).unwrap_or(root).to_path_buf();
                    // The I/O error alone: `ignore`'s own message repeats the path,
                    // which beyond PATH_MAX is kilobytes long.
                    let detail = match error.io_error() {
                        Some(io) => {
                            let mut cause: &dyn std::error::Error = io;
                            while let Some(inner) = cause.source() {
                                cause = inner;
                            }
                            cause.to_string()
                        }
                        None => error.to_string(),
                    };
                    errors.push(path_error(
                        &path,
                        "E002",
                        format!("cannot read {}: {detail}", path.display()),
                    ));
                }
            }
        }
    }
    files.sort();
    files.dedup();
    (files, errors)
}

/// The path a walk error is about: `ignore` nests it (`WithDepth { WithPath { .. } }`),
/// and a symlink loop names the link.
fn walk_error_path(error: &ignore::Error) -> Option<&Path> {
    match error {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::Loop { child, .. } => Some(child),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        ignore::Error::Partial(errors) => errors.iter().find_map(walk_error_path),
        _ => None,
    }
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
    let cannot_read = |e: std::io::Error| {
        path_error(
            &path,
            "E002",
            format!("cannot read {}: {e}", path.display()),
        )
    };
    // Hostile trees: the file may vanish, be replaced or grow between listing and
    // reading. Open it once, check what was opened (not the path), and never read
    // more than the limit, whatever the size said.
    let file = fs::File::open(&path).map_err(cannot_read)?;
    let meta = file.metadata().map_err(cannot_read)?;
    if !meta.is_file() {
        return Err(path_error(
            &path,
            "E003",
            format!("{} is not a regular file; skipped", path.display()),
        ));
    }
    let too_large = |len: u64| {
        path_error(
            &path,
            "E003",
            format!(
                "{} is {} MiB, above the {} MiB limit; skipped",
                path.display(),
                len >> 20,
                MAX_FILE_BYTES >> 20
            ),
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(errors: &[InputError]) -> Vec<(String, PathBuf)> {
        errors
            .iter()
            .map(|e| match &e.location {
                Location::Source(span) => (e.code.clone(), span.path.clone()),
                other => panic!("not a path: {other:?}"),
            })
            .collect()
    }

    /// Files that vanish or change kind between listing and reading are reported
    /// with their path, and the rest is still read.
    #[test]
    fn files_vanishing_between_listing_and_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["a.py", "gone.py", "now_dir.py"] {
            fs::write(dir.path().join(name), "x = 1\n").expect("write");
        }
        let (files, errors) = discover(&[dir.path().to_path_buf()], &GlobSet::empty());
        assert!(errors.is_empty());
        assert_eq!(files.len(), 3);
        fs::remove_file(dir.path().join("gone.py")).expect("remove");
        fs::remove_file(dir.path().join("now_dir.py")).expect("remove");
        fs::create_dir(dir.path().join("now_dir.py")).expect("mkdir");

        let (sources, errors) = load(files);
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].path, dir.path().join("a.py"));
        let mut got = codes(&errors);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("E002".to_string(), dir.path().join("gone.py")),
                ("E003".to_string(), dir.path().join("now_dir.py")),
            ]
        );
    }

    /// A FIFO named on the command line is reported, never opened (opening blocks
    /// until a writer appears).
    #[cfg(unix)]
    #[test]
    fn explicit_fifo_is_reported_not_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pipe.py");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        let (files, errors) = discover(std::slice::from_ref(&fifo), &GlobSet::empty());
        assert!(files.is_empty());
        assert_eq!(codes(&errors), vec![("E003".to_string(), fifo)]);
    }
}
