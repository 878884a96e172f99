//! The `tocsin` binary: arguments, commands, exit codes. The work is in the library
//! crates: `tocsin_python` (app model), `tocsin_rules` (rules), `tocsin_diagnostics`
//! (findings and their rendering).

mod analysis;
mod app_process;
mod args;
mod baseline;
mod check;
mod completions;
mod config;
mod discovery;
mod fix;
mod gitlab;
mod interrupt;
mod output;
mod probe;
mod routes;
mod rules_cmd;
mod rules_doc;
mod scan;
mod suppress;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// 0: no findings; 1: findings; 2: error (bad arguments, nothing analysable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Clean,
    Findings,
    Error,
    /// A live run stopped by Ctrl-C; its report holds what was found before.
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        match status {
            ExitStatus::Clean => ExitCode::from(0),
            ExitStatus::Findings => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
            ExitStatus::Interrupted => ExitCode::from(130),
        }
    }
}

/// A panic is a bug: say so, where, and what, with the run's secrets redacted (a
/// message may quote a request carrying a key).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = tocsin_diagnostics::panic_message(info.payload()).unwrap_or_default();
        let message = tocsin_probe::redact::redact_for_panic(message)
            .unwrap_or_else(|| "(message withheld)".to_string());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("tocsin: internal error (a bug in tocsin){location}: {message}");
    }));
}

fn main() -> ExitCode {
    install_panic_hook();
    // The parser grows its own stack; our walks are depth-bounded, but deep ASTs are
    // also dropped recursively, so worker threads get a generous stack.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(64 * 1024 * 1024)
        .build_global();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 2 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let result = std::thread::Builder::new()
        .stack_size(64 * 1024 * 1024)
        .spawn(move || run(cli))
        .map_err(anyhow::Error::from)
        .and_then(|handle| {
            handle.join().unwrap_or_else(|_| {
                Err(anyhow::anyhow!("internal error: analysis thread panicked"))
            })
        });
    match result {
        Ok(status) => status.into(),
        Err(error) => {
            // A closed pipe (`tocsin check | head`) is not an error.
            if error.chain().any(|c| {
                c.downcast_ref::<io::Error>()
                    .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::from(0);
            }
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "tocsin: error: {error}");
            for cause in error.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Routes(args) => routes::run(&args),
        Command::Rules(args) => rules_cmd::list(&args),
        Command::Rule { code } => rules_cmd::show(&code),
        Command::Probe(args) => probe::run(&args),
        Command::Scan(args) => scan::run(&args),
        Command::Race(args) => probe::race(&args),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { command } => completions::man(command.as_deref()),
    }
}
