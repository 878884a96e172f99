//! Arbitrary bytes → (if UTF-8) a project of one to six Python files → Index,
//! AppModel, every static rule (`tocsin_rules::check_all`, default Settings), then the
//! text renderer with code frames over the findings — the path of `tocsin check` from
//! parsed sources to output (crates/tocsin/src/check.rs), without the file system.
//!
//! Input layout: files are separated by NUL bytes (which a real source never holds:
//! discovery rejects such files as binary, so splitting on NUL loses nothing). A part
//! whose first line is `#> some/path.py` is given that path (relative to `fuzz/`);
//! other parts get `pkg/__init__.py`, `pkg/app.py`, … by position. Named paths and
//! package `__init__.py` files let the fuzzer exercise module naming and cross-module
//! resolution (`from .auth import require_key`).
#![no_main]

use std::collections::HashMap;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use tocsin_diagnostics::{render, Format, RenderOptions, Report, RuleMeta};
use tocsin_python::{AppModel, Index, Project, SourceFile};
use tocsin_rules::{Context, Settings};

const MAX_FILES: usize = 6;
const DEFAULT_NAMES: [&str; MAX_FILES] = [
    "pkg/__init__.py",
    "pkg/app.py",
    "pkg/views.py",
    "pkg/auth.py",
    "pkg/data.py",
    "pkg/store.py",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut files = Vec::new();
    for (i, part) in text.splitn(MAX_FILES, '\0').enumerate() {
        let (path, source) = match part.strip_prefix("#>") {
            Some(rest) => {
                let (name, body) = rest.split_once('\n').unwrap_or((rest, ""));
                (PathBuf::from("fuzz").join(name.trim()), body)
            }
            None => (PathBuf::from("fuzz").join(DEFAULT_NAMES[i]), part),
        };
        // The last part may still hold NULs (more than MAX_FILES parts); discovery
        // never hands such a file to the parser.
        if source.contains('\0') {
            return;
        }
        files.push(SourceFile::parse(path, source.to_string()));
    }
    // As analysis.rs does for E001: positions of syntax errors.
    for file in &files {
        if let Some(error) = &file.syntax_error {
            let _ = file.line_col(error.range.start());
            let _ = file.line_col(error.range.end());
        }
    }

    let project = Project::new(files);
    let index = Index::build(&project);
    let model = AppModel::build(&project, &index);
    let settings = Settings::default();
    let ctx = Context::new(&project, &index, &model, &settings);
    let findings = tocsin_rules::check_all(&ctx, &|_| true);

    let sources: HashMap<PathBuf, String> = project
        .files()
        .iter()
        .map(|f| (f.path.clone(), f.text.clone()))
        .collect();
    let rules: Vec<RuleMeta> = tocsin_rules::all_rule_meta().into_iter().copied().collect();
    let report = Report {
        tool_version: "fuzz",
        findings: &findings,
        errors: &[],
        rules: &rules,
        sources: &sources,
    };
    let mut out = Vec::new();
    render(
        Format::Text,
        &report,
        RenderOptions { color: false },
        &mut out,
    )
    .expect("rendering to memory");
});
