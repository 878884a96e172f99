//! `--fix`, `--diff`, `--unsafe-fixes`: apply the rules' mechanical fixes. Edits of
//! one file are applied back to front; overlapping edits are left for a later run; a
//! result that no longer parses is never written; files are replaced atomically.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use tocsin_diagnostics::{Applicability, Edit, Finding};

pub struct FixOutcome {
    /// Indices (into the findings) of those whose fix was applied (or would be).
    pub applied: std::collections::BTreeSet<usize>,
    /// Per file: the original and the fixed text.
    pub files: BTreeMap<PathBuf, (String, String)>,
    /// Files left untouched because the fixed text would not parse.
    pub refused: Vec<PathBuf>,
}

/// Computes the fixed text of every file with applicable fixes.
pub fn plan(
    findings: &[Finding],
    unsafe_fixes: bool,
    source: &dyn Fn(&Path) -> Option<String>,
) -> FixOutcome {
    let mut by_file: BTreeMap<PathBuf, Vec<(usize, &Edit)>> = BTreeMap::new();
    let mut fixable = 0usize;
    for (i, finding) in findings.iter().enumerate() {
        let Some(fix) = &finding.edit else { continue };
        if fix.applicability == Applicability::Unsafe && !unsafe_fixes {
            continue;
        }
        fixable += 1;
        for edit in &fix.edits {
            by_file
                .entry(edit.path.clone())
                .or_default()
                .push((i, edit));
        }
    }
    let mut outcome = FixOutcome {
        applied: std::collections::BTreeSet::new(),
        files: BTreeMap::new(),
        refused: Vec::new(),
    };
    for (path, mut edits) in by_file {
        let Some(original) = source(&path) else {
            continue;
        };
        edits.sort_by_key(|(_, e)| (e.start, e.end));
        // The same insertion requested by several fixes (`import hmac`) counts once.
        edits.dedup_by(|a, b| a.1 == b.1);
        let mut accepted: Vec<(usize, &Edit)> = Vec::new();
        let mut last_end = 0usize;
        for (finding, edit) in edits {
            let overlaps = accepted.last().is_some_and(|_| edit.start < last_end);
            if overlaps || edit.end > original.len() || edit.start > edit.end {
                continue;
            }
            last_end = edit.end.max(edit.start);
            accepted.push((finding, edit));
        }
        let mut text = original.clone();
        for (_, edit) in accepted.iter().rev() {
            if text.is_char_boundary(edit.start) && text.is_char_boundary(edit.end) {
                text.replace_range(edit.start..edit.end, &edit.replacement);
            }
        }
        if ruff_python_parser::parse_module(&text).is_err() {
            outcome.refused.push(path);
            continue;
        }
        for (finding, _) in &accepted {
            outcome.applied.insert(*finding);
        }
        outcome.files.insert(path, (original, text));
    }
    let _ = fixable;
    outcome
}

/// Writes the fixed files, each through a temporary file renamed into place.
pub fn write(outcome: &FixOutcome) -> Result<()> {
    for (path, (_, fixed)) in &outcome.files {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let temp = dir.join(format!(".{name}.tocsin-fix-{}", std::process::id()));
        std::fs::write(&temp, fixed).with_context(|| format!("writing {}", temp.display()))?;
        if let Ok(meta) = std::fs::metadata(path) {
            let _ = std::fs::set_permissions(&temp, meta.permissions());
        }
        std::fs::rename(&temp, path).with_context(|| format!("replacing {}", path.display()))?;
    }
    Ok(())
}

/// A unified diff of every change.
pub fn diff(outcome: &FixOutcome, out: &mut dyn Write) -> Result<()> {
    for (path, (before, after)) in &outcome.files {
        let name = path.display().to_string();
        let diff = similar::TextDiff::from_lines(before, after);
        write!(
            out,
            "{}",
            diff.unified_diff().context_radius(3).header(&name, &name)
        )?;
    }
    Ok(())
}
