//! `tocsin scan`: static candidates become live experiments against the running app,
//! and each finding comes back confirmed (with the exchanges), refuted (the
//! experiment ran and the flaw did not show) or not tested (and why).
//!
//! The mapping from rules to experiments: BOLA001/BOLA002 → BOLA101 (cross-identity
//! access to objects the plan names), TOC003 → RACE101 (the plan's race for that
//! route), TOC001/TOC005 → AUTH102 and RACE102 (the plan's revocation or scope change
//! for that route), routes without parameters → AUTH101 (auth matrix).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use regex::Regex;
use tocsin_diagnostics::{
    render, Finding, HttpLocation, InputError, Location, RenderOptions, Report, RuleMeta, Status,
};
use tocsin_probe::cli::{EngineArgs, ProbeArgs, ProbeFormat, SyncArg};
use tocsin_probe::experiments::Hooks;
use tocsin_probe::plan::Plan;
use tocsin_python::{AppModel, Index};
use tocsin_rules::Context;

use crate::analysis;
use crate::app_process::{free_port, AppProcess};
use crate::args::InputArgs;
use crate::output::Output;
use crate::ExitStatus;

#[derive(Args, Debug, Clone)]
pub struct ScanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Start the app with this shell command; it gets a free loopback port as `$PORT`
    /// and in place of `{port}`. Its process group is stopped when the scan ends.
    #[arg(long, value_name = "CMD", conflicts_with = "url")]
    pub run: Option<String>,
    /// Scan an app that is already running at this URL instead.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Plan file (TOML): identities, objects per identity, races, revocations.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// An identity and its key: NAME:HEADER=VALUE, NAME:bearer=TOKEN, NAME:env=VAR.
    #[arg(long = "identity", value_name = "NAME:HEADER=VALUE")]
    pub identities: Vec<String>,
    /// An object the identity owns: NAME:/path.
    #[arg(long = "object", value_name = "NAME:/PATH")]
    pub objects: Vec<String>,
    /// Permit PUT/PATCH/DELETE experiments.
    #[arg(long)]
    pub allow_destructive: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ProbeFormat::Text)]
    pub format: ProbeFormat,
    /// Write the report here instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Path polled until the app answers.
    #[arg(long, default_value = "/", value_name = "PATH")]
    pub ready_path: String,
    /// Seconds to wait for the app to answer.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub ready_timeout: f64,
    /// Seconds the live experiments may take in all.
    #[arg(long = "scan-timeout", default_value_t = 600.0, value_name = "SECS")]
    pub scan_timeout: f64,
    /// Release method for races.
    #[arg(long, value_enum, default_value_t = SyncArg::LastByte)]
    pub sync: SyncArg,
    /// Copies released together per race unless the plan says otherwise.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Which live experiments can decide a static rule.
fn experiments_for(code: &str) -> &'static [&'static str] {
    match code {
        "BOLA001" | "BOLA002" => &["BOLA101"],
        "TOC003" => &["RACE101"],
        "TOC001" | "TOC005" => &["AUTH102", "RACE102"],
        _ => &[],
    }
}

/// `/users/<int:user_id>/profile` → `^/users/[^/]+/profile/?$`.
fn rule_regex(rule: &str) -> Option<Regex> {
    let mut pattern = String::from("^");
    let mut rest = rule;
    while let Some(start) = rest.find('<') {
        pattern.push_str(&regex::escape(&rest[..start]));
        let end = rest[start..].find('>')? + start;
        let inner = &rest[start + 1..end];
        pattern.push_str(if inner.starts_with("path:") {
            ".+"
        } else {
            "[^/]+"
        });
        rest = &rest[end + 1..];
    }
    pattern.push_str(&regex::escape(rest.trim_end_matches('/')));
    pattern.push_str("/?$");
    Regex::new(&pattern).ok()
}

fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

/// Does the plan give the experiments `codes` something to do on this route?
fn plan_covers(plan: &Plan, codes: &[&str], matches: &dyn Fn(&str) -> bool) -> Option<String> {
    for code in codes {
        let covered = match *code {
            "BOLA101" => {
                let owners = plan
                    .objects
                    .iter()
                    .filter(|(_, paths)| paths.iter().any(|p| matches(p)))
                    .count();
                owners >= 1 && plan.identities.len() >= 2
            }
            "RACE101" => plan.races.iter().any(|r| matches(&r.request.path)),
            "AUTH102" => plan.revocations.iter().any(|r| matches(&r.check.path)),
            "RACE102" => plan.scope_changes.iter().any(|s| matches(&s.read.path)),
            _ => false,
        };
        if covered {
            return Some((*code).to_string());
        }
    }
    None
}

fn not_tested_reason(code: &str, route: &str) -> String {
    match code {
        "BOLA001" | "BOLA002" => format!(
            "needs two identities and an object of one of them matching {route} (plan [[identity]] objects or --object)"
        ),
        "TOC003" => format!("needs a [[race]] in the plan whose request targets {route}"),
        "TOC001" | "TOC005" => {
            format!("needs a [[revocation]] or [[scope_change]] in the plan whose request targets {route}")
        }
        other => format!("{other} is decided from the source alone; no live experiment applies"),
    }
}

