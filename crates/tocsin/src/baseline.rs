//! Baselines: accept today's findings and report only new ones. A baseline is a JSON
//! file of entries (rule, path, fingerprint, message); a finding is dropped when an
//! entry with the same rule, path and fingerprint is left. The fingerprint hashes the
//! rule, the path and the flagged line's trimmed text, so entries survive line shifts
//! and unrelated edits; each entry absorbs one finding, so a second copy of the same
//! flawed line is still reported.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use tocsin_diagnostics::{Finding, Location};

use crate::output::Output;

/// Bumped only if the meaning of the entries changes.
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct BaselineFile {
    tool: String,
    version: u32,
    findings: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub rule: String,
    pub path: String,
    pub fingerprint: String,
    #[serde(default)]
    pub message: String,
}

type Key = (String, String, String);

/// A finding's path as recorded in a baseline: forward slashes, no leading `./`.
pub fn normalize_path(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut rest = text.as_str();
    while let Some(stripped) = rest.strip_prefix("./") {
        rest = stripped.trim_start_matches('/');
    }
    rest.to_string()
}

fn entry(finding: &Finding) -> Entry {
    let path = match &finding.location {
        Location::Source(span) => normalize_path(&span.path),
        _ => String::new(),
    };
    Entry {
        rule: finding.code.clone(),
        path,
        fingerprint: finding.fingerprint.clone().unwrap_or_default(),
        message: finding.message.clone(),
    }
}

fn key(entry: &Entry) -> Key {
    (
        entry.rule.clone(),
        entry.path.clone(),
        entry.fingerprint.clone(),
    )
}

/// Writes every finding to `path` (atomically), sorted, one entry per finding.
pub fn write(path: &Path, findings: &[Finding]) -> Result<()> {
    let mut entries: Vec<Entry> = findings.iter().map(entry).collect();
    entries.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.message.cmp(&b.message)));
    let file = BaselineFile {
        tool: "tocsin".to_string(),
        version: VERSION,
        findings: entries,
    };
    let mut output = Output::open(Some(path))?;
    serde_json::to_writer_pretty(output.writer(), &file)
        .with_context(|| format!("writing the baseline {}", path.display()))?;
    writeln!(output.writer()).with_context(|| format!("writing {}", path.display()))?;
    output.commit()
}

/// Reads a baseline written by [`write`].
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the baseline {}", path.display()))?;
    let file: BaselineFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a tocsin baseline (write one with --write-baseline)",
            path.display()
        )
    })?;
    if file.version != VERSION {
        bail!(
            "baseline {} has version {}, this tocsin reads version {VERSION}",
            path.display(),
            file.version
        );
    }
    Ok(file.findings)
}

/// Drops the findings that the baseline accepts. Returns what is left and how many
/// were dropped.
pub fn filter(findings: Vec<Finding>, baseline: &[Entry]) -> (Vec<Finding>, usize) {
    let mut budget: HashMap<Key, usize> = HashMap::new();
    for entry in baseline {
        *budget.entry(key(entry)).or_default() += 1;
    }
    let mut dropped = 0;
    let kept = findings
        .into_iter()
        .filter(|finding| {
            let Some(left) = budget.get_mut(&key(&entry(finding))) else {
                return true;
            };
            if *left == 0 {
                return true;
            }
            *left -= 1;
            dropped += 1;
            false
        })
        .collect();
    (kept, dropped)
}
