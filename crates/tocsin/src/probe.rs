//! `tocsin probe` and `tocsin race`: the live half. The engine and experiments live
//! in `tocsin_probe`; this module renders their findings like `check` does and maps
//! outcomes to exit codes (0 nothing found, 1 findings, 2 error).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use tocsin_diagnostics::{render, Format, RenderOptions, Report};
use tocsin_diagnostics::{Finding, Location};
use tocsin_probe::cli::{ProbeArgs, ProbeFormat, RaceArgs};
use tocsin_probe::experiments::{Hooks, Progress};
use tocsin_python::{AppModel, Index};

use crate::args::InputArgs;

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

/// One line on stderr per finding, as soon as it is made (already redacted): a run
/// killed later, or one whose report never gets written, still leaves its findings in
/// the terminal or the CI log.
pub fn stream_finding(finding: &Finding, interactive: bool) {
    let clear = if interactive { "\r\x1b[2K" } else { "" };
    let location = match &finding.location {
        Location::Http(h) => format!("{} {}", h.method, h.url),
        other => other.to_string(),
    };
    eprintln!(
        "{clear}found {} [{}] {location}: {}",
        finding.code,
        finding.severity.as_str(),
        finding.message
    );
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

/// `tocsin probe`: the probe's own flags, plus routes from a source tree.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeCommand {
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// Take the routes (and so the objects to discover) from this Flask source tree's
    /// app model, as `tocsin check` reads it. Repeatable.
    #[arg(long = "source", value_name = "PATH")]
    pub sources: Vec<PathBuf>,
}

/// Every route of the app model as `METHOD /path` with OpenAPI-style parameters
/// (`/notes/<int:note_id>` becomes `/notes/{note_id}`), the form `--endpoint` takes.
pub fn model_endpoints(model: &AppModel<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for route in &model.routes {
        let path = openapi_path(&route.rule);
        for method in &route.methods {
            if matches!(method.as_str(), "HEAD" | "OPTIONS") {
                continue;
            }
            let endpoint = format!("{method} {path}");
            if !out.contains(&endpoint) {
                out.push(endpoint);
            }
        }
    }
    out
}

/// `<int:id>` / `<id>` → `{id}`.
fn openapi_path(rule: &str) -> String {
    let mut out = String::with_capacity(rule.len());
    let mut rest = rule;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let inner = &rest[open + 1..open + close];
        let name = inner.rsplit(':').next().unwrap_or(inner).trim();
        out.push_str(&rest[..open]);
        out.push('{');
        out.push_str(name);
        out.push('}');
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn source_endpoints(paths: &[PathBuf]) -> Result<Vec<String>> {
    let input = InputArgs {
        paths: paths.to_vec(),
        exclude: Vec::new(),
        config: None,
        isolated: false,
    };
    let loaded = crate::analysis::load(&input)?;
    let project = &loaded.project;
    let index = Index::build(project);
    let model = AppModel::build(project, &index);
    let endpoints = model_endpoints(&model);
    if endpoints.is_empty() {
        anyhow::bail!(
            "--source: no Flask routes found in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(endpoints)
}

pub fn run(command: &ProbeCommand) -> Result<ExitStatus> {
    let with_sources;
    let args = if command.sources.is_empty() {
        &command.probe
    } else {
        let mut args = command.probe.clone();
        args.endpoints.extend(source_endpoints(&command.sources)?);
        with_sources = args;
        &with_sources
    };
    let interactive = std::io::stderr().is_terminal() && args.output.is_some();
    let stream = |finding: &Finding| stream_finding(finding, interactive);
    let hooks = Hooks {
        progress: interactive.then_some(&progress_line as &(dyn Fn(&Progress) + Sync)),
        on_finding: Some(&stream),
        stop: Some(crate::interrupt::install()),
    };
    let outcome = tocsin_probe::cli::run_probe_with_hooks(args, hooks)?;
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
    Ok(if outcome.interrupted {
        ExitStatus::Interrupted
    } else if outcome.findings.is_empty() {
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

#[cfg(test)]
mod tests {
    use super::openapi_path;

    #[test]
    fn flask_rules_become_openapi_templates() {
        assert_eq!(openapi_path("/notes/<int:note_id>"), "/notes/{note_id}");
        assert_eq!(
            openapi_path("/u/<uid>/f/<path:rest>/x"),
            "/u/{uid}/f/{rest}/x"
        );
        assert_eq!(openapi_path("/plain"), "/plain");
        assert_eq!(openapi_path("/broken/<id"), "/broken/<id");
    }
}
