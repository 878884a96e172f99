//! Adoption on existing code: `--write-baseline` records today's findings, `--baseline`
//! reports only new ones, and entries survive line shifts and unrelated edits.

#[allow(dead_code)]
mod common;

use std::fs;
use std::path::Path;

use common::{stdout, tocsin_in};

const APP: &str = "import os\nfrom flask import request\n\ndef check():\n    key = request.headers.get('X-API-Key')\n    return key == os.environ['API_KEY']\n";

fn findings(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<(String, u64)>) {
    let mut all = vec!["check", "--isolated", "--format", "json"];
    all.extend_from_slice(args);
    let output = tocsin_in(dir, &all);
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| {
        panic!(
            "json report: {e}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let list = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().expect("code").to_string(),
                f["location"]["start"]["line"].as_u64().expect("line"),
            )
        })
        .collect();
    (output.status.code(), list)
}

#[test]
fn baseline_accepts_old_findings_across_line_shifts_and_reports_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::write(p.join("app.py"), APP).expect("write");

    // Writing a baseline reports the findings and exits 0: they are now accepted.
    let written = tocsin_in(
        p,
        &[
            "check",
            "--isolated",
            "--write-baseline",
            "tocsin-baseline.json",
            ".",
        ],
    );
    assert_eq!(
        written.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    assert!(stdout(&written).contains("KEY001"), "{}", stdout(&written));
    let baseline: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(p.join("tocsin-baseline.json")).expect("baseline"),
    )
    .expect("baseline json");
    let entries = baseline["findings"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{baseline}");
    assert_eq!(entries[0]["rule"], "KEY001");
    assert_eq!(entries[0]["path"], "app.py");
    assert!(entries[0]["fingerprint"]
        .as_str()
        .is_some_and(|f| !f.is_empty()));
    assert!(entries[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("==")));

    // Unrelated edits above the flagged line: it moves from line 6 to line 10.
    let shifted = format!(
        "\"\"\"Payments API.\"\"\"\nimport logging\n\nlog = logging.getLogger(__name__)\n{APP}"
    );
    fs::write(p.join("app.py"), &shifted).expect("write");
    let (code, list) = findings(p, &["."]);
    assert_eq!((code, list), (Some(1), vec![("KEY001".to_string(), 10)]));
    // The baseline was written from `.` (paths `./app.py`); naming the file as
    // pre-commit does (`app.py`) matches it too.
    for target in [".", "app.py"] {
        let (code, list) = findings(p, &["--baseline", "tocsin-baseline.json", target]);
        assert_eq!((code, list), (Some(0), vec![]), "target {target}");
    }

    // A new flaw, even an identical copy of the accepted line, is reported alone.
    let new_flaw = format!(
        "{shifted}\ndef check_admin():\n    key = request.headers.get('X-API-Key')\n    return key == os.environ['API_KEY']\n\ndef token_ok():\n    token = request.headers.get('X-Token')\n    return token != os.environ['TOKEN']\n"
    );
    fs::write(p.join("app.py"), &new_flaw).expect("write");
    let (code, list) = findings(p, &["--baseline", "tocsin-baseline.json", "."]);
    assert_eq!(code, Some(1));
    assert_eq!(
        list,
        vec![("KEY001".to_string(), 14), ("KEY001".to_string(), 18)],
        "only the new findings"
    );
    let text = tocsin_in(
        p,
        &[
            "check",
            "--isolated",
            "--baseline",
            "tocsin-baseline.json",
            "--format",
            "concise",
            ".",
        ],
    );
    assert_eq!(
        stdout(&text).matches("KEY001").count(),
        2,
        "{}",
        stdout(&text)
    );

    // Refreshing: read and rewrite the same file in one run accepts everything.
    let refreshed = tocsin_in(
        p,
        &[
            "check",
            "--isolated",
            "--baseline",
            "tocsin-baseline.json",
            "--write-baseline",
            "tocsin-baseline.json",
            ".",
        ],
    );
    assert_eq!(refreshed.status.code(), Some(0));
    let (code, list) = findings(p, &["--baseline", "tocsin-baseline.json", "."]);
    assert_eq!((code, list), (Some(0), vec![]));
}

#[test]
fn a_missing_or_malformed_baseline_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::write(p.join("app.py"), APP).expect("write");
    let missing = tocsin_in(p, &["check", "--isolated", "--baseline", "nope.json", "."]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.json"));
    fs::write(p.join("bad.json"), "[1, 2]").expect("write");
    let malformed = tocsin_in(p, &["check", "--isolated", "--baseline", "bad.json", "."]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("not a tocsin baseline"));
}
