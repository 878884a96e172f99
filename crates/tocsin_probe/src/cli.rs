//! The argument structs and entry points the `tocsin` binary wires in as `tocsin probe`
//! and `tocsin race`. Flags are parsed in two steps: raw values here, then a validated
//! plan and engine config that the experiments use.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::ValueEnum;
use serde::Serialize;
use tocsin_diagnostics::{Finding, InputError, Location, RuleMeta};

use crate::engine::{Batch, Engine, EngineConfig, Origin, Request, SyncMode, TlsOptions, Url};
use crate::experiments::{self, redact_finding, Context, Hooks, Progress, RULES};
use crate::plan::{self, Plan};
use crate::redact::{is_sensitive_header, Redactor};
use crate::scope::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ProbeFormat {
    #[default]
    Text,
    Json,
    Sarif,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum RaceFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SyncArg {
    #[default]
    LastByte,
    SinglePacket,
    None,
}

impl From<SyncArg> for SyncMode {
    fn from(s: SyncArg) -> SyncMode {
        match s {
            SyncArg::LastByte => SyncMode::LastByte,
            SyncArg::SinglePacket => SyncMode::SinglePacket,
            SyncArg::None => SyncMode::None,
        }
    }
}

/// Safety and timing limits shared by `probe` and `race`.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Requests sent in this run at most.
    #[arg(long, default_value_t = 500)]
    pub max_requests: usize,
    /// Average requests per second at most (a synchronized batch is one burst).
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 5.0)]
    pub connect_timeout: f64,
    /// Seconds to wait for any read.
    #[arg(long, default_value_t = 10.0)]
    pub read_timeout: f64,
    /// Seconds one exchange may take in all.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Bytes of a response body read at most.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_response_bytes: usize,
    /// Milliseconds between warming the connections and releasing the final bytes.
    #[arg(long, default_value_t = 20)]
    pub settle_ms: u64,
    /// Accept any TLS certificate (self-signed test deployments), like curl's -k.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Trust the CA certificates in this PEM file besides the built-in roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Another origin (scheme://host:port) requests may go to besides the target's.
    #[arg(long = "scope", value_name = "ORIGIN")]
    pub scope: Vec<String>,
}

impl EngineArgs {
    fn config(&self) -> anyhow::Result<EngineConfig> {
        let secs = |v: f64, what: &str| -> anyhow::Result<Duration> {
            if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
                bail!("--{what} must be between 0 and 3600 seconds");
            }
            Ok(Duration::from_secs_f64(v))
        };
        if !(self.rate.is_finite() && self.rate > 0.0) {
            bail!("--rate must be a positive number");
        }
        let mut config = EngineConfig {
            connect_timeout: secs(self.connect_timeout, "connect-timeout")?,
            read_timeout: secs(self.read_timeout, "read-timeout")?,
            total_timeout: secs(self.timeout, "timeout")?,
            max_requests: self.max_requests,
            max_rate: self.rate,
            settle: Duration::from_millis(self.settle_ms.min(10_000)),
            tls: TlsOptions {
                insecure: self.insecure,
                ca_pem: match &self.cacert {
                    Some(path) => Some(
                        std::fs::read(path)
                            .with_context(|| format!("cannot read {}", path.display()))?,
                    ),
                    None => None,
                },
            },
            ..EngineConfig::default()
        };
        config.limits.max_body_bytes = self.max_response_bytes;
        Ok(config)
    }
}

