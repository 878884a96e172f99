//! `tocsin probe` and `tocsin race`: the live half. The engine and experiments live
//! in `tocsin_probe`; this module renders their findings like `check` does and maps
//! outcomes to exit codes (0 nothing found, 1 findings, 2 error).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use tocsin_diagnostics::{render, Format, RenderOptions, Report};
use tocsin_probe::cli::{ProbeArgs, ProbeFormat, RaceArgs};
use tocsin_probe::experiments::Progress;

use crate::output::Output;
use crate::ExitStatus;

fn progress_line(progress: &Progress) {
    // Progress goes to a terminal only: CI logs and pipes stay clean.
    let text = match progress {
        Progress::Experiment(code) => format!("{code}: running"),
        Progress::Requests { sent, cap } => {
            let width = 30usize;
            let filled = if *cap == 0 {
                0
            } else {
                (sent * width / cap).min(width)
            };
            format!(
                "[{}{}] {sent}/{cap} requests",
                "#".repeat(filled),
                "-".repeat(width - filled)
            )
        }
    };
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{text}");
    let _ = err.flush();
}

/// The renderer for a live-run format (`probe` and `scan` share them).
pub fn format_of(format: ProbeFormat) -> Format {
    match format {
        ProbeFormat::Text => Format::Text,
        ProbeFormat::Json => Format::Json,
        ProbeFormat::Sarif => Format::Sarif,
        ProbeFormat::Html => Format::Html,
    }
}

pub fn run(args: &ProbeArgs) -> Result<ExitStatus> {
    let interactive = std::io::stderr().is_terminal() && args.output.is_some();
    let outcome = if interactive {
        tocsin_probe::cli::run_probe_with_progress(args, &progress_line)?
    } else {
        tocsin_probe::cli::run_probe(args)?
    };
    if interactive {
        eprintln!();
    }
    let sources: HashMap<PathBuf, String> = HashMap::new();
    let report = Report {
        tool_version: env!("CARGO_PKG_VERSION"),
        findings: &outcome.findings,
        errors: &outcome.errors,
        rules: outcome.rules,
        sources: &sources,
    };
    let format = format_of(args.format);
    let mut output = Output::open(args.output.as_deref())?;
    let color = matches!(args.format, ProbeFormat::Text)
        && output.is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    render(format, &report, RenderOptions { color }, output.writer())
        .context("writing the report")?;
    output.commit()?;
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "{} requests sent to {} (races released with {}).",
        outcome.requests_sent, outcome.target, outcome.sync
    );
    Ok(if outcome.findings.is_empty() {
        ExitStatus::Clean
    } else {
        ExitStatus::Findings
    })
}

pub fn race(args: &RaceArgs) -> Result<ExitStatus> {
    let outcome = tocsin_probe::cli::run_race(args)?;
    tocsin_probe::cli::write_race(&outcome, args)?;
    Ok(ExitStatus::Clean)
}
