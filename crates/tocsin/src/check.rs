//! `tocsin check`: run the rules over the app model and render the findings.

use std::path::Path;

use anyhow::{Context as _, Result};
use globset::GlobSet;
use sha2::{Digest, Sha256};
use tocsin_diagnostics::{
    render, Finding, Format, Location, RenderOptions, Report, RuleMeta, Severity,
};
use tocsin_python::{AppModel, Index, Project};
use tocsin_rules::Context;

use crate::analysis;
use crate::args::{CheckArgs, ColorChoice, FailOn, OutputFormat};
use crate::baseline;
use crate::config::{matches_selector, validate_selectors};
use crate::discovery::build_globset;
use crate::gitlab;
use crate::output::Output;
use crate::suppress;
use crate::ExitStatus;

pub fn run(args: &CheckArgs) -> Result<ExitStatus> {
    let timings = std::env::var_os("TOCSIN_TIMINGS").is_some();
    let started = std::time::Instant::now();
    let phase = |name: &str| {
        if timings {
            eprintln!("{name}: {:?}", started.elapsed());
        }
    };
    let loaded = analysis::load(&args.input)?;
    phase("load");
    let config = &loaded.config;
    let known: Vec<&str> = tocsin_rules::all_rule_meta()
        .iter()
        .map(|m| m.code)
        .collect();
    let mut select: Vec<String> = if args.select.is_empty() {
        config.select.clone()
    } else {
        args.select.clone()
    };
    if select.is_empty() {
        select.push("ALL".to_string());
    }
    let mut ignore = config.ignore.clone();
    ignore.extend(args.ignore.iter().cloned());
    validate_selectors(&select, &known)?;
    validate_selectors(&ignore, &known)?;
    let enabled = |code: &str| {
        select.iter().any(|s| matches_selector(code, s))
            && !ignore.iter().any(|s| matches_selector(code, s))
    };

    let project = &loaded.project;
    let settings = analysis::settings(&loaded)?;

    let index = Index::build(project);
    phase("index");
    let model = AppModel::build(project, &index);
    phase("model");
    let ctx = Context::new(project, &index, &model, &settings);
    let (findings, failures) = tocsin_rules::check_all_guarded(&ctx, &enabled);
    phase("rules");
    let rule_errors = crate::analysis::rule_failures(project, failures);
    let findings = per_file_ignores(findings, &config.per_file_ignores)?;
    let (mut findings, unused) = suppress::apply(findings, project.files(), enabled("SUP001"));
    findings.extend(unused);
    for finding in &mut findings {
        finding.fingerprint = Some(fingerprint(project, finding));
    }
    findings.sort_by(|a, b| {
        a.sort_key()
            .cmp(&b.sort_key())
            .then_with(|| a.message.cmp(&b.message))
    });
    findings
        .dedup_by(|a, b| a.code == b.code && a.location == b.location && a.message == b.message);

    // Read the baseline before writing one: `--baseline F --write-baseline F` refreshes F.
    let accepted = args.baseline.as_deref().map(baseline::read).transpose()?;
    if let Some(path) = &args.write_baseline {
        baseline::write(path, &findings)?;
        eprintln!(
            "tocsin: wrote {} finding{} to the baseline {}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            path.display()
        );
    }
    if let Some(accepted) = &accepted {
        let (kept, dropped) = baseline::filter(findings, accepted);
        findings = kept;
        if dropped > 0 && timings {
            eprintln!("baseline: {dropped} finding(s) accepted");
        }
    }

    if args.fix || args.diff {
        let source = |path: &Path| {
            project
                .files()
                .iter()
                .find(|f| f.path == path)
                .map(|f| f.text.clone())
        };
        let outcome = crate::fix::plan(&findings, args.unsafe_fixes, &source);
        for path in &outcome.refused {
            eprintln!(
                "tocsin: not fixing {}: the fixed code would not parse",
                path.display()
            );
        }
        if args.diff {
            let mut stdout = std::io::stdout().lock();
            crate::fix::diff(&outcome, &mut stdout).context("writing the diff")?;
            std::mem::forget(model);
            std::mem::forget(index);
            std::mem::forget(loaded);
            return Ok(if outcome.applied.is_empty() {
                ExitStatus::Clean
            } else {
                ExitStatus::Findings
            });
        }
        crate::fix::write(&outcome)?;
        if !outcome.applied.is_empty() {
            eprintln!(
                "Fixed {} finding{} in {} file{}.",
                outcome.applied.len(),
                if outcome.applied.len() == 1 { "" } else { "s" },
                outcome.files.len(),
                if outcome.files.len() == 1 { "" } else { "s" }
            );
        }
        let mut index_of = 0usize;
        findings.retain(|_| {
            let keep = !outcome.applied.contains(&index_of);
            index_of += 1;
            keep
        });
    }

    let mut errors = loaded.errors.clone();
    errors.extend(rule_errors);
    errors.sort_by(|a, b| a.location.cmp(&b.location));
    let rules: Vec<RuleMeta> = tocsin_rules::all_rule_meta()
        .into_iter()
        .filter(|m| enabled(m.code))
        .copied()
        .collect();
    let sources = SourceMap(project);
    let report = Report {
        tool_version: env!("CARGO_PKG_VERSION"),
        findings: &findings,
        errors: &errors,
        rules: &rules,
        sources: &sources,
    };
    let format = match args.format {
        OutputFormat::Text => Some(Format::Text),
        OutputFormat::Concise => Some(Format::Concise),
        OutputFormat::Json => Some(Format::Json),
        OutputFormat::Sarif => Some(Format::Sarif),
        OutputFormat::Github => Some(Format::Github),
        OutputFormat::Gitlab => None,
    };
    let mut output = Output::open(args.output.as_deref())?;
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => output.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match format {
        Some(format) => render(format, &report, RenderOptions { color }, output.writer()),
        None => gitlab::render(&findings, &errors, output.writer()),
    }
    .context("writing the report")?;
    output.writer().flush().context("writing the report")?;
    output.commit()?;
    phase("render");

    let analysed = project
        .files()
        .iter()
        .filter(|f| f.syntax_error.is_none())
        .count();
    let threshold = args.fail_on.map(|level| match level {
        FailOn::Low => Severity::Low,
        FailOn::Medium => Severity::Medium,
        FailOn::High => Severity::High,
        FailOn::Critical => Severity::Critical,
    });
    let failing = findings
        .iter()
        .any(|f| threshold.is_none_or(|min| f.severity >= min));
    let status = if analysed == 0 && !errors.is_empty() {
        ExitStatus::Error
    } else if failing && !args.exit_zero && args.write_baseline.is_none() {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    };
    // The process ends right after this: freeing every syntax tree one node at a time
    // would cost more than the rules took.
    std::mem::forget(model);
    std::mem::forget(index);
    std::mem::forget(loaded);
    Ok(status)
}