/// `tocsin probe URL`: live authorization experiments against an API you own.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// Base URL of the API (e.g. http://127.0.0.1:5000).
    pub url: String,
    /// An identity and its key: NAME:HEADER=VALUE, NAME:bearer=TOKEN, or NAME:env=VAR
    /// (VAR holds `Header: value` or a bearer token). Repeatable.
    #[arg(long = "identity", value_name = "NAME:HEADER=VALUE")]
    pub identities: Vec<String>,
    /// An object the identity owns: NAME:/path. Repeatable.
    #[arg(long = "object", value_name = "NAME:/PATH")]
    pub objects: Vec<String>,
    /// A route to probe: 'METHOD /path'. Repeatable.
    #[arg(long = "endpoint", value_name = "METHOD /PATH")]
    pub endpoints: Vec<String>,
    /// Routes from an OpenAPI 3.x or Swagger 2.0 document (JSON or YAML).
    #[arg(long, value_name = "FILE")]
    pub openapi: Option<PathBuf>,
    /// A TOML plan: identities, objects, revoke/restore requests, races, scope changes.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Permit PUT/PATCH/DELETE probes on objects and routes.
    #[arg(long)]
    pub allow_destructive: bool,
    /// Run only these experiments (AUTH101, AUTH102, BOLA101, RACE101, RACE102).
    #[arg(long = "select", value_name = "CODE", value_delimiter = ',')]
    pub select: Vec<String>,
    /// Release method for races.
    #[arg(long, value_enum, default_value_t = SyncArg::LastByte)]
    pub sync: SyncArg,
    /// Copies released together per race unless the plan says otherwise.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    #[arg(long, value_enum, default_value_t = ProbeFormat::Text)]
    pub format: ProbeFormat,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// What `run_probe` found; every string in it is redacted.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    /// The target URL (redacted).
    pub target: String,
    /// The release method races used.
    pub sync: &'static str,
    pub findings: Vec<Finding>,
    /// Requests that failed (code E004) and other per-input problems; not fatal.
    pub errors: Vec<InputError>,
    /// Metadata of every probe rule, for renderers.
    pub rules: &'static [RuleMeta],
    /// What was skipped and why.
    pub notes: Vec<String>,
    pub requests_sent: usize,
    /// Stopped early (Ctrl-C): the findings are those made before the stop.
    pub interrupted: bool,
    /// Objects found from collection routes, as (owner, path).
    pub discovered: Vec<(String, String)>,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Builds the plan from the plan file and the flags (flags win).
