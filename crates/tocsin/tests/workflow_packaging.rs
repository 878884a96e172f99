//! Installing and running tocsin the way Python developers do: a wheel built by
//! maturin from the root pyproject.toml, pip-installed into a fresh venv; and the
//! pre-commit hook of .pre-commit-hooks.yaml, installed by pre-commit itself (which
//! pip-installs this repository) and run on a sample git repository.
//!
//! Slow: these compile tocsin in release mode. Both builds share one cargo target
//! directory, `target/workflow/cargo`: the wheel is built once per test process (a
//! `OnceLock`; under nextest, where each test is its own process, the second build
//! finds everything fresh), and the hook's pip build reuses its compiled
//! dependencies; later runs are incremental. Everything else (the hook repository,
//! the sample repository, pre-commit's cache) is private to the test, so concurrent
//! runs do not interfere.
//! The Python comes from `TOCSIN_TEST_PYTHON` (set by scripts/test.sh) or
//! `.venv/bin/python`, with maturin and pre-commit from scripts/requirements-test.txt.

#[allow(dead_code)]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::repo_root;

const VULNERABLE: &str = "import os\nfrom flask import Flask, request\n\napp = Flask(__name__)\n\n@app.get('/admin')\ndef admin():\n    if request.headers.get('X-API-Key') != os.environ['ADMIN_KEY']:\n        return 'no', 401\n    return 'ok'\n";
const FIXED: &str = "import hmac\nimport os\nfrom flask import Flask, request\n\napp = Flask(__name__)\n\n@app.get('/admin')\ndef admin():\n    key = request.headers.get('X-API-Key', '')\n    if not hmac.compare_digest(key.encode(), os.environ['ADMIN_KEY'].encode()):\n        return 'no', 401\n    return 'ok'\n";

fn python() -> PathBuf {
    let python = std::env::var_os("TOCSIN_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "no Python at {}: run scripts/setup-python.sh (or scripts/test.sh), or set TOCSIN_TEST_PYTHON",
        python.display()
    );
    python
}

fn workdir() -> PathBuf {
    let dir = repo_root().join("target/workflow");
    fs::create_dir_all(&dir).expect("target/workflow");
    dir
}

fn show(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
}

/// Cargo settings for both release builds: one shared target directory, and a
/// release profile that compiles much faster on a small machine (`opt-level = 1`, no
/// LTO, more codegen units, incremental). What is tested is the packaging, not the optimiser; a wheel
/// for publishing is built with the profile in Cargo.toml.
fn cargo_env(command: &mut Command) -> &mut Command {
    command
        .env("CARGO_TARGET_DIR", workdir().join("cargo"))
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "true")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("RUSTFLAGS")
}

/// The pinned version in scripts/requirements-test.txt, e.g. `maturin==1.16.0`.
fn requirement(name: &str) -> String {
    let text = fs::read_to_string(repo_root().join("scripts/requirements-test.txt"))
        .expect("scripts/requirements-test.txt");
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{name}==")))
        .unwrap_or(name)
        .to_string()
}

