//! The live experiments. Each file drives the engine for one rule and turns what came
//! back into findings with their exchanges as evidence; the engine never judges.

pub mod auth101;
pub mod auth102;
pub mod bola101;
pub mod discover;
pub mod race101;
pub mod race102;

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Instant;

use tocsin_diagnostics::{
    panic_message, ExchangeEvidence, Finding, HttpLocation, InputError, Location, RuleMeta,
};

use crate::engine::{Batch, Engine, Exchange, Request, SyncMode, Url};
use crate::plan::{Plan, PlanError, PlanRequest};
use crate::redact::Redactor;

/// Every rule the probe can report, for renderers (SARIF descriptors, `tocsin rule`).
pub const RULES: &[RuleMeta] = &[
    auth101::META,
    auth102::META,
    bola101::META,
    race101::META,
    race102::META,
];

/// What an experiment needs: the engine, where to send, what it knows, how to redact.
pub struct Context<'a> {
    pub engine: &'a Engine,
    pub base: Url,
    pub plan: &'a Plan,
    pub redactor: &'a Redactor,
    /// Release method for races.
    pub sync: SyncMode,
    /// Copies per race unless the plan says otherwise.
    pub race_count: usize,
    pub hooks: Hooks<'a>,
}

/// What the caller hears while a run goes, and how it asks the run to stop.
#[derive(Clone, Copy, Default)]
pub struct Hooks<'a> {
    /// Told about each experiment and each request, for progress bars on long runs.
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
    /// Each finding as soon as it is made, already redacted: streamed, it survives a
    /// run that is killed later.
    pub on_finding: Option<&'a (dyn Fn(&Finding) + Sync)>,
    /// Once set (by a Ctrl-C handler), experiments stop at their next step boundary:
    /// after a round's restore, never between a revocation and its restore.
    pub stop: Option<&'a AtomicBool>,
}

/// What a run is doing, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// An experiment starts.
    Experiment(&'static str),
    /// Requests sent so far, and the run's cap.
    Requests { sent: usize, cap: usize },
}

/// Findings, failed requests and notes gathered by a run; everything in it is redacted.
#[derive(Debug, Default)]
pub struct Collector {
    pub findings: Vec<Finding>,
    pub errors: Vec<InputError>,
    /// What was skipped and why, for the terminal summary.
    pub notes: Vec<String>,
    /// The run was asked to stop before it had done everything.
    pub interrupted: bool,
    /// Objects found from collection routes, as (owner, path): what BOLA101 tried
    /// besides the plan's own.
    pub discovered: Vec<(String, String)>,
}

impl Context<'_> {
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    pub fn url(&self, path: &str) -> Option<Url> {
        self.base.join(path).ok()
    }

    pub fn location(&self, method: &str, url: &Url) -> Location {
        Location::Http(HttpLocation {
            method: method.to_string(),
            url: self.redact(&url.to_string()),
        })
    }

    pub fn note(&self, out: &mut Collector, text: impl AsRef<str>) {
        out.notes.push(self.redact(text.as_ref()));
    }

    /// Whether the run was asked to stop.
    pub fn stopped(&self) -> bool {
        self.hooks.stop.is_some_and(|s| s.load(Ordering::SeqCst))
    }

    /// Records a finding (redacted) and streams it to the caller at once.
    pub fn found(&self, out: &mut Collector, mut finding: Finding) {
        redact_finding(&mut finding, self.redactor);
        if let Some(on_finding) = self.hooks.on_finding {
            on_finding(&finding);
        }
        out.findings.push(finding);
    }

    /// Sends one request; a failure is recorded as an input error, not fatal.
    fn tick(&self) {
        if let Some(progress) = self.hooks.progress {
            progress(&Progress::Requests {
                sent: self.engine.requests_sent(),
                cap: self.engine.config().max_requests,
            });
        }
    }

    pub async fn send(&self, out: &mut Collector, request: Request) -> Exchange {
        let exchange = self.engine.send(request).await;
        self.tick();
        self.record_failure(out, &exchange);
        exchange
    }

    pub async fn batch(&self, out: &mut Collector, requests: Vec<Request>) -> Option<Batch> {
        let result = self.engine.batch(requests, self.sync).await;
        self.tick();
        match result {
            Ok(batch) => {
                for e in &batch.exchanges {
                    self.record_failure(out, e);
                }
                Some(batch)
            }
            Err(e) => {
                out.errors.push(InputError {
                    code: "E004".into(),
                    location: self.location("*", &self.base),
                    message: self.redact(&format!("batch not sent: {e}")),
                });
                None
            }
        }
    }

    fn record_failure(&self, out: &mut Collector, exchange: &Exchange) {
        if let Err(e) = &exchange.result {
            out.errors.push(InputError {
                code: "E004".into(),
                location: self.location(&exchange.request.method, &exchange.request.url),
                message: self.redact(&format!("request failed: {e}")),
            });
        }
    }

    /// Evidence for one exchange; offsets are measured from `origin` (a batch's first
    /// release) when given.
    pub fn evidence(
        &self,
        exchange: &Exchange,
        identity: Option<&str>,
        origin: Option<Instant>,
        note: Option<String>,
    ) -> ExchangeEvidence {
        let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        ExchangeEvidence {
            identity: identity.map(str::to_string),
            method: exchange.request.method.clone(),
            url: self.redact(&exchange.request.url.to_string()),
            status: exchange.status(),
            release_offset_ms: match (origin, exchange.released) {
                (Some(o), Some(r)) => Some(ms(r.saturating_duration_since(o))),
                _ => None,
            },
            response_ms: exchange.response_time().map(ms),
            body_sha256: exchange.response().map(|r| r.body_sha256.clone()),
            note: note
                .or_else(|| exchange.result.as_ref().err().map(|e| e.to_string()))
                .map(|n| self.redact(&n)),
        }
    }
}

