//! The HTML report of a probe run with races, opened in a real headless Chromium:
//! the page loads with no console errors and no network fetches, every race finding
//! has its timing chart drawn, and a screenshot is kept as a test artifact
//! (target/test-artifacts/probe-report.png).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::repo_root;

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn python() -> Option<PathBuf> {
    [
        std::env::var_os("TOCSIN_TEST_PYTHON").map(PathBuf::from),
        Some(repo_root().join(".venv/bin/python")),
    ]
    .into_iter()
    .flatten()
    .find(|p| {
        Command::new(p)
            .args(["-c", "import flask"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn headless(chromium: &PathBuf, profile: &std::path::Path) -> Command {
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

#[test]
fn probe_html_report_renders_race_charts_in_chromium() {
    let (Some(chromium), Some(py)) = (chromium(), python()) else {
        eprintln!("SKIPPED: needs chromium (apt-get install chromium) and the test venv");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report.html");
    let run = format!("{} examples/seed_toctou/app.py", py.display());
    // `scan` starts the app, runs the revocation race and renders HTML.
    let output = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args([
            "scan",
            "examples/seed_toctou",
            "--run",
            &run,
            "--plan",
            "examples/seed_toctou/plan.toml",
        ])
        .args([
            "--ready-path",
            "/users/1/profile",
            "--format",
            "html",
            "--output",
        ])
        .arg(&report)
        .current_dir(repo_root())
        .env("TOCSIN_DEMO_USER_KEY", "html-test-user-key-31c9")
        .env("TOCSIN_DEMO_ADMIN_KEY", "html-test-admin-key-77aa")
        .output()
        .expect("running tocsin scan");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&report).expect("report");
    let races = html.matches("class=\"race-chart\"").count();
    assert!(races >= 1, "the confirmed race carries a timing chart");

    let profile = dir.path().join("profile");
    let dom = headless(&chromium, &profile)
        .arg("--dump-dom")
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("running chromium");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let rendered = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        rendered.matches("class=\"race-chart\"").count(),
        races,
        "every chart is in the rendered DOM"
    );
    assert!(rendered.contains("<rect"), "the chart's bars are drawn");
    let log = String::from_utf8_lossy(&dom.stderr);
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:#?}"
    );

    let artifacts = repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let screenshot = artifacts.join("probe-report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = headless(&chromium, &profile)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1280,2000")
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("running chromium");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let png = std::fs::read(&screenshot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
}
