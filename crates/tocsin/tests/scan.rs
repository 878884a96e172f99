//! `tocsin scan` end to end on real Flask apps served by werkzeug on 127.0.0.1: the
//! seed scenario's TOC001 is confirmed by a revocation race, its fixed twin comes
//! back clean, a serialized app's TOC003 is refuted, and the app process is always
//! stopped: when its setup fails, when it crashes, and when the scan times out.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo_root, stdout};

fn python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TOCSIN_TEST_PYTHON").map(PathBuf::from),
        Some(repo_root().join(".venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import flask"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs `tocsin scan` with the demo keys in the environment (the app reads the same
/// variables).
fn scan(args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    command
        .arg("scan")
        .args(args)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env("TOCSIN_DEMO_USER_KEY", "scan-test-user-key-5f3a9c2e")
        .env("TOCSIN_DEMO_ADMIN_KEY", "scan-test-admin-key-8b1d7e40");
    for (k, v) in extra_env {
        command.env(k, v);
    }
    command.output().expect("running tocsin scan")
}

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            stdout(output),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Is the process named in `pid_file` still running? A killed process takes a
/// moment to be torn down, so this waits (boundedly) for it to go or turn zombie.
fn alive(pid_file: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return false;
    };
    let pid = text.trim();
    if pid.is_empty() || !pid.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let stat = Path::new("/proc").join(pid).join("stat");
    for _ in 0..100 {
        match std::fs::read_to_string(&stat) {
            Ok(s) if !s.contains(") Z ") && !s.contains(") X ") => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            _ => return false,
        }
    }
    true
}

macro_rules! require_python {
    () => {
        match python() {
            Some(p) => p,
            None => {
                eprintln!("SKIPPED: no python with flask (run scripts/setup-python.sh)");
                return;
            }
        }
    };
}

/// `tocsin scan` of one seed example (`seed_toctou` or `seed_fixed`) with the seed's
/// plan, started from its own app.py, plus `extra` arguments.
fn scan_seed(py: &Path, example: &str, extra: &[&str]) -> std::process::Output {
    let dir = format!("examples/{example}");
    let run = format!("{} {dir}/app.py", py.display());
    let mut args = vec![
        dir.as_str(),
        "--run",
        &run,
        "--plan",
        "examples/seed_toctou/plan.toml",
        "--ready-path",
        "/users/1/profile",
    ];
    args.extend_from_slice(extra);
    scan(&args, &[])
}

#[test]
fn seed_toctou_is_confirmed_and_its_fixed_twin_is_clean() {
    let py = require_python!();
    let output = scan_seed(&py, "seed_toctou", &["--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    let findings = report["findings"].as_array().expect("findings");
    let toc001 = findings
        .iter()
        .find(|f| f["code"] == "TOC001")
        .expect("TOC001");
    assert_eq!(toc001["status"]["status"], "confirmed", "{toc001:#}");
    assert!(!toc001["evidence"].as_array().expect("evidence").is_empty());
    // The keys never reach the report.
    let text = stdout(&output);
    assert!(!text.contains("scan-test-user-key") && !text.contains("scan-test-admin-key"));

    let fixed = scan_seed(&py, "seed_fixed", &["--format", "json"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", stdout(&fixed));
    assert!(json(&fixed)["findings"]
        .as_array()
        .expect("findings")
        .is_empty());
}

#[test]
fn a_candidate_the_app_does_not_exhibit_is_refuted_and_kept() {
    let py = require_python!();
    let run = format!("{} tests/apps/scan/coupons.py", py.display());
    let output = scan(
        &[
            "tests/apps/scan/coupons.py",
            "--run",
            &run,
            "--plan",
            "tests/apps/scan/coupons_plan.toml",
            "--format",
            "json",
        ],
        &[],
    );
    let report = json(&output);
    let findings = report["findings"].as_array().expect("findings");
    let toc003 = findings
        .iter()
        .find(|f| f["code"] == "TOC003")
        .expect("TOC003 kept");
    assert_eq!(toc003["status"]["status"], "refuted", "{toc003:#}");
    assert_eq!(
        output.status.code(),
        Some(0),
        "only refuted findings: exit 0"
    );
}

#[test]
fn a_failing_setup_is_an_error_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let run = format!(
        "echo $$ > {}; echo 'cannot start: no database' >&2; exit 3",
        pid_file.display()
    );
    let output = scan(
        &[
            "tests/apps/scan/coupons.py",
            "--run",
            &run,
            "--ready-timeout",
            "10",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("exited before it was ready") && stderr.contains("no database"),
        "{stderr}"
    );
    assert!(!alive(&pid_file));
}

#[test]
fn an_app_that_never_becomes_ready_is_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let run = format!("echo $$ > {}; exec sleep 600", pid_file.display());
    let output = scan(
        &[
            "tests/apps/scan/coupons.py",
            "--run",
            &run,
            "--ready-timeout",
            "2",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("did not answer"));
    assert!(!alive(&pid_file), "the app must be stopped");
}

#[test]
fn an_app_that_crashes_mid_scan_is_reported_and_the_scan_finishes() {
    let py = require_python!();
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let run = format!("{} tests/apps/scan/crashing.py", py.display());
    let pid = pid_file.to_string_lossy().into_owned();
    let output = scan(
        &[
            "tests/apps/scan/coupons.py",
            "--run",
            &run,
            "--format",
            "json",
        ],
        &[("PIDFILE", &pid)],
    );
    // The static finding is still reported (not tested: no plan), and the run ends.
    let report = json(&output);
    assert!(report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|f| f["code"] == "TOC003"));
    assert!(!alive(&pid_file));
}

#[test]
fn a_scan_timeout_stops_the_app() {
    let py = require_python!();
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let run = format!("{} tests/apps/scan/hanging.py", py.display());
    let pid = pid_file.to_string_lossy().into_owned();
    let output = scan(
        &[
            "tests/apps/scan/coupons.py",
            "--run",
            &run,
            "--plan",
            "tests/apps/scan/hanging_plan.toml",
            "--scan-timeout",
            "3",
            "--read-timeout",
            "5",
            "--format",
            "json",
        ],
        &[("PIDFILE", &pid)],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("did not finish within"));
    assert!(!alive(&pid_file), "the app must be stopped");
    // Nothing lost: the report is written with the static findings, which the
    // unfinished live run neither confirmed nor refuted, and the timeout as an error.
    let report = json(&output);
    let findings = report["findings"].as_array().expect("findings");
    let toc003 = findings
        .iter()
        .find(|f| f["code"] == "TOC003")
        .expect("the static TOC003 is kept");
    assert_eq!(toc003["status"]["status"], "not-tested", "{toc003:#}");
    assert!(report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .any(|e| e["code"] == "E006"));
}

/// Ctrl-C during `tocsin probe`: the run stops after its current step, writes the
/// report with the findings made before (streamed to stderr as they were made), says
/// it was interrupted, and exits 130.
#[test]
fn an_interrupted_probe_keeps_its_findings() {
    use std::io::{BufRead, BufReader};
    let py = require_python!();
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report.json");
    let app = LabApp::start(&py, "vulnerable");
    let plan = repo_root().join("crates/tocsin_probe/tests/apps/plan.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["probe", &format!("http://127.0.0.1:{}", app.port)])
        .arg("--plan")
        .arg(&plan)
        .args(["--format", "json", "--output"])
        .arg(&report)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting tocsin probe");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    // AUTH101 runs first and finds GET /me; interrupt as soon as that is streamed.
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        let first_finding = line.starts_with("found ");
        seen.push(line);
        if first_finding {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            )
            .expect("SIGINT");
            break;
        }
    }
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().expect("wait");
    let stderr = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("found AUTH101"), "{stderr}");
    assert!(
        stderr.contains("stopping after the current step"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&report).expect("the report is written");
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"AUTH101"), "{codes:?}");
    // It stopped early: the revocation race, which runs last, never ran.
    assert!(!codes.contains(&"AUTH102"), "{codes:?}");
    let interrupted = report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["code"] == "E006")
        .expect("the report says it was interrupted");
    assert!(
        interrupted["message"]
            .as_str()
            .is_some_and(|m| m.contains("AUTH102")),
        "{interrupted:#}"
    );
}

/// A distinctive key planted in the environment never reaches any output format,
/// the report files, or standard error.
#[test]
fn planted_keys_never_reach_any_output() {
    let py = require_python!();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut everything = String::new();
    for format in ["text", "json", "sarif", "html"] {
        let report = dir.path().join(format!("report.{format}"));
        let report_arg = report.to_string_lossy().into_owned();
        let output = scan_seed(
            &py,
            "seed_toctou",
            &["--format", format, "--output", &report_arg],
        );
        everything.push_str(&String::from_utf8_lossy(&output.stdout));
        everything.push_str(&String::from_utf8_lossy(&output.stderr));
        everything.push_str(&std::fs::read_to_string(&report).expect("report written"));
    }
    assert!(everything.contains("TOC001"), "the runs produced reports");
    for secret in [
        "scan-test-user-key-5f3a9c2e",
        "scan-test-admin-key-8b1d7e40",
        "5f3a9c2e",
        "8b1d7e40",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
}

/// The probe suite's lab app (vulnerable or fixed twin) under werkzeug, stopped on drop.
struct LabApp {
    child: std::process::Child,
    port: u16,
}

impl LabApp {
    fn start(python: &Path, twin: &str) -> LabApp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(python)
            .arg(lab_app())
            .arg(port.to_string())
            .env("TOCSIN_TWIN", twin)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting the lab app");
        let app = LabApp { child, port };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the lab app did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        app
    }
}

impl Drop for LabApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lab_app() -> PathBuf {
    repo_root().join("crates/tocsin_probe/tests/apps/tocsin_lab.py")
}

/// BOLA101 messages of a JSON report.
fn bola_messages(output: &std::process::Output) -> Vec<String> {
    json(output)["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "BOLA101")
        .map(|f| f["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `tocsin probe --source`: no plan, no `--object`, no OpenAPI document: the routes
/// come from the app model of the source, the objects from its collection route
/// (`/notes`), and the unguarded PUT/DELETE of the notes are found; the fixed twin is
/// silent, and without `--source` nothing names the objects, so nothing is tried.
#[test]
fn probe_discovers_objects_from_the_source_app_model() {
    let py = require_python!();
    let lab = lab_app().display().to_string();
    let probe = |app: &LabApp, with_source: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tocsin"));
        command.args([
            "probe",
            &format!("http://127.0.0.1:{}", app.port),
            "--identity",
            "alice:X-API-Key=key-alice",
            "--identity",
            "bob:X-API-Key=key-bob",
            "--allow-destructive",
            "--select",
            "BOLA101",
            "--format",
            "json",
            "--max-requests",
            "200",
        ]);
        if with_source {
            command.args(["--source", &lab]);
        }
        command.output().expect("running tocsin probe")
    };
    let app = LabApp::start(&py, "vulnerable");
    let without = probe(&app, false);
    assert!(bola_messages(&without).is_empty(), "{}", stdout(&without));
    let found = bola_messages(&probe(&app, true));
    drop(app);
    for expected in [
        "bob changes alice's object: PUT /notes/1",
        "alice changes bob's object: DELETE /notes/2",
    ] {
        assert!(
            found.iter().any(|m| m.contains(expected)),
            "{expected}: {found:#?}"
        );
    }
    let app = LabApp::start(&py, "fixed");
    let fixed = probe(&app, true);
    assert!(fixed.status.success(), "{}", stdout(&fixed));
    assert!(bola_messages(&fixed).is_empty(), "{}", stdout(&fixed));
}

/// `tocsin scan` feeds every route of the app model to the experiments, so BOLA101
/// finds the notes without `--object` or a plan.
#[test]
fn scan_discovers_objects_from_the_app_model() {
    let py = require_python!();
    let lab = lab_app().display().to_string();
    let run = format!("{} {lab} {{port}}", py.display());
    let args = |run: &str| {
        vec![
            "--run".to_string(),
            run.to_string(),
            "--ready-path".into(),
            "/health".into(),
            lab.clone(),
            "--identity".into(),
            "alice:X-API-Key=key-alice".into(),
            "--identity".into(),
            "bob:X-API-Key=key-bob".into(),
            "--allow-destructive".into(),
            "--format".into(),
            "json".into(),
        ]
    };
    let argv = args(&run);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let found = bola_messages(&scan(&argv, &[]));
    assert!(
        found
            .iter()
            .any(|m| m.contains("bob changes alice's object: PUT /notes/1")),
        "{found:#?}"
    );
    let fixed_run = format!("env TOCSIN_TWIN=fixed {run}");
    let argv = args(&fixed_run);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let fixed = scan(&argv, &[]);
    assert!(bola_messages(&fixed).is_empty(), "{}", stdout(&fixed));
}

/// One view for GET, PUT and DELETE whose GET branch alone checks the owner: the static
/// BOLA002 names DELETE,PUT and is confirmed by BOLA101 with objects discovered from
/// the collection route; every live exchange that shows the flaw lands in that one
/// finding. The fixed twin (owner checked before the branches) is silent both ways, and
/// a twin that enforces the owner out of the analysis' sight is refuted.
#[test]
fn a_method_branch_bola_is_found_statically_and_confirmed_live() {
    let py = require_python!();
    let keys = [
        ("NOTES_ALICE_KEY", "notes-alice-4b7e1d"),
        ("NOTES_BOB_KEY", "notes-bob-9c2a6f"),
    ];
    let scan_app = |file: &str| {
        let run = format!("{} tests/apps/scan/{file}", py.display());
        let path = format!("tests/apps/scan/{file}");
        scan(
            &[
                &path,
                "--run",
                &run,
                "--identity",
                "alice:X-API-Key=notes-alice-4b7e1d",
                "--identity",
                "bob:X-API-Key=notes-bob-9c2a6f",
                "--allow-destructive",
                "--format",
                "json",
            ],
            &keys,
        )
    };
    let output = scan_app("notes_methods.py");
    let report = json(&output);
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding["code"], "BOLA002");
    assert_eq!(finding["status"]["status"], "confirmed", "{finding:#}");
    assert!(finding["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("DELETE,PUT /notes/<int:note_id>")));
    let related: Vec<&str> = finding["related"]
        .as_array()
        .expect("related")
        .iter()
        .filter_map(|r| r["message"].as_str())
        .collect();
    for shown in [
        "bob changes alice's object: PUT /notes/1",
        "alice changes bob's object: DELETE /notes/2",
    ] {
        assert!(
            related.iter().any(|m| m.contains(shown)),
            "{shown}: {related:#?}"
        );
    }
    let fixed = scan_app("notes_methods_fixed.py");
    assert!(fixed.status.success(), "{}", stdout(&fixed));
    assert!(json(&fixed)["findings"]
        .as_array()
        .expect("findings")
        .is_empty());
    // The owner enforced where reading cannot see it: the static finding stays, and
    // BOLA101, run on the objects it discovered, refutes it.
    let refuted = scan_app("notes_methods_refuted.py");
    assert!(refuted.status.success(), "{}", stdout(&refuted));
    let report = json(&refuted);
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["code"], "BOLA002");
    assert_eq!(
        findings[0]["status"]["status"], "refuted",
        "{:#}",
        findings[0]
    );
}
