//! CI use: `--fail-on SEVERITY` with `--exit-zero`, and `--format gitlab` (GitLab's
//! code-quality report) read back as GitLab reads it.

#[allow(dead_code)]
mod common;

use std::fs;

use common::{stdout, tocsin_in};

/// KEY001 (medium) on line 6.
const MEDIUM: &str = "import os\nfrom flask import request\n\ndef check():\n    key = request.headers.get('X-API-Key')\n    return key == os.environ['API_KEY']\n";
/// KEY003 (high) on line 3.
const HIGH: &str =
    "from flask import Flask\napp = Flask(__name__)\napp.secret_key = \"hunter2-production-key-9f8e7d\"\n";
/// JWT001 (critical): the signature is never checked.
const CRITICAL: &str = "import jwt\nfrom flask import request\n\ndef claims():\n    token = request.headers['Authorization'].split()[1]\n    return jwt.decode(token, options={'verify_signature': False})\n";

fn exit_code(dir: &std::path::Path, args: &[&str]) -> Option<i32> {
    let mut all = vec!["check", "--isolated"];
    all.extend_from_slice(args);
    tocsin_in(dir, &all).status.code()
}

#[test]
fn fail_on_sets_the_minimum_severity_that_fails_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::write(p.join("medium.py"), MEDIUM).expect("write");
    fs::write(p.join("high.py"), HIGH).expect("write");
    fs::write(p.join("critical.py"), CRITICAL).expect("write");

    for (file, expected) in [
        // file, exit code for --fail-on low, medium, high, critical
        ("medium.py", [1, 1, 0, 0]),
        ("high.py", [1, 1, 1, 0]),
        ("critical.py", [1, 1, 1, 1]),
    ] {
        for (level, want) in ["low", "medium", "high", "critical"].iter().zip(expected) {
            assert_eq!(
                exit_code(p, &["--fail-on", level, file]),
                Some(want),
                "{file} --fail-on {level}"
            );
        }
    }
    // Findings below the bar are still reported.
    let output = tocsin_in(
        p,
        &[
            "check",
            "--isolated",
            "--fail-on",
            "high",
            "--format",
            "concise",
            "medium.py",
        ],
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("KEY001"), "{}", stdout(&output));
    // --exit-zero wins; without --fail-on any finding fails; errors still exit 2.
    assert_eq!(
        exit_code(p, &["--fail-on", "low", "--exit-zero", "critical.py"]),
        Some(0)
    );
    assert_eq!(exit_code(p, &["medium.py"]), Some(1));
    assert_eq!(
        exit_code(p, &["--fail-on", "critical", "missing.py"]),
        Some(2)
    );
    assert_eq!(exit_code(p, &["--fail-on", "severe", "medium.py"]), Some(2));
}

#[test]
fn gitlab_format_is_a_code_quality_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::create_dir(p.join("api")).expect("mkdir");
    fs::write(p.join("api/medium.py"), MEDIUM).expect("write");
    fs::write(p.join("api/high.py"), HIGH).expect("write");
    fs::write(p.join("api/critical.py"), CRITICAL).expect("write");
    fs::write(p.join("api/broken.py"), "def f(:\n").expect("write");
    let output = tocsin_in(
        p,
        &[
            "check",
            "--isolated",
            "--format",
            "gitlab",
            "-o",
            "gl-code-quality-report.json",
            ".",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = fs::read_to_string(p.join("gl-code-quality-report.json")).expect("report file");
    let report: serde_json::Value = serde_json::from_str(&text).expect("json");
    let issues = report.as_array().expect("a JSON array of issues");

    let mut seen = std::collections::HashSet::new();
    let mut got = Vec::new();
    for issue in issues {
        // The fields GitLab requires, with the types it requires.
        let description = issue["description"].as_str().expect("description");
        assert!(!description.is_empty());
        let check = issue["check_name"].as_str().expect("check_name");
        let fingerprint = issue["fingerprint"].as_str().expect("fingerprint");
        assert!(
            seen.insert(fingerprint.to_string()),
            "fingerprints are unique"
        );
        let severity = issue["severity"].as_str().expect("severity");
        assert!(
            ["info", "minor", "major", "critical", "blocker"].contains(&severity),
            "{severity}"
        );
        let path = issue["location"]["path"].as_str().expect("location.path");
        assert!(!path.starts_with("./") && !path.starts_with('/'), "{path}");
        let line = issue["location"]["lines"]["begin"]
            .as_u64()
            .expect("location.lines.begin");
        assert!(line >= 1);
        got.push((
            check.to_string(),
            severity.to_string(),
            path.to_string(),
            line,
        ));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("E001".into(), "info".into(), "api/broken.py".into(), 1),
            (
                "JWT001".into(),
                "blocker".into(),
                "api/critical.py".into(),
                6
            ),
            ("KEY001".into(), "major".into(), "api/medium.py".into(), 6),
            ("KEY003".into(), "critical".into(), "api/high.py".into(), 3),
        ]
    );

    // The fingerprint is the finding's own (stable across runs and line shifts).
    let json = tocsin_in(
        p,
        &["check", "--isolated", "--format", "json", "api/medium.py"],
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    let key001 = issues
        .iter()
        .find(|i| i["check_name"] == "KEY001")
        .expect("KEY001");
    assert_eq!(key001["fingerprint"], json["findings"][0]["fingerprint"]);
}