struct StaticRun {
    findings: Vec<Finding>,
    rules: Vec<RuleMeta>,
    sources: HashMap<PathBuf, String>,
    /// Every route (`METHOD /path/{param}`): the auth matrix, object discovery from
    /// collection routes, and the write methods BOLA101 tries.
    endpoints: Vec<String>,
    /// Inputs the static half could not analyse (E001–E003) or check (E005).
    errors: Vec<InputError>,
}

fn static_run(input: &InputArgs) -> Result<StaticRun> {
    let loaded = analysis::load(input)?;
    let settings = analysis::settings(&loaded)?;
    let project = &loaded.project;
    let index = Index::build(project);
    let model = AppModel::build(project, &index);
    let ctx = Context::new(project, &index, &model, &settings);
    let all = |_: &str| true;
    let (findings, failures) = tocsin_rules::check_all_guarded(&ctx, &all);
    let mut errors = loaded.errors.clone();
    errors.extend(analysis::rule_failures(project, failures));
    let endpoints = crate::probe::model_endpoints(&model);
    let sources = project
        .files()
        .iter()
        .map(|f| (f.path.clone(), f.text.clone()))
        .collect();
    let rules = tocsin_rules::all_rule_meta().into_iter().copied().collect();
    Ok(StaticRun {
        findings,
        rules,
        sources,
        endpoints,
        errors,
    })
}

/// How long a timed-out live run gets to stop after its current step.
const WIND_DOWN: Duration = Duration::from_secs(10);

fn stream_live_finding(finding: &Finding) {
    crate::probe::stream_finding(finding, false);
}

pub fn run(args: &ScanArgs) -> Result<ExitStatus> {
    if args.run.is_none() && args.url.is_none() {
        bail!("tocsin scan needs --run \"CMD\" (to start the app) or --url URL (an app already running)");
    }
    let statics = static_run(&args.input)?;

    // The app: started here (and always stopped), or already running.
    let workdir = tempfile::tempdir().context("creating a work directory")?;
    let mut app = None;
    let target = match (&args.run, &args.url) {
        (Some(command), _) => {
            let port = free_port()?;
            let mut process = AppProcess::start(command, port, workdir.path())?;
            process.wait_ready(
                &args.ready_path,
                Duration::from_secs_f64(args.ready_timeout.max(0.1)),
            )?;
            app = Some(process);
            format!("http://127.0.0.1:{port}")
        }
        (None, Some(url)) => url.clone(),
        (None, None) => unreachable!("checked above"),
    };

    let probe_args = ProbeArgs {
        url: target.clone(),
        identities: args.identities.clone(),
        objects: args.objects.clone(),
        endpoints: statics.endpoints.clone(),
        openapi: None,
        plan: args.plan.clone(),
        allow_destructive: args.allow_destructive,
        select: Vec::new(),
        sync: args.sync,
        count: args.count,
        format: ProbeFormat::Json,
        output: None,
        engine: args.engine.clone(),
    };
    let env = |name: &str| std::env::var(name).ok();
    let plan = tocsin_probe::cli::build_plan(&probe_args, &env)?;

    // The experiments run on their own thread so that a scan timeout still stops
    // the app and reports what both halves found so far.
    let stop = crate::interrupt::install();
    let (sender, receiver) = mpsc::channel();
    let thread_args = probe_args.clone();
    std::thread::spawn(move || {
        let hooks = Hooks {
            progress: None,
            on_finding: Some(&stream_live_finding),
            stop: Some(stop),
        };
        let _ = sender.send(tocsin_probe::cli::run_probe_with_hooks(&thread_args, hooks));
    });
    let budget = Duration::from_secs_f64(args.scan_timeout.max(1.0));
    let mut timed_out = None;
    let outcome = match receiver.recv_timeout(budget) {
        Ok(result) => Some(result?),
        Err(_) => {
            // Ask the experiments to wind down (they restore what they changed), and
            // keep what they found if they do so in time.
            crate::interrupt::request_stop();
            let message = format!(
                "the live experiments did not finish within {:.0} s; the app was stopped",
                args.scan_timeout
            );
            eprintln!("error: {message}");
            timed_out = Some(message);
            receiver.recv_timeout(WIND_DOWN).ok().and_then(Result::ok)
        }
    };
    if let Some(process) = app.as_mut() {
        if !process.is_running() {
            eprintln!(
                "warning: the app exited during the scan; its output:\n{}",
                process.log_tail()
            );
        }
    }
    drop(app);

    let outcome = outcome.unwrap_or_else(|| tocsin_probe::cli::ProbeOutcome {
        target: target.clone(),
        sync: "none",
        findings: Vec::new(),
        errors: Vec::new(),
        rules: tocsin_probe::experiments::RULES,
        notes: Vec::new(),
        requests_sent: 0,
        interrupted: true,
        discovered: Vec::new(),
    });
    // Objects the run discovered count as covered like the plan's own: BOLA101 tried
    // them, so silence on their route is a refutation.
    let mut plan = plan;
    for (owner, path) in &outcome.discovered {
        plan.add_object(owner, path);
    }
    let incomplete = outcome.interrupted || timed_out.is_some();
    let (findings, mut rules) = merge(
        statics.findings,
        outcome.findings,
        &plan,
        statics.rules,
        incomplete,
    );
    rules.extend(outcome.rules.iter().copied());
    let mut errors = statics.errors;
    errors.extend(outcome.errors);
    if let Some(message) = &timed_out {
        errors.push(InputError {
            code: "E006".into(),
            location: Location::Http(HttpLocation {
                method: "*".into(),
                url: outcome.target.clone(),
            }),
            message: message.clone(),
        });
    }
    let report = Report {
        tool_version: env!("CARGO_PKG_VERSION"),
        findings: &findings,
        errors: &errors,
        rules: &rules,
        sources: &statics.sources,
    };
    let format = crate::probe::format_of(args.format);
    let mut output = Output::open(args.output.as_deref())?;
    render(format, &report, RenderOptions::default(), output.writer())
        .context("writing the report")?;
    output.commit()?;
    let counts = |label: &str| {
        findings
            .iter()
            .filter(|f| f.status.as_ref().is_some_and(|s| s.label() == label))
            .count()
    };
    eprintln!(
        "{} confirmed, {} refuted, {} not tested; {} requests sent to {}.",
        counts("confirmed"),
        counts("refuted"),
        counts("not tested"),
        outcome.requests_sent,
        outcome.target
    );
    let open = findings
        .iter()
        .any(|f| !matches!(f.status, Some(Status::Refuted)));
    Ok(if timed_out.is_some() {
        ExitStatus::Error
    } else if outcome.interrupted {
        ExitStatus::Interrupted
    } else if open {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    })
}