pub fn build_plan(args: &ProbeArgs, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Plan> {
    let mut plan = match &args.plan {
        Some(path) => Plan::from_file(path, env)?,
        None => Plan::default(),
    };
    for text in &args.identities {
        plan.add_identity(plan::parse_identity(text, env)?);
    }
    for text in &args.objects {
        let (owner, path) = plan::parse_object(text)?;
        plan.add_object(&owner, &path);
    }
    for text in &args.endpoints {
        plan.endpoints.push(plan::parse_endpoint(text)?);
    }
    if let Some(path) = &args.openapi {
        plan.endpoints.extend(plan::openapi::load(path)?);
    }
    plan.allow_destructive |= args.allow_destructive;
    for owner in plan.objects.keys() {
        if plan.identity(owner).is_none() {
            bail!("--object names `{owner}`, which is not an identity");
        }
    }
    Ok(plan)
}

fn redactor_for(plan: &Plan) -> Redactor {
    let mut r = Redactor::new();
    for id in &plan.identities {
        r.add(&id.name, &id.value);
        r.add(&id.name, id.secret());
    }
    r
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One thread: the release loop of a batch then never shares the CPU with readers.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn scope_for(target: &Url, extra: &[String]) -> anyhow::Result<Scope> {
    let mut scope = Scope::new([target.origin.clone()]);
    for text in extra {
        scope.add(Origin::parse(text)?);
    }
    Ok(scope)
}

/// Runs the live experiments of `tocsin probe`. Errors (bad flags, unreadable plan) are
/// redacted; failed requests are reported in `errors` and do not stop the run.
pub fn run_probe(args: &ProbeArgs) -> anyhow::Result<ProbeOutcome> {
    run_probe_with_env(args, &env_var)
}

/// [`run_probe`] that reports each experiment and request to `progress` (for progress
/// bars on long runs).
pub fn run_probe_with_progress(
    args: &ProbeArgs,
    progress: &(dyn Fn(&Progress) + Sync),
) -> anyhow::Result<ProbeOutcome> {
    let hooks = Hooks {
        progress: Some(progress),
        ..Hooks::default()
    };
    run_probe_inner(args, &env_var, hooks)
}

/// [`run_probe`] with progress, findings streamed as they are made, and a stop flag
/// (Ctrl-C): a stopped run returns what it found so far, marked `interrupted`.
pub fn run_probe_with_hooks(args: &ProbeArgs, hooks: Hooks<'_>) -> anyhow::Result<ProbeOutcome> {
    run_probe_inner(args, &env_var, hooks)
}

/// [`run_probe`] with an explicit environment lookup (for tests).
pub fn run_probe_with_env(
    args: &ProbeArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<ProbeOutcome> {
    run_probe_inner(args, env, Hooks::default())
}

fn run_probe_inner(
    args: &ProbeArgs,
    env: &dyn Fn(&str) -> Option<String>,
    hooks: Hooks<'_>,
) -> anyhow::Result<ProbeOutcome> {
    let plan = build_plan(args, env)?;
    let redactor = redactor_for(&plan);
    crate::redact::register_for_panics(&redactor);
    let scrub = |e: anyhow::Error| anyhow::anyhow!(redactor.redact(&format!("{e:#}")));
    let target = Url::parse(&args.url).map_err(|e| scrub(e.into()))?;
    let mut extra = args.engine.scope.clone();
    extra.extend(plan.scope.iter().cloned());
    let scope = scope_for(&target, &extra).map_err(scrub)?;
    let config = args.engine.config().map_err(scrub)?;
    let engine = Engine::new(config, scope);
    let selected: Vec<String> = args
        .select
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .collect();
    for code in &selected {
        if !RULES.iter().any(|r| r.code == code) {
            return Err(anyhow::anyhow!("unknown experiment `{code}`"));
        }
    }
    let ctx = Context {
        engine: &engine,
        base: target,
        plan: &plan,
        redactor: &redactor,
        sync: args.sync.into(),
        race_count: args.count.max(2),
        hooks,
    };
    let is_selected = |code: &str| selected.is_empty() || selected.iter().any(|s| s == code);
    let collected = runtime()?.block_on(experiments::run_all(&ctx, &is_selected));
    let mut findings = collected.findings;
    for f in &mut findings {
        redact_finding(f, &redactor);
        f.fingerprint = Some(fingerprint(f));
    }
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(ProbeOutcome {
        target: redactor.redact(&ctx.base.to_string()),
        sync: ctx.sync.as_str(),
        findings,
        errors: collected.errors,
        rules: RULES,
        notes: collected.notes.iter().map(|n| redactor.redact(n)).collect(),
        requests_sent: engine.requests_sent(),
        interrupted: collected.interrupted,
        discovered: collected
            .discovered
            .iter()
            .map(|(owner, path)| (owner.clone(), redactor.redact(path)))
            .collect(),
    })
}

/// Stable across runs and ports: the rule, the method, the path and the identities in
/// the evidence (two identities reading the same object are two findings).
fn fingerprint(f: &Finding) -> String {
    let (method, path) = match &f.location {
        Location::Http(h) => {
            let path = Url::parse(&h.url)
                .map(|u| u.target)
                .unwrap_or_else(|_| h.url.clone());
            (h.method.clone(), path)
        }
        other => (String::new(), other.to_string()),
    };
    let mut who: Vec<&str> = f
        .evidence
        .iter()
        .filter_map(|e| e.identity.as_deref())
        .collect();
    who.sort_unstable();
    who.dedup();
    let text = format!("{}\n{method}\n{path}\n{}", f.code, who.join(","));
    crate::engine::http1::sha256_hex(text.as_bytes())[..16].to_string()
}

/// `tocsin race URL`: a hand-made race with curl's conventions.
#[derive(Debug, Clone, clap::Args)]
pub struct RaceArgs {
    /// Target URL (its origin is the scope).
    pub url: String,
    /// Method (default GET, or POST with a body).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub method: Option<String>,
    /// A header, 'Name: value'. Repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Body data (form-encoded by default, like curl); `@file` reads a file. Repeatable,
    /// joined with `&`.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub data: Vec<String>,
    /// Body sent exactly as given; `@file` reads a file.
    #[arg(long = "data-binary", value_name = "DATA")]
    pub data_binary: Option<String>,
    /// A raw HTTP request file (request line, headers, body); the URL gives the origin.
    #[arg(long = "raw", value_name = "FILE", conflicts_with_all = ["method", "data", "data_binary"])]
    pub raw: Option<PathBuf>,
    /// Copies released together.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    #[arg(long, value_enum, default_value_t = SyncArg::LastByte)]
    pub sync: SyncArg,
    #[arg(long, value_enum, default_value_t = RaceFormat::Text)]
    pub format: RaceFormat,
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// One request of a race, for the table and for `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct RaceRow {
    pub index: usize,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub body_sha256: Option<String>,
    pub body_len: Option<u64>,
    /// From the batch's first release to this request's final byte.
    pub release_offset_ms: Option<f64>,
    /// From the final byte to the first response byte.
    pub response_ms: Option<f64>,
    /// From the final byte to the end of the response.
    pub total_ms: Option<f64>,
}

/// Requests that got the same status and body.
#[derive(Debug, Clone, Serialize)]
pub struct RaceGroup {
    pub status: Option<u16>,
    pub body_sha256: Option<String>,
    pub count: usize,
    /// The start of one body of the group (redacted), to tell groups apart.
    pub sample: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RaceOutcome {
    pub method: String,
    pub url: String,
    pub sync: &'static str,
    pub count: usize,
    /// From the first to the last final byte leaving the client.
    pub release_spread_ms: Option<f64>,
    pub groups: Vec<RaceGroup>,
    pub requests: Vec<RaceRow>,
}

impl RaceOutcome {
    pub fn render(&self, format: RaceFormat) -> String {
        match format {
            RaceFormat::Json => {
                serde_json::to_string_pretty(self)
                    .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
                    + "\n"
            }
            RaceFormat::Text => self.render_text(),
        }
    }

    fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} {} x{} ({})",
            self.method, self.url, self.count, self.sync
        );
        match self.release_spread_ms {
            Some(ms) => {
                let _ = writeln!(s, "release spread: {ms:.3} ms");
            }
            None => {
                let _ = writeln!(s, "release spread: n/a");
            }
        }
        let _ = writeln!(
            s,
            "\n{:>5}  {:>6}  {:<16}  sample",
            "count", "status", "body sha256"
        );
        for g in &self.groups {
            let status = g.status.map_or("error".to_string(), |s| s.to_string());
            let hash = g
                .body_sha256
                .as_deref()
                .map_or("-", |h| &h[..h.len().min(16)]);
            let _ = writeln!(
                s,
                "{:>5}  {:>6}  {:<16}  {}",
                g.count, status, hash, g.sample
            );
        }
        s
    }
}

fn read_data(text: &str) -> anyhow::Result<Vec<u8>> {
    match text.strip_prefix('@') {
        Some(path) => std::fs::read(path).with_context(|| format!("cannot read {path}")),
        None => Ok(text.as_bytes().to_vec()),
    }
}

/// Parses a raw HTTP/1.x request (as saved from a proxy) against `base`'s origin.
pub fn parse_raw_request(raw: &[u8], base: &Url) -> anyhow::Result<Request> {
    let (head_end, body_start) = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, p + 2))
        })
        .unwrap_or((raw.len(), raw.len()));
    let head = std::str::from_utf8(&raw[..head_end]).context("the request head is not UTF-8")?;
    let mut lines = head.lines();
    let line = lines.next().context("empty request file")?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        bail!("malformed request line");
    };
    let url = if target.starts_with('/') {
        base.join(target)?
    } else {
        Url::parse(target)?
    };
    let mut request = Request::new(method, url);
    for line in lines {
        let (name, value) = line.split_once(':').context("malformed header line")?;
        let name = name.trim();
        // Framing and Host are recomputed for the target.
        if ["host", "content-length", "connection", "transfer-encoding"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue;
        }
        request = request.header(name, value.trim());
    }
    let mut body = raw[body_start.min(raw.len())..].to_vec();
    // Editors add a final newline the request did not have.
    if body.ends_with(b"\n") && !body.is_empty() && head_end < raw.len() {
        let trimmed_len = body.len() - if body.ends_with(b"\r\n") { 2 } else { 1 };
        body.truncate(trimmed_len);
    }
    Ok(request.body(body))
}