fn per_file_ignores(
    findings: Vec<Finding>,
    table: &std::collections::BTreeMap<String, Vec<String>>,
) -> Result<Vec<Finding>> {
    if table.is_empty() {
        return Ok(findings);
    }
    let compiled: Vec<(GlobSet, Vec<String>)> = table
        .iter()
        .map(|(glob, codes)| Ok((build_globset(std::slice::from_ref(glob))?, codes.clone())))
        .collect::<Result<_>>()?;
    Ok(findings
        .into_iter()
        .filter(|f| {
            let Location::Source(span) = &f.location else {
                return true;
            };
            !compiled.iter().any(|(set, codes)| {
                set.is_match(&span.path) && codes.iter().any(|c| matches_selector(&f.code, c))
            })
        })
        .collect())
}

/// Rule, file and a hash of the flagged line's text (whitespace-trimmed): stable
/// across edits elsewhere in the file.
fn fingerprint(project: &Project, finding: &Finding) -> String {
    let mut hasher = Sha256::new();
    hasher.update(finding.code.as_bytes());
    if let Location::Source(span) = &finding.location {
        // `./app.py` and `app.py` are the same file (`tocsin check .` vs pre-commit).
        hasher.update(baseline::normalize_path(&span.path).as_bytes());
        if let Some(file) = project.files().iter().find(|f| f.path == span.path) {
            hasher.update(file.line_text(span.start.line).trim().as_bytes());
        }
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

struct SourceMap<'a>(&'a Project);

impl tocsin_diagnostics::SourceLookup for SourceMap<'_> {
    fn source(&self, path: &Path) -> Option<&str> {
        self.0
            .files()
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.text.as_str())
    }
}
