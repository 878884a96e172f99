//! Helpers for the integration tests: run the real binary from the repository root.

use std::path::PathBuf;
use std::process::{Command, Output};

#[allow(dead_code)] // each test binary uses a different subset
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

#[allow(dead_code)] // each test binary uses a different subset
pub fn tocsin(args: &[&str]) -> Output {
    tocsin_in(&repo_root(), args)
}

#[allow(dead_code)] // each test binary uses a different subset
pub fn tocsin_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("running tocsin")
}

#[allow(dead_code)] // each test binary uses a different subset
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
