//! `--format gitlab`: a GitLab code-quality report (the Code Climate JSON subset that
//! GitLab reads), rendered here from the findings so the diagnostics crate stays
//! unchanged. Severities map low→minor, medium→major, high→critical,
//! critical→blocker; per-file input errors (E001…) are `info`.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{json, Value};
use tocsin_diagnostics::{Finding, InputError, Location, Severity};

use crate::baseline::normalize_path;

pub fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "minor",
        Severity::Medium => "major",
        Severity::High => "critical",
        Severity::Critical => "blocker",
    }
}

fn location(location: &Location) -> (String, u32) {
    match location {
        Location::Source(span) => (normalize_path(&span.path), span.start.line.max(1)),
        Location::Http(http) => (format!("{} {}", http.method, http.url), 1),
    }
}

/// GitLab drops issues whose fingerprints repeat; two copies of the same flawed line
/// share a finding fingerprint, so later copies get a suffix.
fn unique(seen: &mut HashMap<String, usize>, fingerprint: String) -> String {
    let count = seen.entry(fingerprint.clone()).or_default();
    *count += 1;
    if *count == 1 {
        fingerprint
    } else {
        format!("{fingerprint}-{count}")
    }
}

pub fn render(findings: &[Finding], errors: &[InputError], out: &mut dyn Write) -> io::Result<()> {
    let mut seen = HashMap::new();
    let mut issues: Vec<Value> = Vec::new();
    for finding in findings {
        let (path, line) = location(&finding.location);
        let fingerprint = finding
            .fingerprint
            .clone()
            .unwrap_or_else(|| format!("{}:{path}:{line}", finding.code));
        let mut issue = json!({
            "type": "issue",
            "engine_name": "tocsin",
            "check_name": finding.code,
            "description": finding.message,
            "categories": ["Security"],
            "fingerprint": unique(&mut seen, fingerprint),
            "severity": severity(finding.severity),
            "location": { "path": path, "lines": { "begin": line } },
        });
        if let Some(fix) = &finding.fix {
            issue["content"] = json!({ "body": fix });
        }
        issues.push(issue);
    }
    for error in errors {
        let (path, line) = location(&error.location);
        let fingerprint = format!("{}:{path}", error.code);
        issues.push(json!({
            "type": "issue",
            "engine_name": "tocsin",
            "check_name": error.code,
            "description": error.message,
            "categories": ["Bug Risk"],
            "fingerprint": unique(&mut seen, fingerprint),
            "severity": "info",
            "location": { "path": path, "lines": { "begin": line } },
        }));
    }
    serde_json::to_writer_pretty(&mut *out, &issues).map_err(io::Error::other)?;
    writeln!(out)?;
    Ok(())
}