/// Builds the race request from curl-style flags.
pub fn build_race_request(args: &RaceArgs) -> anyhow::Result<Request> {
    let base = Url::parse(&args.url)?;
    let mut request = match &args.raw {
        Some(path) => {
            let raw =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            parse_raw_request(&raw, &base)?
        }
        None => {
            let mut body = None;
            let mut form = false;
            if !args.data.is_empty() {
                let parts = args
                    .data
                    .iter()
                    .map(|d| read_data(d))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                body = Some(parts.join(&b'&'));
                form = true;
            }
            if let Some(d) = &args.data_binary {
                body = Some(read_data(d)?);
            }
            let method = args.method.clone().unwrap_or_else(|| {
                if body.is_some() {
                    "POST".into()
                } else {
                    "GET".into()
                }
            });
            let mut r = Request::new(&method, base.clone());
            if let Some(b) = body {
                if form {
                    r = r.header("Content-Type", "application/x-www-form-urlencoded");
                }
                r = r.body(b);
            }
            r
        }
    };
    for h in &args.headers {
        let (name, value) = h.split_once(':').with_context(|| {
            format!(
                "invalid -H `{}`: expected 'Name: value'",
                h.split(':').next().unwrap_or("")
            )
        })?;
        request.remove_header(name.trim());
        request = request.header(name.trim(), value.trim());
    }
    // A header given with -H replaces the one curl-style defaults added.
    if request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .count()
        > 1
    {
        let last = request
            .headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .cloned();
        request.remove_header("content-type");
        if let Some((n, v)) = last {
            request.headers.push((n, v));
        }
    }
    request.validate()?;
    Ok(request)
}

