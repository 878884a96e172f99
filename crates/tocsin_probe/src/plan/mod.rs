//! What a probe run knows about the API: identities and their keys, the objects each
//! owns, the routes, and the requests experiments need (revoke/restore, scope changes,
//! races). It comes from a TOML plan file and from flags; keys can come from the
//! environment so they stay out of shell history.

pub mod openapi;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::engine::{Request, Url};

#[derive(Debug, Error)]
pub enum PlanError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid plan {path}: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("invalid OpenAPI document {path}: {message}")]
    OpenApi { path: PathBuf, message: String },
    #[error("invalid --identity `{0}`: {1}")]
    Identity(String, String),
    #[error("invalid --object `{0}`: expected NAME:/path")]
    Object(String),
    #[error("invalid --endpoint `{0}`: expected 'METHOD /path'")]
    Endpoint(String),
    #[error("environment variable {0} is not set (needed for identity {1})")]
    Env(String, String),
    #[error("{0}")]
    Invalid(String),
}

/// A principal and the credential it sends. `value` is secret: it never leaves the crate
/// unredacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub header: String,
    pub value: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("header", &self.header)
            .field("value", &format_args!("<redacted:{}>", self.name))
            .finish()
    }
}

impl Identity {
    pub fn apply(&self, mut request: Request) -> Request {
        request.remove_header(&self.header);
        request
            .headers
            .push((self.header.clone(), self.value.clone()));
        request
    }

    pub fn bearer(name: &str, token: &str) -> Identity {
        Identity {
            name: name.to_string(),
            header: "Authorization".into(),
            value: format!("Bearer {token}"),
        }
    }

    /// The secret part: the token of a bearer credential, else the whole value.
    pub fn secret(&self) -> &str {
        self.value
            .strip_prefix("Bearer ")
            .or_else(|| self.value.strip_prefix("bearer "))
            .unwrap_or(&self.value)
    }
}

/// `--identity NAME:HEADER=VALUE`, `NAME:bearer=TOKEN` or `NAME:env=VAR`. With `env`, the
/// variable holds either `Header-Name: value` or a bare bearer token.
pub fn parse_identity(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Identity, PlanError> {
    let bad = |why: &str| PlanError::Identity(redact_arg(text), why.to_string());
    let (name, rest) = text
        .split_once(':')
        .ok_or_else(|| bad("expected NAME:HEADER=VALUE"))?;
    let (key, value) = rest
        .split_once('=')
        .ok_or_else(|| bad("expected NAME:HEADER=VALUE"))?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.".contains(c))
    {
        return Err(bad("the name must be letters, digits, `-`, `_` or `.`"));
    }
    let key = key.trim();
    if value.is_empty() {
        return Err(bad("empty value"));
    }
    if key.eq_ignore_ascii_case("bearer") {
        return Ok(Identity::bearer(name, value));
    }
    if key.eq_ignore_ascii_case("env") {
        let var = value.trim();
        let from_env = env(var).ok_or_else(|| PlanError::Env(var.to_string(), name.to_string()))?;
        return Ok(identity_from_env_value(name, &from_env));
    }
    if !is_header_name(key) {
        return Err(bad("invalid header name"));
    }
    Ok(Identity {
        name: name.to_string(),
        header: key.to_string(),
        value: value.to_string(),
    })
}

fn identity_from_env_value(name: &str, value: &str) -> Identity {
    let value = value.trim();
    if let Some((header, v)) = value.split_once(':') {
        if is_header_name(header.trim()) && !v.trim().is_empty() {
            return Identity {
                name: name.to_string(),
                header: header.trim().to_string(),
                value: v.trim().to_string(),
            };
        }
    }
    Identity::bearer(name, value)
}

/// An identity argument with its value hidden, for error messages.
fn redact_arg(text: &str) -> String {
    match text.split_once('=') {
        Some((before, _)) => format!("{before}=<redacted>"),
        None => text.to_string(),
    }
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `--object NAME:/path`.
pub fn parse_object(text: &str) -> Result<(String, String), PlanError> {
    let (name, path) = text
        .split_once(':')
        .ok_or_else(|| PlanError::Object(text.to_string()))?;
    if name.trim().is_empty() || !path.starts_with('/') {
        return Err(PlanError::Object(text.to_string()));
    }
    Ok((name.trim().to_string(), path.to_string()))
}

/// A route to probe.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub method: String,
    /// May hold `{param}` templates (from OpenAPI).
    pub path: String,
    /// Whether the API document says it requires credentials, when it says.
    pub protected: Option<bool>,
}

impl Endpoint {
    pub fn is_template(&self) -> bool {
        self.path.contains('{')
    }
}

/// `--endpoint 'METHOD /path'` (the method defaults to GET).
pub fn parse_endpoint(text: &str) -> Result<Endpoint, PlanError> {
    let text = text.trim();
    let (method, path) = match text.split_once(char::is_whitespace) {
        Some((m, p)) => (m.trim().to_ascii_uppercase(), p.trim()),
        None => ("GET".to_string(), text),
    };
    if !path.starts_with('/') || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(PlanError::Endpoint(text.to_string()));
    }
    Ok(Endpoint {
        method,
        path: path.to_string(),
        protected: None,
    })
}

