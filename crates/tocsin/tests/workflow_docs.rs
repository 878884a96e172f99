//! Generated documentation: shell completions and man pages from the CLI definition,
//! and docs/rules.md from the rules' own docs (it must equal the command's output).

#[allow(dead_code)]
mod common;

use std::fs;

use common::{repo_root, stdout, tocsin};

#[test]
fn completions_for_every_shell_mention_the_commands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = tocsin(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let text = stdout(&output);
        assert!(text.len() > 200, "{shell}: {text}");
        for word in ["check", "routes", "baseline", "fail-on"] {
            assert!(text.contains(word), "{shell} completions lack `{word}`");
        }
    }
    assert_eq!(tocsin(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn bash_completion_script_loads_and_completes() {
    let Ok(probe) = std::process::Command::new("bash").arg("--version").output() else {
        eprintln!("notice: bash not found; skipping the completion round trip");
        return;
    };
    assert!(probe.status.success());
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("tocsin.bash");
    fs::write(&script, stdout(&tocsin(&["completions", "bash"]))).expect("write");
    // Ask the generated function what `tocsin che<TAB>` completes to.
    let program = format!(
        "source '{}'; COMP_WORDS=(tocsin che); COMP_CWORD=1; COMP_LINE='tocsin che'; COMP_POINT=10; _tocsin tocsin che tocsin; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let output = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash");
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|l| l == "check"),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn man_pages_are_roff_and_list_the_commands_and_flags() {
    let main = tocsin(&["man"]);
    assert_eq!(main.status.code(), Some(0));
    let text = stdout(&main);
    assert!(text.contains(".TH tocsin 1"), "{text}");
    assert!(text.contains("check"), "{text}");
    let check = tocsin(&["man", "check"]);
    assert_eq!(check.status.code(), Some(0));
    let text = stdout(&check);
    assert!(text.contains(".TH tocsin-check 1"), "{text}");
    for flag in ["baseline", "fail\\-on", "gitlab"] {
        assert!(text.contains(flag), "man check lacks {flag}");
    }
    assert_eq!(tocsin(&["man", "nonsense"]).status.code(), Some(2));
}

#[test]
fn docs_rules_md_is_the_generated_reference() {
    let output = tocsin(&["rules", "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(0));
    let generated = stdout(&output);
    let path = repo_root().join("docs/rules.md");
    let committed = fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        if std::env::var_os("TOCSIN_UPDATE_DOCS").is_some() {
            fs::write(&path, &generated).expect("write docs/rules.md");
        } else {
            panic!(
                "docs/rules.md is out of date: regenerate it with\n    cargo run -p tocsin -- rules --format markdown > docs/rules.md\n(or run this test with TOCSIN_UPDATE_DOCS=1)"
            );
        }
    }

    // Every rule's section is exactly `tocsin rule CODE`, headings one level down.
    let list: serde_json::Value =
        serde_json::from_str(&stdout(&tocsin(&["rules", "--format", "json"]))).expect("json");
    let codes: Vec<&str> = list
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["code"].as_str().expect("code"))
        .collect();
    assert!(codes.len() >= 6, "{codes:?}");
    for code in codes {
        let page = stdout(&tocsin(&["rule", code]));
        assert!(page.starts_with("# "), "{code}: {page}");
        let mut demoted = String::new();
        let mut fenced = false;
        for line in page.split_inclusive('\n') {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
            }
            if !fenced && line.starts_with('#') {
                demoted.push('#');
            }
            demoted.push_str(line);
        }
        assert!(
            generated.contains(&demoted),
            "{code}'s section differs from `tocsin rule {code}`"
        );
        assert!(
            generated.contains(&format!("| [{code}](#")),
            "{code} is not in the index"
        );
    }
}

/// The `tocsin …` commands that the CI docs tell users to run: from the example
/// GitHub workflow (`run: tocsin …`), the GitLab job (`- tocsin …`) and the shell
/// blocks of the quick start that run on `.`.
fn documented_commands() -> Vec<(String, Vec<String>)> {
    let root = repo_root();
    let mut out = Vec::new();
    for file in [".github/workflows/tocsin.yml", "docs/quickstart.md"] {
        let text = fs::read_to_string(root.join(file)).expect(file);
        for line in text.lines() {
            let line = line.trim();
            let command = line
                .strip_prefix("run: ")
                .or_else(|| line.strip_prefix("- "))
                .unwrap_or(line);
            let command = command.split(" #").next().unwrap_or_default().trim();
            if command.starts_with("tocsin check . ") {
                let args = command
                    .split_whitespace()
                    .skip(1)
                    .map(str::to_string)
                    .collect();
                out.push((format!("{file}: {command}"), args));
            }
        }
    }
    out
}

#[test]
fn the_ci_docs_commands_run_as_written() {
    let root = repo_root();
    let workflow = fs::read_to_string(root.join(".github/workflows/tocsin.yml")).expect("workflow");
    assert!(workflow.contains("uses: github/codeql-action/upload-sarif@"));
    assert!(workflow.contains("sarif_file: tocsin.sarif"));
    assert!(workflow.contains("security-events: write"));

    let commands = documented_commands();
    assert!(commands.len() >= 6, "{commands:?}");
    assert!(commands.iter().any(|(c, _)| c.contains("--format sarif")));
    assert!(commands.iter().any(|(c, _)| c.contains("--format gitlab")));
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("app.py"),
        "import os\nfrom flask import request\n\ndef check():\n    key = request.headers.get('X-API-Key')\n    return key == os.environ['API_KEY']\n",
    )
    .expect("write");
    for (label, args) in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = common::tocsin_in(dir.path(), &args);
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{label}: exit {:?}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let sarif: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("tocsin.sarif")).expect("sarif"))
            .expect("sarif json");
    assert_eq!(sarif["version"], "2.1.0");
    let gitlab: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dir.path().join("gl-code-quality-report.json")).expect("gitlab"),
    )
    .expect("gitlab json");
    assert_eq!(gitlab[0]["check_name"], "KEY001");
    assert!(dir.path().join("tocsin-baseline.json").is_file());
}