/// Runs `tocsin race`; the caller writes `outcome.render(args.format)` to `--output` or
/// standard output (or calls [`write_race`]).
pub fn run_race(args: &RaceArgs) -> anyhow::Result<RaceOutcome> {
    let request = build_race_request(args)?;
    let mut redactor = Redactor::new();
    for (name, value) in &request.headers {
        if is_sensitive_header(name) {
            redactor.add(name, value);
            if let Some((_, token)) = value.split_once(' ') {
                redactor.add(name, token);
            }
        }
    }
    crate::redact::register_for_panics(&redactor);
    let scrub = |e: anyhow::Error| anyhow::anyhow!(redactor.redact(&format!("{e:#}")));
    let count = args.count;
    let config = args.engine.config().map_err(scrub)?;
    if count == 0 || count > config.max_batch {
        bail!("--count must be between 1 and {}", config.max_batch);
    }
    let scope = scope_for(&request.url, &args.engine.scope).map_err(scrub)?;
    let engine = Engine::new(config, scope);
    let sync: SyncMode = args.sync.into();
    let batch = runtime()?
        .block_on(engine.batch(vec![request.clone(); count], sync))
        .map_err(|e| scrub(e.into()))?;
    Ok(race_outcome(&request, &batch, &redactor))
}

/// Writes the rendered race to `--output` or standard output.
pub fn write_race(outcome: &RaceOutcome, args: &RaceArgs) -> anyhow::Result<()> {
    let text = outcome.render(args.format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()) {
                // A closed pipe (| head) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("cannot write to standard output"),
            }
        }
    }
}