/// A request written in a plan.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    /// The identity whose key it carries, if any.
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    /// A JSON body (sets Content-Type).
    #[serde(default)]
    pub json: Option<toml::Value>,
}

/// Methods that change or delete state, sent only with `--allow-destructive`.
pub fn is_destructive(method: &str) -> bool {
    matches!(
        method.to_ascii_uppercase().as_str(),
        "PUT" | "PATCH" | "DELETE"
    )
}

fn get() -> String {
    "GET".into()
}

impl PlanRequest {
    pub fn new(method: &str, path: &str) -> Self {
        PlanRequest {
            method: method.to_string(),
            path: path.to_string(),
            identity: None,
            headers: BTreeMap::new(),
            body: None,
            json: None,
        }
    }

    /// Builds the request against `base`, with `identity` (else the plan's own) applied.
    pub fn build(
        &self,
        base: &Url,
        plan: &Plan,
        identity: Option<&str>,
    ) -> Result<Request, PlanError> {
        let method = self.method.to_ascii_uppercase();
        if is_destructive(&method) && !plan.allow_destructive {
            return Err(PlanError::Invalid(format!(
                "{method} {} needs --allow-destructive (or allow_destructive = true in the plan)",
                self.path
            )));
        }
        let url = base
            .join(&self.path)
            .map_err(|e| PlanError::Invalid(e.to_string()))?;
        let mut request = Request::new(&method, url);
        for (n, v) in &self.headers {
            request = request.header(n, v);
        }
        if let Some(json) = &self.json {
            let value =
                serde_json::to_string(json).map_err(|e| PlanError::Invalid(e.to_string()))?;
            request = request
                .header("Content-Type", "application/json")
                .body(value);
        } else if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        if let Some(name) = identity.or(self.identity.as_deref()) {
            let id = plan
                .identity(name)
                .ok_or_else(|| PlanError::Invalid(format!("unknown identity `{name}`")))?;
            request = id.apply(request);
        }
        Ok(request)
    }
}

/// AUTH102: how to revoke (and restore) an identity's key, and a request it can make.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub identity: String,
    pub check: PlanRequest,
    pub revoke: PlanRequest,
    #[serde(default)]
    pub restore: Option<PlanRequest>,
    /// Or a local command that restores the key (argv, run without a shell).
    #[serde(default)]
    pub restore_command: Option<Vec<String>>,
    /// Uses released together with the revocation in the race variant.
    #[serde(default)]
    pub concurrency: Option<usize>,
    #[serde(default)]
    pub rounds: Option<usize>,
}

/// RACE101: a request meant to succeed a limited number of times.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaceSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub request: PlanRequest,
    /// Puts the server back in its initial state (so the baseline and the race start
    /// from the same state).
    #[serde(default)]
    pub reset: Option<PlanRequest>,
    /// Or a local command that resets it (argv, run without a shell).
    #[serde(default)]
    pub reset_command: Option<Vec<String>>,
    #[serde(default)]
    pub count: Option<usize>,
    /// Successes allowed; measured serially when a reset request exists.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// RACE102: a scope change released together with reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeChange {
    pub identity: String,
    pub change: PlanRequest,
    pub restore: PlanRequest,
    pub read: PlanRequest,
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub rounds: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    name: String,
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    value_env: Option<String>,
    #[serde(default)]
    bearer: Option<String>,
    #[serde(default)]
    bearer_env: Option<String>,
    #[serde(default)]
    objects: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
    #[serde(default)]
    allow_destructive: bool,
    #[serde(default, rename = "identity")]
    identities: Vec<RawIdentity>,
    #[serde(default)]
    endpoints: Vec<String>,
    #[serde(default)]
    openapi: Option<PathBuf>,
    #[serde(default)]
    skip: Vec<String>,
    #[serde(default)]
    shared: Vec<String>,
    #[serde(default)]
    protected: Vec<String>,
    #[serde(default, rename = "revocation")]
    revocations: Vec<Revocation>,
    #[serde(default, rename = "race")]
    races: Vec<RaceSpec>,
    #[serde(default, rename = "scope_change")]
    scope_changes: Vec<ScopeChange>,
}

