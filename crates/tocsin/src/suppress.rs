//! Inline suppressions: `# tocsin: ignore[KEY001, JWT002]` on the line a finding
//! starts. A suppression that matches nothing is itself reported (SUP001).

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use tocsin_diagnostics::{Finding, Location, Position, SourceSpan};
use tocsin_python::SourceFile;

struct Suppression {
    line: u32,
    column: u32,
    codes: Vec<String>,
    used: Vec<bool>,
}

fn parse_line(line: &str) -> Option<(usize, Vec<String>)> {
    let at = line
        .find("# tocsin: ignore[")
        .or_else(|| line.find("#tocsin: ignore["))?;
    let rest = &line[at..];
    let open = rest.find('[')?;
    let close = rest.find(']')?;
    let codes = rest[open + 1..close]
        .split(',')
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
        .collect();
    Some((at, codes))
}

/// Removes suppressed findings and returns SUP001 findings for unused codes.
pub fn apply(
    findings: Vec<Finding>,
    sources: &[SourceFile],
    report_unused: bool,
) -> (Vec<Finding>, Vec<Finding>) {
    let mut by_path: FxHashMap<PathBuf, Vec<Suppression>> = FxHashMap::default();
    for source in sources {
        // Cheap pre-filter: most files have no suppression at all.
        if !source.text.contains("tocsin: ignore[") {
            continue;
        }
        let mut list = Vec::new();
        for (i, line) in source.text.lines().enumerate() {
            if let Some((byte, codes)) = parse_line(line) {
                let used = vec![false; codes.len()];
                list.push(Suppression {
                    line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    column: u32::try_from(line[..byte].chars().count() + 1).unwrap_or(1),
                    codes,
                    used,
                });
            }
        }
        by_path.insert(source.path.clone(), list);
    }
    let mut kept = Vec::with_capacity(findings.len());
    for finding in findings {
        let suppressed = match &finding.location {
            Location::Source(span) => by_path.get_mut(&span.path).is_some_and(|list| {
                list.iter_mut()
                    .filter(|s| s.line == span.start.line)
                    .any(|s| match s.codes.iter().position(|c| c == &finding.code) {
                        Some(i) => {
                            s.used[i] = true;
                            true
                        }
                        None => false,
                    })
            }),
            Location::Http(_) => false,
        };
        if !suppressed {
            kept.push(finding);
        }
    }
    let mut unused = Vec::new();
    if report_unused {
        for (path, list) in &by_path {
            for s in list {
                for (code, used) in s.codes.iter().zip(&s.used) {
                    if !used {
                        unused.push(unused_finding(path, s.line, s.column, code));
                    }
                }
            }
        }
    }
    (kept, unused)
}

fn unused_finding(path: &Path, line: u32, column: u32, code: &str) -> Finding {
    let meta = &tocsin_rules::rules::sup001::META;
    Finding::new(
        meta.code,
        meta.severity,
        format!("suppression of {code} matches no finding on this line"),
        Location::Source(SourceSpan {
            path: path.to_path_buf(),
            start: Position { line, column },
            end: Position { line, column },
        }),
    )
    .with_fix("Remove the stale suppression.")
}