/// One finding per flaw: static findings get the live verdict and the exchanges;
/// live findings no static finding explains are kept as they are.
fn merge(
    statics: Vec<Finding>,
    live: Vec<Finding>,
    plan: &Plan,
    rules: Vec<RuleMeta>,
    incomplete: bool,
) -> (Vec<Finding>, Vec<RuleMeta>) {
    let mut used = vec![false; live.len()];
    let mut out = Vec::new();
    for mut finding in statics {
        let codes = experiments_for(&finding.code);
        let Some(route) = finding.route.clone() else {
            finding.status = Some(Status::NotTested {
                reason: not_tested_reason(&finding.code, "this code"),
            });
            out.push(finding);
            continue;
        };
        let label = format!("{} {}", route.method, route.url);
        let Some(regex) = rule_regex(&route.url) else {
            finding.status = Some(Status::NotTested {
                reason: format!("cannot match the rule {} against URLs", route.url),
            });
            out.push(finding);
            continue;
        };
        let matches = |url: &str| regex.is_match(path_of(url));
        // Every live finding on this route is the same flaw shown again (bob changes
        // alice's note, alice deletes bob's): one finding carries all their evidence.
        let confirming: Vec<usize> = live
            .iter()
            .enumerate()
            .filter(|(i, l)| {
                !used[*i]
                    && codes.contains(&l.code.as_str())
                    && matches!(&l.location, Location::Http(h) if matches(&h.url))
            })
            .map(|(i, _)| i)
            .collect();
        if !confirming.is_empty() {
            finding.status = Some(Status::Confirmed);
            finding.evidence.clear();
            for i in confirming {
                used[i] = true;
                let evidence = &live[i];
                finding.evidence.extend(evidence.evidence.iter().cloned());
                finding = finding.with_related(
                    evidence.location.clone(),
                    format!("{}: {}", evidence.code, evidence.message),
                );
            }
        } else if codes.is_empty() {
            finding.status = Some(Status::NotTested {
                reason: not_tested_reason(&finding.code, &label),
            });
        } else if incomplete {
            // The run stopped early: silence is not a refutation.
            finding.status = Some(Status::NotTested {
                reason: "the live run was stopped before its experiments finished".into(),
            });
        } else if let Some(code) = plan_covers(plan, codes, &matches) {
            finding.status = Some(Status::Refuted);
            finding.message = format!(
                "{} ({code} ran against {label} and the flaw did not show)",
                finding.message
            );
        } else {
            finding.status = Some(Status::NotTested {
                reason: not_tested_reason(&finding.code, &label),
            });
        }
        out.push(finding);
    }
    for (finding, used) in live.into_iter().zip(used) {
        if !used {
            let mut finding = finding;
            finding.status.get_or_insert(Status::Confirmed);
            out.push(finding);
        }
    }
    (out, rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_become_url_patterns() {
        let re = rule_regex("/users/<int:user_id>/profile").expect("regex");
        assert!(re.is_match("/users/1/profile"));
        assert!(!re.is_match("/users/1/2/profile"));
        let re = rule_regex("/files/<path:p>").expect("regex");
        assert!(re.is_match("/files/a/b.txt"));
        assert_eq!(
            path_of("http://127.0.0.1:5000/users/1/profile?x=1"),
            "/users/1/profile"
        );
    }
}