/// Everything a probe run knows, merged from the plan file and the flags.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub target: Option<String>,
    /// Extra origins besides the target's.
    pub scope: Vec<String>,
    pub allow_destructive: bool,
    pub identities: Vec<Identity>,
    /// identity name -> object paths it owns.
    pub objects: BTreeMap<String, Vec<String>>,
    pub endpoints: Vec<Endpoint>,
    /// Patterns (`/path`, `/prefix/*`, `METHOD /path`) never probed.
    pub skip: Vec<String>,
    /// Paths every identity may legitimately read (not BOLA).
    pub shared: Vec<String>,
    /// Paths known to require a key (AUTH101 judges them even when every variant passes).
    pub protected: Vec<String>,
    pub revocations: Vec<Revocation>,
    pub races: Vec<RaceSpec>,
    pub scope_changes: Vec<ScopeChange>,
}

impl Plan {
    pub fn identity(&self, name: &str) -> Option<&Identity> {
        self.identities.iter().find(|i| i.name == name)
    }

    pub fn from_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Plan::from_toml(&text, path, env)
    }

    pub fn from_toml(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Plan, PlanError> {
        let raw: RawPlan = toml::from_str(text).map_err(|e| PlanError::Toml {
            path: path.to_path_buf(),
            // toml echoes the offending line; a plan may hold keys, so keep the message only.
            message: e.message().to_string(),
        })?;
        let mut plan = Plan {
            target: raw.target,
            scope: raw.scope,
            allow_destructive: raw.allow_destructive,
            skip: raw.skip,
            shared: raw.shared,
            protected: raw.protected,
            revocations: raw.revocations,
            races: raw.races,
            scope_changes: raw.scope_changes,
            ..Plan::default()
        };
        for raw_id in raw.identities {
            let name = raw_id.name.clone();
            let need =
                |var: &str| env(var).ok_or_else(|| PlanError::Env(var.to_string(), name.clone()));
            let identity = match (
                &raw_id.value,
                &raw_id.value_env,
                &raw_id.bearer,
                &raw_id.bearer_env,
            ) {
                (Some(v), None, None, None) => Identity {
                    name: name.clone(),
                    header: raw_id.header.clone().unwrap_or_else(|| "X-API-Key".into()),
                    value: v.clone(),
                },
                (None, Some(var), None, None) => {
                    let v = need(var)?;
                    match &raw_id.header {
                        Some(h) => Identity {
                            name: name.clone(),
                            header: h.clone(),
                            value: v.trim().to_string(),
                        },
                        None => identity_from_env_value(&name, &v),
                    }
                }
                (None, None, Some(t), None) => Identity::bearer(&name, t),
                (None, None, None, Some(var)) => Identity::bearer(&name, need(var)?.trim()),
                _ => {
                    return Err(PlanError::Invalid(format!(
                    "identity `{name}` needs exactly one of value, value_env, bearer, bearer_env"
                )))
                }
            };
            if !is_header_name(&identity.header) {
                return Err(PlanError::Invalid(format!(
                    "identity `{name}`: invalid header name"
                )));
            }
            plan.objects
                .entry(name.clone())
                .or_default()
                .extend(raw_id.objects);
            plan.add_identity(identity);
        }
        for e in raw.endpoints {
            plan.endpoints.push(parse_endpoint(&e)?);
        }
        if let Some(spec) = raw.openapi {
            let spec = if spec.is_relative() {
                path.parent().unwrap_or(Path::new(".")).join(spec)
            } else {
                spec
            };
            plan.endpoints.extend(openapi::load(&spec)?);
        }
        Ok(plan)
    }

    /// Adds or replaces (flags win over the plan file).
    pub fn add_identity(&mut self, identity: Identity) {
        self.identities.retain(|i| i.name != identity.name);
        self.identities.push(identity);
    }

    pub fn add_object(&mut self, owner: &str, path: &str) {
        let list = self.objects.entry(owner.to_string()).or_default();
        if !list.iter().any(|p| p == path) {
            list.push(path.to_string());
        }
    }

    pub fn is_skipped(&self, method: &str, path: &str) -> bool {
        self.skip.iter().any(|p| pattern_matches(p, method, path))
    }

    pub fn is_shared(&self, path: &str) -> bool {
        self.shared.iter().any(|p| pattern_matches(p, "GET", path))
    }

    pub fn is_declared_protected(&self, method: &str, path: &str) -> bool {
        self.protected
            .iter()
            .any(|p| pattern_matches(p, method, path))
    }
}

/// `METHOD /path` or `/path`; `*` matches any run of characters.
pub fn pattern_matches(pattern: &str, method: &str, path: &str) -> bool {
    let pattern = pattern.trim();
    let (pm, pp) = match pattern.split_once(char::is_whitespace) {
        Some((m, p)) => (Some(m), p.trim()),
        None => (None, pattern),
    };
    if pm.is_some_and(|m| !m.eq_ignore_ascii_case(method)) {
        return false;
    }
    let path = path.split('?').next().unwrap_or(path);
    wildcard(pp.as_bytes(), path.as_bytes())
}

fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with one backtrack point: linear enough, no recursion.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Whether a concrete path is an instance of a `{param}` template.
pub fn template_matches(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter().zip(&p).all(|(a, b)| {
            (a.starts_with('{') && a.ends_with('}') && !b.is_empty())
                || a.starts_with('<') && a.ends_with('>') && !b.is_empty()
                || a == b
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn identity_forms() {
        let env = |v: &str| match v {
            "ALICE" => Some("X-API-Key: k-alice".to_string()),
            "BOB" => Some("tok-bob".to_string()),
            _ => None,
        };
        let a = parse_identity("alice:X-API-Key=abc=def", &env).unwrap();
        assert_eq!(
            (a.header.as_str(), a.value.as_str()),
            ("X-API-Key", "abc=def")
        );
        let b = parse_identity("bob:bearer=t0k", &env).unwrap();
        assert_eq!(b.value, "Bearer t0k");
        assert_eq!(b.secret(), "t0k");
        let c = parse_identity("c:env=ALICE", &env).unwrap();
        assert_eq!(
            (c.header.as_str(), c.value.as_str()),
            ("X-API-Key", "k-alice")
        );
        let d = parse_identity("d:env=BOB", &env).unwrap();
        assert_eq!(d.value, "Bearer tok-bob");
        for bad in ["nocolon", "a:nokey", "a:X Y=v", ":h=v", "a:h="] {
            assert!(parse_identity(bad, &env).is_err(), "{bad}");
        }
        let err = parse_identity("a:Bad Header=supersecret", &env)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("supersecret"), "{err}");
        assert!(parse_identity("e:env=MISSING", &no_env).is_err());
        assert!(!format!("{a:?}").contains("abc=def"));
    }

    #[test]
    fn objects_endpoints_patterns() {
        assert_eq!(
            parse_object("alice:/notes/1").unwrap(),
            ("alice".into(), "/notes/1".into())
        );
        assert!(parse_object("alice:notes").is_err());
        let e = parse_endpoint("put /notes/{id}").unwrap();
        assert_eq!((e.method.as_str(), e.path.as_str()), ("PUT", "/notes/{id}"));
        assert_eq!(parse_endpoint("/health").unwrap().method, "GET");
        assert!(parse_endpoint("GET health").is_err());
        assert!(pattern_matches("/admin/*", "GET", "/admin/x/y"));
        assert!(pattern_matches("DELETE /notes/*", "DELETE", "/notes/1"));
        assert!(!pattern_matches("DELETE /notes/*", "GET", "/notes/1"));
        assert!(!pattern_matches("/admin", "GET", "/admin/x"));
        assert!(template_matches("/notes/{id}", "/notes/7"));
        assert!(!template_matches("/notes/{id}", "/notes/7/x"));
    }

    #[test]
    fn plan_file() {
        let env = |v: &str| (v == "BOB_KEY").then(|| "kb".to_string());
        let text = r#"
            skip = ["/admin/*"]
            [[identity]]
            name = "alice"
            header = "X-API-Key"
            value = "ka"
            objects = ["/notes/1"]
            [[identity]]
            name = "bob"
            header = "X-API-Key"
            value_env = "BOB_KEY"
            [[race]]
            request = { method = "POST", path = "/redeem", identity = "alice", json = { code = "X" } }
            reset = { method = "POST", path = "/reset" }
            count = 5
            [[revocation]]
            identity = "alice"
            check = { path = "/me" }
            revoke = { method = "POST", path = "/revoke" }
        "#;
        let plan = Plan::from_toml(text, Path::new("plan.toml"), &env).unwrap();
        assert_eq!(plan.identities.len(), 2);
        assert_eq!(plan.identity("bob").unwrap().value, "kb");
        assert_eq!(plan.objects["alice"], vec!["/notes/1".to_string()]);
        assert!(plan.is_skipped("GET", "/admin/users"));
        let base = Url::parse("http://127.0.0.1:1/").unwrap();
        let req = plan.races[0].request.build(&base, &plan, None).unwrap();
        assert_eq!(req.get_header("x-api-key"), Some("ka"));
        assert_eq!(req.body, br#"{"code":"X"}"#);
        let delete = PlanRequest::new("DELETE", "/keys/alice");
        assert!(delete.build(&base, &plan, None).is_err());
        let mut permissive = plan.clone();
        permissive.allow_destructive = true;
        assert!(delete.build(&base, &permissive, None).is_ok());
        let err = Plan::from_toml(
            "[[identity]]\nname='x'\nvalue='s3cret'\nbogus=1",
            Path::new("p"),
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
