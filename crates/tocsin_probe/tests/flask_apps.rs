//! The real thing: tests/apps/tocsin_lab.py under werkzeug's threaded server and under
//! gunicorn's gthread worker, vulnerable and fixed twins, on 127.0.0.1. Every vulnerable
//! twin is found and every fixed twin is silent.
//!
//! Python comes from $TOCSIN_PYTHON, $TOCSIN_TEST_PYTHON, the workspace .venv, or
//! /work/main/.venv; without one that can import what a run needs (flask; gunicorn; h2;
//! hypercorn) that run says SKIPPED and passes without running.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use tocsin_probe::cli::{run_probe_with_env, ProbeArgs};

/// One app server at a time: on a two-core machine parallel Python servers would steal
/// the CPU the races' timing windows rely on.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

fn python_with(modules: &str) -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let candidates = [
        std::env::var_os("TOCSIN_PYTHON").map(PathBuf::from),
        // What scripts/test.sh exports.
        std::env::var_os("TOCSIN_TEST_PYTHON").map(PathBuf::from),
        Some(workspace),
        Some(PathBuf::from("/work/main/.venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        p.exists()
            && Command::new(p)
                .args(["-c", &format!("import {modules}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A server process we started, in its own process group; the whole group (gunicorn's
/// workers, hypercorn's multiprocessing helpers) is killed when dropped.
struct App {
    child: Child,
    port: u16,
}

impl Drop for App {
    fn drop(&mut self) {
        // The group id is the child's pid (`process_group(0)` at spawn).
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, Debug)]
enum Server {
    Werkzeug,
    Gunicorn,
    /// gunicorn's gthread worker speaking HTTP/2 over cleartext (prior knowledge) as
    /// well as HTTP/1.1 on one port; needs python's `h2`.
    GunicornH2c,
    /// hypercorn (HTTP/1.1 and h2c on one port, WSGI apps on a thread pool).
    Hypercorn,
}

fn start(python: &Path, server: Server, twin: &str) -> App {
    let port = free_port();
    let mut cmd = Command::new(python);
    match server {
        Server::Werkzeug => {
            cmd.arg(apps_dir().join("tocsin_lab.py"))
                .arg(port.to_string());
        }
        Server::Gunicorn | Server::GunicornH2c => {
            // No control socket: it lives at one path per user and parallel runs collide.
            cmd.args(["-m", "gunicorn", "--no-control-socket", "--chdir"])
                .arg(apps_dir())
                .args([
                    "-w",
                    "1",
                    "-k",
                    "gthread",
                    "--threads",
                    "32",
                    "--graceful-timeout",
                    "1",
                    "-b",
                ])
                .arg(format!("127.0.0.1:{port}"));
            if let Server::GunicornH2c = server {
                cmd.args(["--http-protocols", "h2,h1", "--http2-cleartext", "both"]);
            }
            cmd.arg("tocsin_lab:app");
        }
        Server::Hypercorn => {
            cmd.current_dir(apps_dir())
                .args(["-m", "hypercorn", "-b"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("tocsin_lab:app");
        }
    }
    use std::os::unix::process::CommandExt;
    let child = cmd
        .process_group(0)
        .env("TOCSIN_TWIN", twin)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the app");
    let app = App { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{server:?} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    app
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ProbeArgs,
}

fn probe_with(app: &App, extra: &[&str]) -> Vec<(String, String)> {
    let mut argv = vec![
        "probe".to_string(),
        format!("http://127.0.0.1:{}", app.port),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    let cli = Cli::try_parse_from(argv.into_iter().chain([
        "--rate".into(),
        "500".into(),
        "--max-requests".into(),
        "600".into(),
        "--timeout".into(),
        "20".into(),
    ]))
    .unwrap();
    let outcome = run_probe_with_env(&cli.args, &|_| None).unwrap();
    assert!(outcome.errors.is_empty(), "{:#?}", outcome.errors);
    outcome
        .findings
        .into_iter()
        .map(|f| (f.code, f.message))
        .collect()
}

fn check_twins(server: Server, python: &Path) {
    check_twins_with(server, python, &[]);
}

fn check_twins_with(server: Server, python: &Path, extra: &[&str]) {
    let plan = apps_dir().join("plan.toml").display().to_string();
    let mut args = vec!["--plan", plan.as_str()];
    args.extend_from_slice(extra);
    let probe = |app: &App| probe_with(app, &args);
    let app = start(python, server, "vulnerable");
    let found = probe(&app);
    drop(app);
    let mut codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(
        codes,
        vec!["AUTH101", "AUTH102", "BOLA101", "RACE101", "RACE102"],
        "{server:?}: {found:#?}"
    );
    for (code, message) in &found {
        eprintln!("{server:?} vulnerable: {code} {message}");
    }
    let app = start(python, server, "fixed");
    let found = probe(&app);
    assert!(found.is_empty(), "{server:?} fixed twin: {found:#?}");
}

#[test]
fn werkzeug_threaded_twins() {
    let _serial = serial();
    let Some(python) = python_with("flask") else {
        eprintln!("SKIPPED: no python with flask (set TOCSIN_PYTHON)");
        return;
    };
    check_twins(Server::Werkzeug, &python);
}

#[test]
fn gunicorn_gthread_twins() {
    let _serial = serial();
    let Some(python) = python_with("flask, gunicorn") else {
        eprintln!("SKIPPED: no python with flask and gunicorn (set TOCSIN_PYTHON)");
        return;
    };
    check_twins(Server::Gunicorn, &python);
}

/// No plan, no --object: routes and objects come from the OpenAPI document and the
/// collection route, keys from flags.
#[test]
fn werkzeug_openapi_discovery() {
    let _serial = serial();
    let Some(python) = python_with("flask") else {
        eprintln!("SKIPPED: no python with flask (set TOCSIN_PYTHON)");
        return;
    };
    let spec = apps_dir().join("openapi.yaml").display().to_string();
    let args = [
        "--openapi",
        &spec,
        "--identity",
        "alice:X-API-Key=key-alice",
        "--identity",
        "bob:X-API-Key=key-bob",
        "--allow-destructive",
        "--select",
        "AUTH101,BOLA101",
    ];
    let app = start(&python, Server::Werkzeug, "vulnerable");
    let found = probe_with(&app, &args);
    drop(app);
    let messages: Vec<&str> = found.iter().map(|(_, m)| m.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("GET /me answers 200 with no key")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("bob changes alice's object: PUT /notes/1")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("alice changes bob's object: DELETE /notes/2")),
        "{messages:#?}"
    );
    let app = start(&python, Server::Werkzeug, "fixed");
    let found = probe_with(&app, &args);
    assert!(found.is_empty(), "fixed twin: {found:#?}");
}

/// Single-packet over HTTP/2 (h2c) to gunicorn: every request is answered, but
/// gunicorn's gthread worker serves the streams of one connection one after another in
/// one thread, so no race can happen there and the race experiments stay silent even on
/// the vulnerable twin. This pins that behaviour down (use last-byte against gunicorn).
#[test]
fn gunicorn_h2c_single_packet_is_served_serially() {
    let _serial = serial();
    let Some(python) = python_with("flask, gunicorn, h2") else {
        eprintln!("SKIPPED: no python with flask, gunicorn and h2 (set TOCSIN_PYTHON)");
        return;
    };
    let plan = apps_dir().join("plan.toml").display().to_string();
    let args = ["--plan", plan.as_str(), "--sync", "single-packet"];
    let app = start(&python, Server::GunicornH2c, "vulnerable");
    let found = probe_with(&app, &args);
    drop(app);
    let mut codes: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes, vec!["AUTH101", "BOLA101"], "{found:#?}");
    let app = start(&python, Server::GunicornH2c, "fixed");
    assert!(probe_with(&app, &args).is_empty());
}

/// Single-packet over h2c to hypercorn, which runs a WSGI app's requests on a thread
/// pool: streams released in one packet race, and every vulnerable twin is found.
#[test]
fn hypercorn_h2c_single_packet_twins() {
    let _serial = serial();
    let Some(python) = python_with("flask, hypercorn") else {
        eprintln!("SKIPPED: no python with flask and hypercorn (set TOCSIN_PYTHON)");
        return;
    };
    check_twins_with(Server::Hypercorn, &python, &["--sync", "single-packet"]);
}