/// Puts the server back in a known state between rounds.
#[derive(Debug, Clone)]
pub enum Reset {
    Request(Request),
    /// A local command (argv, no shell), bounded by [`COMMAND_TIMEOUT`].
    Command(Vec<String>),
}

/// A reset command that runs longer than this is killed.
pub const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Context<'_> {
    /// The reset a plan entry describes: its request, else its command.
    pub fn reset_of(
        &self,
        request: Option<&PlanRequest>,
        command: Option<&Vec<String>>,
    ) -> Result<Option<Reset>, PlanError> {
        if let Some(request) = request {
            return Ok(Some(Reset::Request(
                request.build(&self.base, self.plan, None)?,
            )));
        }
        match command {
            Some(argv) if argv.is_empty() || argv[0].is_empty() => {
                Err(PlanError::Invalid("an empty reset command".into()))
            }
            Some(argv) => Ok(Some(Reset::Command(argv.clone()))),
            None => Ok(None),
        }
    }

    /// Runs a reset; false (and an input error) when it failed.
    pub async fn reset(&self, out: &mut Collector, reset: &Reset) -> bool {
        match reset {
            Reset::Request(request) => accepted(&self.send(out, request.clone()).await),
            Reset::Command(argv) => match run_command(argv).await {
                Ok(()) => true,
                Err(message) => {
                    out.errors.push(InputError {
                        code: "E004".into(),
                        location: self.location("*", &self.base),
                        message: self
                            .redact(&format!("reset command `{}` failed: {message}", argv[0])),
                    });
                    false
                }
            },
        }
    }
}

async fn run_command(argv: &[String]) -> Result<(), String> {
    let mut child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "still running after {}s, killed",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// How a response answers the question "was the request allowed?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Refused,
    /// Errors, 4xx/5xx that are not refusals, failed exchanges: no conclusion.
    Unclear,
}

/// 2xx is acceptance; 401/403/404 and redirects to a login page are refusals.
pub fn verdict(exchange: &Exchange) -> Verdict {
    let Some(response) = exchange.response() else {
        return Verdict::Unclear;
    };
    match response.status {
        200..=299 => Verdict::Accepted,
        401 | 403 | 404 => Verdict::Refused,
        301 | 302 | 303 | 307 | 308 => {
            let to = response
                .header("location")
                .unwrap_or("")
                .to_ascii_lowercase();
            if ["login", "signin", "sign-in", "auth", "sso"]
                .iter()
                .any(|w| to.contains(w))
            {
                Verdict::Refused
            } else {
                Verdict::Unclear
            }
        }
        _ => Verdict::Unclear,
    }
}

pub fn accepted(exchange: &Exchange) -> bool {
    verdict(exchange) == Verdict::Accepted
}

