//! Every rule fixture: the findings of a `*_bad` fixture are exactly the lines marked
//! `# expect: CODE`, and every `*_good` twin is silent. Plus snapshots of the rendered
//! text and SARIF for each rule's fixtures.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::{repo_root, stdout, tocsin};

const CONFIG: &str = "tests/fixtures/rules/tocsin.toml";

fn python_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(path).expect("fixture dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            out.extend(python_files(&p));
        } else if p.extension().is_some_and(|e| e == "py") {
            out.push(p);
        }
    }
    out
}

fn expected(root: &Path, fixture: &Path) -> BTreeSet<(String, u32, String)> {
    let mut out = BTreeSet::new();
    for file in python_files(fixture) {
        let text = fs::read_to_string(&file).expect("fixture text");
        let rel = file
            .strip_prefix(root)
            .expect("relative")
            .to_string_lossy()
            .into_owned();
        for (i, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("# expect: ") {
                let code: String = rest[at + 10..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                out.insert((rel.clone(), (i + 1) as u32, code));
                rest = &rest[at + 10..];
            }
        }
    }
    out
}

fn fixtures() -> Vec<(String, PathBuf)> {
    let root = repo_root();
    let dir = root.join("tests/fixtures/rules");
    let mut out = Vec::new();
    for code in fs::read_dir(&dir).expect("rules dir") {
        let code = code.expect("entry").path();
        if !code.is_dir() {
            continue;
        }
        let name = code
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        for item in fs::read_dir(&code).expect("rule dir") {
            out.push((name.clone(), item.expect("entry").path()));
        }
    }
    out.sort();
    out
}

#[test]
fn findings_match_expect_comments_and_fixed_twins_are_silent() {
    let root = repo_root();
    let mut failures = Vec::new();
    let mut styles: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for (code, fixture) in fixtures() {
        let rel = fixture
            .strip_prefix(&root)
            .expect("relative")
            .to_string_lossy()
            .into_owned();
        // A fixture may carry its own configuration (e.g. public routes).
        let own_config = fixture.join("tocsin.toml");
        let config = if own_config.is_file() {
            own_config
                .strip_prefix(&root)
                .expect("relative")
                .to_string_lossy()
                .into_owned()
        } else {
            CONFIG.to_string()
        };
        let output = tocsin(&["check", "--config", &config, "--format", "json", &rel]);
        let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json report");
        let got: BTreeSet<(String, u32, String)> = json["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                (
                    f["location"]["path"].as_str().expect("path").to_string(),
                    f["location"]["start"]["line"].as_u64().expect("line") as u32,
                    f["code"].as_str().expect("code").to_string(),
                )
            })
            .collect();
        let want = expected(&root, &fixture);
        let name = fixture
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let entry = styles.entry(code.clone()).or_default();
        if name.contains("_bad") {
            assert!(
                !want.is_empty(),
                "{rel}: a bad fixture without expect comments tests nothing"
            );
            entry.0 += 1;
        } else {
            assert!(
                want.is_empty(),
                "{rel}: a good fixture must not expect findings"
            );
            entry.1 += 1;
        }
        let expected_exit = if want.is_empty() { Some(0) } else { Some(1) };
        if got != want || output.status.code() != expected_exit {
            failures.push(format!(
                "{rel}\n  missed: {:?}\n  false: {:?}",
                want.difference(&got).collect::<Vec<_>>(),
                got.difference(&want).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "fixture mismatches:\n{}",
        failures.join("\n")
    );
    for (code, (bad, good)) in styles {
        assert!(
            bad >= 3 && good >= 3,
            "{code}: needs vulnerable fixtures and fixed twins in at least three styles"
        );
    }
}

#[test]
fn snapshots_of_text_and_sarif() {
    for code in [
        "KEY001", "KEY002", "KEY003", "JWT001", "JWT002", "TOC001", "TOC002", "TOC003", "TOC004",
        "TOC005", "TOC006", "BOLA001", "BOLA002",
    ] {
        let dir = format!("tests/fixtures/rules/{code}");
        let text = tocsin(&["check", "--config", CONFIG, "--format", "text", &dir]);
        insta::assert_snapshot!(format!("{code}_text"), stdout(&text));
        let sarif = tocsin(&["check", "--config", CONFIG, "--format", "sarif", &dir]);
        let mut value: serde_json::Value =
            serde_json::from_str(&stdout(&sarif)).expect("sarif json");
        // The version changes with every release; the rest must not drift.
        value["runs"][0]["tool"]["driver"]["semanticVersion"] =
            serde_json::Value::from("<version>");
        value["runs"][0]["tool"]["driver"]["version"] = serde_json::Value::from("<version>");
        insta::assert_json_snapshot!(format!("{code}_sarif"), value);
    }
}

/// Code written to look like the false positives found while triaging real Flask
/// applications and Django: every rule must stay silent on it.
#[test]
fn precision_corpus_is_silent() {
    let output = tocsin(&[
        "check",
        "--isolated",
        "--format",
        "concise",
        "tests/fixtures/precision",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}
