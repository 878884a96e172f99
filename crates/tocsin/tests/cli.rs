//! The binary as a user runs it: exit codes, bad input, discovery, configuration,
//! suppressions and report files.

mod common;

use std::fs;

use common::{stdout, tocsin, tocsin_in};

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output)).expect("json report")
}

const VULNERABLE: &str = "import os\nfrom flask import request\n\ndef check():\n    key = request.headers.get('X-API-Key')\n    return key == os.environ['API_KEY']\n";

#[test]
fn exit_codes_mean_clean_findings_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("clean.py"), "x = 1\n").expect("write");
    assert_eq!(
        tocsin_in(dir.path(), &["check", "--isolated", "clean.py"])
            .status
            .code(),
        Some(0)
    );
    fs::write(dir.path().join("bad.py"), VULNERABLE).expect("write");
    assert_eq!(
        tocsin_in(dir.path(), &["check", "--isolated", "bad.py"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        tocsin_in(
            dir.path(),
            &["check", "--isolated", "--exit-zero", "bad.py"]
        )
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        tocsin_in(dir.path(), &["check", "--isolated", "does-not-exist"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        tocsin_in(
            dir.path(),
            &["check", "--isolated", "--select", "NOPE1", "."]
        )
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        tocsin_in(dir.path(), &["check", "--bogus-flag"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn bad_input_is_reported_per_file_and_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::write(p.join("broken.py"), "def f(:\n    pass\n").expect("write");
    fs::write(p.join("latin1.py"), b"x = '\xe9'\n").expect("write");
    fs::write(p.join("empty.py"), "").expect("write");
    fs::write(p.join("binary.py"), b"\x00\x01\x02ELF").expect("write");
    // 5,000 levels of nesting: the parser and every walk must neither overflow nor hang.
    let deep = format!("x = {}1{}\n", "[".repeat(5000), "]".repeat(5000));
    fs::write(p.join("deep.py"), deep).expect("write");
    let deep_unary = format!("y = {}1\n", "-".repeat(5000));
    fs::write(p.join("deep_unary.py"), deep_unary).expect("write");
    // ~20 MB of ordinary code.
    let line = "value_0123456789 = compute(alpha, beta, gamma, delta)  # padding padding\n";
    fs::write(
        p.join("huge.py"),
        line.repeat(20 * 1024 * 1024 / line.len()),
    )
    .expect("write");
    fs::write(p.join("bad.py"), VULNERABLE).expect("write");
    let output = tocsin_in(p, &["check", "--isolated", "--format", "json", "."]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    let errors = report["errors"].as_array().expect("errors");
    let codes: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["code"].as_str().expect("code"),
                e["location"]["path"].as_str().expect("path"),
            )
        })
        .collect();
    assert!(codes.contains(&("E001", "./broken.py")), "{codes:?}");
    assert!(codes.contains(&("E003", "./latin1.py")), "{codes:?}");
    assert!(codes.contains(&("E003", "./binary.py")), "{codes:?}");
    assert!(
        !codes
            .iter()
            .any(|(_, path)| path.contains("empty") || path.contains("huge")),
        "{codes:?}"
    );
    assert_eq!(report["findings"].as_array().expect("findings").len(), 1);
}

#[test]
fn only_errors_means_exit_two() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("broken.py"), "def f(:\n").expect("write");
    let output = tocsin_in(dir.path(), &["check", "--isolated", "broken.py"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("E001"), "{}", stdout(&output));
}

#[test]
fn gitignore_and_exclude_are_respected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::create_dir_all(p.join("vendor")).expect("mkdir");
    fs::create_dir_all(p.join("build")).expect("mkdir");
    fs::write(p.join(".gitignore"), "build/\n").expect("write");
    fs::write(p.join("vendor/bad.py"), VULNERABLE).expect("write");
    fs::write(p.join("build/bad.py"), VULNERABLE).expect("write");
    fs::write(p.join("app.py"), VULNERABLE).expect("write");
    let report = json(&tocsin_in(
        p,
        &[
            "check",
            "--isolated",
            "--format",
            "json",
            "--exclude",
            "vendor",
            ".",
        ],
    ));
    let paths: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["location"]["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, vec!["./app.py"]);
}

#[test]
fn inline_suppression_and_unused_suppression() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    let source = VULNERABLE.replace(
        "os.environ['API_KEY']\n",
        "os.environ['API_KEY']  # tocsin: ignore[KEY001]\n",
    ) + "z = 1  # tocsin: ignore[KEY002]\n";
    fs::write(p.join("app.py"), source).expect("write");
    let report = json(&tocsin_in(
        p,
        &["check", "--isolated", "--format", "json", "app.py"],
    ));
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code"))
        .collect();
    assert_eq!(codes, vec!["SUP001"]);
}

#[test]
fn configuration_selects_ignores_and_per_file_ignores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::create_dir_all(p.join("legacy")).expect("mkdir");
    fs::write(p.join("app.py"), VULNERABLE).expect("write");
    fs::write(p.join("legacy/old.py"), VULNERABLE).expect("write");
    fs::write(p.join("pyproject.toml"), "[project]\nname = 'x'\n\n[tool.tocsin]\nper-file-ignores = { \"legacy/*\" = [\"KEY001\"] }\n").expect("write");
    let report = json(&tocsin_in(p, &["check", "--format", "json", "."]));
    assert_eq!(report["findings"].as_array().expect("findings").len(), 1);
    fs::write(p.join("tocsin.toml"), "ignore = [\"KEY\"]\n").expect("write");
    let output = tocsin_in(p, &["check", "--format", "json", "."]);
    assert_eq!(output.status.code(), Some(0));
    fs::write(p.join("tocsin.toml"), "unknown-option = 1\n").expect("write");
    assert_eq!(tocsin_in(p, &["check", "."]).status.code(), Some(2));
}

#[test]
fn output_file_is_written_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::write(p.join("app.py"), VULNERABLE).expect("write");
    let output = tocsin_in(
        p,
        &[
            "check",
            "--isolated",
            "--format",
            "sarif",
            "--output",
            "out.sarif",
            "app.py",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let sarif: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(p.join("out.sarif")).expect("report"))
            .expect("sarif");
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "KEY001");
    let leftovers: Vec<_> = fs::read_dir(p)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn rules_and_rule_docs() {
    let list = stdout(&tocsin(&["rules"]));
    for code in ["KEY001", "KEY002", "KEY003", "JWT001", "JWT002", "SUP001"] {
        assert!(list.contains(code), "{code} missing from `tocsin rules`");
        let doc = tocsin(&["rule", code]);
        assert_eq!(doc.status.code(), Some(0));
        let text = stdout(&doc);
        for section in [
            "## What it does",
            "## Why is this bad?",
            "## Example",
            "## Use instead",
        ] {
            assert!(text.contains(section), "{code} docs lack {section}");
        }
    }
    assert_eq!(tocsin(&["rule", "XYZ999"]).status.code(), Some(2));
}

#[test]
fn github_and_concise_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("app.py"), VULNERABLE).expect("write");
    let github = stdout(&tocsin_in(
        dir.path(),
        &["check", "--isolated", "--format", "github", "app.py"],
    ));
    assert!(
        github.starts_with("::warning file=app.py,line=6"),
        "{github}"
    );
    let concise = stdout(&tocsin_in(
        dir.path(),
        &["check", "--isolated", "--format", "concise", "app.py"],
    ));
    assert!(concise.starts_with("app.py:6:12: KEY001"), "{concise}");
}