/// Similarity of two bodies in [0, 1]: 1 when identical, else the Jaccard index of their
/// word sets (JSON keys and values, HTML text), which ignores order and timestamps' noise
/// well enough to tell "the same record" from "an error page".
pub fn similarity(a: &[u8], b: &[u8]) -> f64 {
    if a == b {
        return 1.0;
    }
    let words = |bytes: &[u8]| -> BTreeSet<String> {
        String::from_utf8_lossy(bytes)
            .split(|c: char| !c.is_alphanumeric() && c != '_' && c != '@' && c != '.')
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let (wa, wb) = (words(a), words(b));
    if wa.is_empty() && wb.is_empty() {
        return 1.0;
    }
    let inter = wa.intersection(&wb).count() as f64;
    let union = wa.union(&wb).count() as f64;
    inter / union
}

/// Bodies at least this similar are "the same data".
pub const SAME_DATA: f64 = 0.9;

/// Runs the selected experiments in a fixed order (reads before writes, races last).
/// Objects are first discovered from collection routes and added to the plan's own.
pub async fn run_all(ctx: &Context<'_>, selected: &dyn Fn(&str) -> bool) -> Collector {
    let mut out = Collector::default();
    let mut plan = ctx.plan.clone();
    if selected(bola101::META.code) || selected(auth101::META.code) {
        for (owner, paths) in discover::objects(ctx, &mut out).await {
            for path in paths {
                plan.add_object(&owner, &path);
                out.discovered.push((owner.clone(), path));
            }
        }
    }
    let ctx = &Context {
        engine: ctx.engine,
        base: ctx.base.clone(),
        plan: &plan,
        redactor: ctx.redactor,
        sync: ctx.sync,
        race_count: ctx.race_count,
        hooks: ctx.hooks,
    };
    let mut skipped: Vec<&str> = Vec::new();
    for code in ORDER {
        if !selected(code) {
            continue;
        }
        if ctx.stopped() {
            skipped.push(code);
            continue;
        }
        if let Some(progress) = ctx.hooks.progress {
            progress(&Progress::Experiment(code));
        }
        let run: Pin<Box<dyn Future<Output = ()> + '_>> = match code {
            "AUTH101" => Box::pin(auth101::run(ctx, &mut out)),
            "BOLA101" => Box::pin(bola101::run(ctx, &mut out)),
            "RACE101" => Box::pin(race101::run(ctx, &mut out)),
            "RACE102" => Box::pin(race102::run(ctx, &mut out)),
            _ => Box::pin(auth102::run(ctx, &mut out)),
        };
        // A bug in one experiment costs that experiment, not the findings already made
        // nor the experiments after it.
        if let Err(panic) = CatchUnwind(run).await {
            out.errors.push(InputError {
                code: "E005".into(),
                location: ctx.location("*", &ctx.base),
                message: ctx.redact(&format!(
                    "{code} stopped by an internal error (a bug in tocsin): {panic}"
                )),
            });
        }
    }
    if ctx.stopped() {
        out.interrupted = true;
        let not_run = if skipped.is_empty() {
            String::new()
        } else {
            format!("; not run: {}", skipped.join(", "))
        };
        // An error, so every report format says the run is incomplete.
        out.errors.push(InputError {
            code: "E006".into(),
            location: ctx.location("*", &ctx.base),
            message: format!(
                "interrupted: the findings are those made before the run was stopped{not_run}"
            ),
        });
    }
    out
}

/// The experiments in the order they run: reads before writes, races last, the
/// revocation (which takes a key away) at the very end.
const ORDER: [&str; 5] = [
    auth101::META.code,
    bola101::META.code,
    race101::META.code,
    race102::META.code,
    auth102::META.code,
];

/// Runs a future and turns a panic inside it into an error message.
struct CatchUnwind<'a>(Pin<Box<dyn Future<Output = ()> + 'a>>);

impl Future for CatchUnwind<'_> {
    type Output = Result<(), String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref())
                .unwrap_or("panic")
                .to_string())),
        }
    }
}

/// A last pass over everything a finding carries: experiments redact as they write, and
/// this makes sure nothing slipped through.
pub fn redact_finding(f: &mut Finding, r: &Redactor) {
    f.message = r.redact(&f.message);
    f.fix = f.fix.as_deref().map(|s| r.redact(s));
    if let Location::Http(h) = &mut f.location {
        h.url = r.redact(&h.url);
    }
    for rel in &mut f.related {
        rel.message = r.redact(&rel.message);
        if let Location::Http(h) = &mut rel.location {
            h.url = r.redact(&h.url);
        }
    }
    for e in &mut f.evidence {
        e.url = r.redact(&e.url);
        e.note = e.note.as_deref().map(|s| r.redact(s));
    }
}

pub(crate) fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_experiment_becomes_an_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let mut progress = 0;
        let caught = runtime.block_on(CatchUnwind(Box::pin(async {
            progress += 1;
            tokio::task::yield_now().await;
            panic!("boom at step {progress}");
        })));
        assert_eq!(caught, Err("boom at step 1".to_string()));
        let fine = runtime.block_on(CatchUnwind(Box::pin(async {})));
        assert_eq!(fine, Ok(()));
    }

    #[test]
    fn similarity_orders_sensibly() {
        let a = br#"{"id": 1, "owner": "alice", "text": "alice's secret note"}"#;
        let b = br#"{"owner": "alice", "id": 1, "text": "alice's secret note"}"#;
        let err = br#"{"error": "forbidden"}"#;
        assert!(similarity(a, b) >= SAME_DATA);
        assert!(similarity(a, err) < 0.2);
        assert_eq!(similarity(b"", b""), 1.0);
    }
}