pub fn race_outcome(request: &Request, batch: &Batch, redactor: &Redactor) -> RaceOutcome {
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let origin = batch.first_release();
    let requests: Vec<RaceRow> = batch
        .exchanges
        .iter()
        .enumerate()
        .map(|(index, e)| RaceRow {
            index,
            status: e.status(),
            error: e
                .result
                .as_ref()
                .err()
                .map(|err| redactor.redact(&err.to_string())),
            body_sha256: e.response().map(|r| r.body_sha256.clone()),
            body_len: e.response().map(|r| r.body_len),
            release_offset_ms: match (origin, e.released) {
                (Some(o), Some(r)) => Some(ms(r.saturating_duration_since(o))),
                _ => None,
            },
            response_ms: e.response_time().map(ms),
            total_ms: match (e.released, e.ended) {
                (Some(r), Some(end)) => Some(ms(end.saturating_duration_since(r))),
                _ => None,
            },
        })
        .collect();
    let mut groups: Vec<RaceGroup> = Vec::new();
    for e in &batch.exchanges {
        let status = e.status();
        let hash = e.response().map(|r| r.body_sha256.clone());
        if let Some(g) = groups
            .iter_mut()
            .find(|g| g.status == status && g.body_sha256 == hash)
        {
            g.count += 1;
            continue;
        }
        let sample = match &e.result {
            Ok(r) => {
                let text = redactor.redact_bytes(&r.body);
                let flat: String = text.chars().filter(|c| !c.is_control()).take(60).collect();
                flat
            }
            Err(err) => redactor.redact(&err.to_string()),
        };
        groups.push(RaceGroup {
            status,
            body_sha256: hash,
            count: 1,
            sample,
        });
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.status.cmp(&b.status)));
    RaceOutcome {
        method: request.method.clone(),
        url: redactor.redact(&request.url.to_string()),
        sync: batch.mode.as_str(),
        count: batch.exchanges.len(),
        release_spread_ms: batch.release_spread().map(ms),
        groups,
        requests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Race {
        #[command(flatten)]
        args: RaceArgs,
    }

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        args: ProbeArgs,
    }

    #[test]
    fn curl_style_flags() {
        let r = Race::try_parse_from([
            "race",
            "http://127.0.0.1:1/redeem",
            "-d",
            "code=X",
            "-d",
            "n=1",
            "-H",
            "X-API-Key: k",
            "--count",
            "5",
            "--sync",
            "none",
        ])
        .unwrap();
        let req = build_race_request(&r.args).unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.body, b"code=X&n=1");
        assert_eq!(req.get_header("x-api-key"), Some("k"));
        assert_eq!(r.args.sync, SyncArg::None);
        let r = Race::try_parse_from([
            "race",
            "http://127.0.0.1:1/",
            "-X",
            "DELETE",
            "-H",
            "Content-Type: a/b",
            "--data-binary",
            "{}",
        ])
        .unwrap();
        let req = build_race_request(&r.args).unwrap();
        assert_eq!(
            (req.method.as_str(), req.body.as_slice()),
            ("DELETE", &b"{}"[..])
        );
        assert!(Race::try_parse_from(["race", "http://x/", "--format", "json"]).is_ok());
    }

    #[test]
    fn raw_request_files() {
        let base = Url::parse("http://127.0.0.1:9/").unwrap();
        let raw =
            b"POST /a?b=1 HTTP/1.1\r\nHost: example\r\nContent-Length: 3\r\nX-K: v\r\n\r\nabc\n";
        let r = parse_raw_request(raw, &base).unwrap();
        assert_eq!(r.url.to_string(), "http://127.0.0.1:9/a?b=1");
        assert_eq!(r.body, b"abc");
        assert_eq!(r.get_header("host"), None);
        assert!(parse_raw_request(b"", &base).is_err());
    }

    #[test]
    fn probe_flags() {
        let p = Probe::try_parse_from([
            "probe",
            "http://127.0.0.1:1",
            "--identity",
            "alice:X-API-Key=a",
            "--identity",
            "bob:bearer=b",
            "--object",
            "alice:/notes/1",
            "--endpoint",
            "GET /me",
            "--allow-destructive",
            "--format",
            "sarif",
            "--output",
            "out.sarif",
            "--select",
            "AUTH101,BOLA101",
        ])
        .unwrap();
        let plan = build_plan(&p.args, &|_| None).unwrap();
        assert_eq!(plan.identities.len(), 2);
        assert!(plan.allow_destructive);
        assert_eq!(p.args.format, ProbeFormat::Sarif);
        assert_eq!(p.args.select, vec!["AUTH101", "BOLA101"]);
    }
}