/// Makes `python -m module` work, installing the pinned package if needed.
fn ensure_module(python: &Path, module: &str, package: &str) -> bool {
    let works = |python: &Path| {
        Command::new(python)
            .args(["-m", module, "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(python) {
        return true;
    }
    let _ = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(requirement(package))
        .status();
    works(python)
}

/// Removes `wheels-PID` directories left by test processes that are gone (where
/// /proc tells).
fn remove_stale_wheel_dirs() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(workdir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("wheels-") {
            if !Path::new("/proc").join(pid).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Builds the wheel once per test process.
fn wheel() -> &'static Path {
    static WHEEL: OnceLock<PathBuf> = OnceLock::new();
    WHEEL.get_or_init(|| {
        let python = python();
        assert!(
            ensure_module(&python, "maturin", "maturin"),
            "maturin is not installed in {} and could not be installed",
            python.display()
        );
        remove_stale_wheel_dirs();
        let out = workdir().join(format!("wheels-{}", std::process::id()));
        let _ = fs::remove_dir_all(&out);
        let started = std::time::Instant::now();
        let output = run(cargo_env(
            Command::new(&python)
                .args(["-m", "maturin", "build", "--release", "--out"])
                .arg(&out)
                .current_dir(repo_root()),
        ));
        assert!(output.status.success(), "maturin build: {}", show(&output));
        eprintln!("wheel built in {:?}", started.elapsed());
        let wheels: Vec<PathBuf> = fs::read_dir(&out)
            .expect("wheel dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "whl"))
            .collect();
        assert_eq!(wheels.len(), 1, "{wheels:?}");
        wheels[0].clone()
    })
}

#[test]
fn pip_installs_the_wheel_and_tocsin_is_on_path() {
    let wheel = wheel();
    let name = wheel.file_name().expect("name").to_string_lossy();
    assert!(
        name.starts_with(&format!("tocsin-{}-py3-none-", env!("CARGO_PKG_VERSION"))),
        "{name}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let venv = dir.path().join("venv");
    let output = run(Command::new(python()).args(["-m", "venv"]).arg(&venv));
    assert!(output.status.success(), "venv: {}", show(&output));
    let output = run(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--no-index",
            "--disable-pip-version-check",
        ])
        .arg(wheel));
    assert!(output.status.success(), "pip install: {}", show(&output));
    assert!(
        venv.join("bin/tocsin").is_file(),
        "no bin/tocsin in the venv"
    );

    // As a user with the venv activated: `tocsin` found through PATH.
    let path = std::env::join_paths(std::iter::once(venv.join("bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let user = |args: &[&str], cwd: &Path| {
        run(Command::new("tocsin")
            .args(args)
            .current_dir(cwd)
            .env("PATH", &path)
            .env("VIRTUAL_ENV", &venv)
            .env("NO_COLOR", "1"))
    };
    let version = user(&["--version"], dir.path());
    assert!(version.status.success(), "{}", show(&version));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("tocsin {}", env!("CARGO_PKG_VERSION"))
    );

    let app = dir.path().join("app");
    fs::create_dir(&app).expect("mkdir");
    fs::write(app.join("api.py"), VULNERABLE).expect("write");
    let check = user(&["check", "--isolated", "--format", "concise", "."], &app);
    assert_eq!(check.status.code(), Some(1), "{}", show(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("api.py:8:8: KEY001"),
        "{}",
        show(&check)
    );
    fs::write(app.join("api.py"), FIXED).expect("write");
    let clean = user(&["check", "--isolated", "."], &app);
    assert_eq!(clean.status.code(), Some(0), "{}", show(&clean));
    if let Some(wheels) = wheel.parent() {
        let _ = fs::remove_dir_all(wheels);
    }
}

/// A git command in `dir` with a fixed identity and dates (so the same content gives
/// the same commit), independent of the user's git configuration.
fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "tocsin tests")
        .env("GIT_AUTHOR_EMAIL", "tests@tocsin.invalid")
        .env("GIT_COMMITTER_NAME", "tocsin tests")
        .env("GIT_COMMITTER_EMAIL", "tests@tocsin.invalid")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    command
}

fn git(dir: &Path, args: &[&str]) -> Output {
    run(&mut git_command(dir, args))
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    let mut entries: Vec<_> = fs::read_dir(from)
        .expect("read_dir")
        .map(|e| e.expect("entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if name_text == "target" || name_text.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            fs::copy(entry.path(), to.join(&name)).expect("copy");
        }
    }
}

/// A clean checkout of the working tree as a git repository in `repo` (what
/// pre-commit clones): the files the pip build needs, committed.
fn hook_repository(repo: &Path) -> String {
    let root = repo_root();
    fs::create_dir_all(repo).expect("mkdir");
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "pyproject.toml",
        "README.md",
        ".pre-commit-hooks.yaml",
    ] {
        fs::copy(root.join(file), repo.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    copy_tree(&root.join("crates"), &repo.join("crates"));
    for args in [
        &["init", "--quiet"][..],
        &["add", "--all"],
        &["commit", "--quiet", "-m", "snapshot"],
    ] {
        let output = git(repo, args);
        assert!(output.status.success(), "git {args:?}: {}", show(&output));
    }
    let sha = git(repo, &["rev-parse", "HEAD"]);
    String::from_utf8_lossy(&sha.stdout).trim().to_string()
}

/// `python -m pre_commit ARGS` in `dir`, with its own cache in `home` and the shared
/// target directory for the hook's pip build.
fn pre_commit_in(python: &Path, home: &Path, dir: &Path, args: &[&str]) -> Output {
    run(cargo_env(
        Command::new(python)
            .args(["-m", "pre_commit"])
            .args(args)
            .current_dir(dir)
            .env("PRE_COMMIT_HOME", home)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("NO_COLOR", "1"),
    ))
}

#[test]
fn pre_commit_hook_blocks_a_flawed_commit_and_passes_the_fix() {
    let python = python();
    if !ensure_module(&python, "pre_commit", "pre-commit") {
        eprintln!(
            "notice: skipping the pre-commit test: pre-commit is not installed in {} and could not be installed",
            python.display()
        );
        return;
    }
    // Dependencies compile once, for the wheel; the hook's build reuses them.
    wheel();
    let scratch = tempfile::tempdir().expect("tempdir");
    let hook_repo = scratch.path().join("tocsin");
    let sha = hook_repository(&hook_repo);
    let home = scratch.path().join("pre-commit-home");

    let sample = scratch.path().join("sample");
    fs::create_dir(&sample).expect("mkdir");
    let sample = sample.as_path();
    assert!(git(sample, &["init", "--quiet"]).status.success());
    fs::write(
        sample.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {sha}\n    hooks:\n      - id: tocsin\n",
            hook_repo.display()
        ),
    )
    .expect("write");
    fs::write(sample.join("api.py"), VULNERABLE).expect("write");
    fs::write(sample.join("README.txt"), "not python\n").expect("write");
    assert!(git(sample, &["add", "--all"]).status.success());

    let pre_commit = |args: &[&str]| pre_commit_in(&python, &home, sample, args);
    let started = std::time::Instant::now();
    let flawed = pre_commit(&["run", "--all-files", "--color", "never"]);
    eprintln!(
        "pre-commit (hook install and run) took {:?}",
        started.elapsed()
    );
    let text = show(&flawed);
    assert_eq!(flawed.status.code(), Some(1), "{text}");
    assert!(text.contains("tocsin") && text.contains("Failed"), "{text}");
    assert!(text.contains("api.py:8:8: KEY001"), "{text}");

    // Through git itself: the installed hook blocks the commit...
    let installed = pre_commit(&["install"]);
    assert!(installed.status.success(), "{}", show(&installed));
    let hook_env = |command: &mut Command| -> Output {
        run(command.env("PRE_COMMIT_HOME", &home).env("NO_COLOR", "1"))
    };
    let blocked = hook_env(&mut git_command(
        sample,
        &["commit", "-m", "add admin route"],
    ));
    assert!(!blocked.status.success(), "{}", show(&blocked));
    assert!(show(&blocked).contains("KEY001"), "{}", show(&blocked));

    // ...and lets the fixed file through.
    fs::write(sample.join("api.py"), FIXED).expect("write");
    assert!(git(sample, &["add", "--all"]).status.success());
    let passed = hook_env(&mut git_command(
        sample,
        &["commit", "-m", "add admin route"],
    ));
    assert!(passed.status.success(), "{}", show(&passed));
    assert!(show(&passed).contains("Passed"), "{}", show(&passed));
}
