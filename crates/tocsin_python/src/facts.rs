//! Facts about one function: where its values come from (provenance), which checks
//! refuse the request, which data it accesses with which values, and which shared
//! state it reads and writes.
//!
//! The analysis is a single forward pass over the function body with an environment
//! from local names to origins. It is flow-insensitive across branches (origins of a
//! name are the union over its assignments), which errs towards keeping a source: a
//! missed source would hide a finding, an extra one is filtered by the rules' checks.

use ruff_python_ast::{
    self as ast, CmpOp, ExceptHandler, Expr, Stmt, StmtClassDef, StmtFunctionDef,
};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::index::{class_member, Binding, Index, Member, Resolved};
use crate::project::ModuleId;
use crate::source::Loc;

/// Where a request value is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestSource {
    Path,
    Args,
    Form,
    Values,
    Json,
    Data,
    Headers,
    Cookies,
    Files,
}

impl RequestSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestSource::Path => "path",
            RequestSource::Args => "args",
            RequestSource::Form => "form",
            RequestSource::Values => "values",
            RequestSource::Json => "json",
            RequestSource::Data => "data",
            RequestSource::Headers => "headers",
            RequestSource::Cookies => "cookies",
            RequestSource::Files => "files",
        }
    }
}

/// Where the caller's identity comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum Principal {
    /// An API key or token in a request header (any header name but Authorization).
    Header(String),
    /// An API key or token in the query string.
    Query(String),
    /// An API key or token in a cookie.
    Cookie(String),
    /// `Authorization` header (bearer or other scheme), or `request.authorization`.
    Authorization,
    /// `session[...]`.
    Session(Option<String>),
    /// `g.<name>`, set by a guard or hook.
    G(String),
    /// flask-login / flask-httpauth current user.
    CurrentUser,
    /// flask-jwt-extended `get_jwt_identity()`.
    JwtIdentity,
    /// The claims of a decoded token (`jwt.decode`, `get_jwt()`).
    JwtClaims,
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Header(name) => write!(f, "header {name}"),
            Principal::Query(name) => write!(f, "query {name}"),
            Principal::Cookie(name) => write!(f, "cookie {name}"),
            Principal::Authorization => f.write_str("authorization header"),
            Principal::Session(Some(key)) => write!(f, "session[{key}]"),
            Principal::Session(None) => f.write_str("session"),
            Principal::G(name) => write!(f, "g.{name}"),
            Principal::CurrentUser => f.write_str("current_user"),
            Principal::JwtIdentity => f.write_str("jwt identity"),
            Principal::JwtClaims => f.write_str("jwt claims"),
        }
    }
}

/// A module-level variable, identified by its module and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateRef {
    pub module: ModuleId,
    pub name: String,
}

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Request {
        source: RequestSource,
        field: Option<String>,
    },
    Principal(Principal),
    /// Read from module-level mutable state.
    Shared(StateRef),
    /// The function's n-th parameter (for summaries of helpers and decorators).
    Param(usize),
    /// A row or value loaded through the database layer.
    Db(String),
    /// A field of a row of the model: `(model, field)`.
    DbField(String, String),
    /// A value read from a cache or key-value store client.
    Cache(String),
}

/// A small set of origins, kept sorted and unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(Vec<Origin>);

impl Origins {
    pub fn one(origin: Origin) -> Origins {
        Origins(vec![origin])
    }
    pub fn insert(&mut self, origin: Origin) {
        if let Err(at) = self.0.binary_search(&origin) {
            // Bound the set: a value derived from dozens of sources is not precise
            // evidence for anything.
            if self.0.len() < 32 {
                self.0.insert(at, origin);
            }
        }
    }
    pub fn extend(&mut self, other: &Origins) {
        for origin in &other.0 {
            self.insert(origin.clone());
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &Origin> {
        self.0.iter()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn has_request(&self) -> bool {
        self.0.iter().any(|o| matches!(o, Origin::Request { .. }))
    }
    pub fn has_principal(&self) -> bool {
        self.0.iter().any(|o| matches!(o, Origin::Principal(_)))
    }
    pub fn shared(&self) -> impl Iterator<Item = &StateRef> {
        self.0.iter().filter_map(|o| match o {
            Origin::Shared(s) => Some(s),
            _ => None,
        })
    }
}

/// How a check refuses the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    Abort(Option<u16>),
    Return(Option<u16>),
    Raise,
    RedirectToLogin,
    /// A call to a helper whose summary refuses.
    Helper,
}

/// A condition whose failing branch refuses the request.
#[derive(Debug, Clone)]
pub struct Check {
    pub loc: Loc,
    /// Values the condition reads.
    pub reads: Origins,
    pub refusal: Refusal,
    /// Name of the helper that performs it, when it is a call to one.
    pub via: Option<String>,
    /// Events recorded while evaluating the condition have sequence numbers in
    /// `seq_start..seq`; the check itself completes at `seq`.
    pub seq_start: u32,
    pub seq: u32,
    /// The `with <lock>:` block it runs in, if any (an id unique within the facts).
    pub lock: Option<u32>,
    /// The condition compares the caller's identity with a literal (a role or scope
    /// name): `claims["role"] != "support"`.
    pub role: bool,
}

/// Any condition (`if`/`while` test), refusing or not: the "check" of a
/// read-check-write sequence.
#[derive(Debug, Clone)]
pub struct Condition {
    pub loc: Loc,
    pub reads: Origins,
    /// Events of the test's evaluation have sequence numbers in `seq_start..seq`.
    pub seq_start: u32,
    pub seq: u32,
    pub lock: Option<u32>,
}

/// A keyed read of module-level state: `S[k]`, `S.get(k)`, `k in S`.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub state: StateRef,
    pub key: Origins,
    /// Source text of the key expression (to match `S[k]` with a later `S[k] = …`).
    pub key_text: String,
    pub seq: u32,
}

/// `obj.attr = ...` / `obj.attr -= ...` on an object loaded from the database.
#[derive(Debug, Clone)]
pub struct FieldWrite {
    pub loc: Loc,
    pub model: String,
    pub field: String,
    /// Origins of the assigned value.
    pub value: Origins,
    pub augmented: bool,
    pub seq: u32,
    pub lock: Option<u32>,
}

/// `cache.get(k)` / `cache.set(k, v)` on a cache or key-value client.
#[derive(Debug, Clone)]
pub struct CacheWrite {
    pub loc: Loc,
    pub cache: String,
    pub value: Origins,
    pub seq: u32,
    pub lock: Option<u32>,
}

/// `session["k"] = v`.
#[derive(Debug, Clone)]
pub struct SessionWrite {
    pub loc: Loc,
    pub key: Option<String>,
    pub seq: u32,
}

/// A read of a request field.
#[derive(Debug, Clone)]
pub struct RequestRead {
    pub source: RequestSource,
    pub field: Option<String>,
    pub loc: Loc,
    pub seq: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AccessKind {
    /// SQLAlchemy/flask-sqlalchemy on model `model`, via `method`.
    Orm { model: String, method: String },
    /// Raw SQL through `execute`.
    Sql,
    /// Indexing a module-level container.
    Index { container: String },
    /// A file-system call (`open`, `send_file`, ...).
    File { call: String },
    /// A project helper whose summary accesses data with this argument.
    Helper { name: String },
}

/// A data access and the values that select what is accessed.
#[derive(Debug, Clone)]
pub struct Access {
    pub loc: Loc,
    pub kind: AccessKind,
    /// Values selecting the object (ids, keys, paths, filter values).
    pub args: Origins,
    /// Filter/keyword fields that carry a principal value (`owner_id=current_user.id`).
    pub principal_scoped: bool,
    pub seq: u32,
    pub lock: Option<u32>,
    /// For helper calls: origins of what the helper returns (the loaded object).
    pub result: Origins,
    /// What is reached: the model, the container, `files`, or `sql` (for helpers,
    /// what the helper reaches).
    pub target: String,
    /// Origins of every filter/query argument (`principal_scoped` derives from it).
    pub filter: Origins,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteKind {
    Assign,
    Delete,
    MethodCall,
    Rebind,
}

#[derive(Debug, Clone)]
pub struct Write {
    pub state: StateRef,
    pub loc: Loc,
    pub kind: WriteKind,
    /// Origins of the written value (for read-modify-write detection).
    pub value: Origins,
    /// Source text of the subscript key, for `S[k] = …` writes.
    pub key_text: String,
    /// Made by this function itself, not by a helper it calls.
    pub direct: bool,
    pub seq: u32,
    pub lock: Option<u32>,
}

/// Everything the analysis learnt about one function.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub checks: Vec<Check>,
    pub accesses: Vec<Access>,
    pub principals: Vec<(Principal, Loc)>,
    pub request_reads: Vec<RequestRead>,
    pub shared_reads: Vec<(StateRef, Loc)>,
    pub writes: Vec<Write>,
    pub conditions: Vec<Condition>,
    pub lookups: Vec<Lookup>,
    pub field_writes: Vec<FieldWrite>,
    pub cache_writes: Vec<CacheWrite>,
    pub session_writes: Vec<SessionWrite>,
    /// Models loaded with `with_for_update()` (row-locked) in this function.
    pub locked_models: Vec<String>,
    /// Sequence numbers and lock ids handed out so far.
    pub seq_count: u32,
    pub lock_count: u32,
    /// `g.<name>` attributes it sets.
    pub sets_g: Vec<String>,
    /// Origins of returned values (`Param(i)` for summaries).
    pub returns: Origins,
    /// Whether any path refuses the request (for decorators and guard helpers).
    pub refuses: bool,
    /// Stretches of the function that run only for some request methods
    /// (`if request.method == "GET": … return`): one view serving several methods is
    /// several routes for authorization purposes.
    pub method_scopes: Vec<MethodScope>,
}

/// The request methods a stretch of code runs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodFilter {
    Only(Vec<String>),
    Except(Vec<String>),
}

impl MethodFilter {
    pub fn allows(&self, method: &str) -> bool {
        match self {
            MethodFilter::Only(m) => m.iter().any(|x| x == method),
            MethodFilter::Except(m) => !m.iter().any(|x| x == method),
        }
    }

    fn negated(&self) -> MethodFilter {
        match self {
            MethodFilter::Only(m) => MethodFilter::Except(m.clone()),
            MethodFilter::Except(m) => MethodFilter::Only(m.clone()),
        }
    }
}

/// Events with sequence numbers in `seq_start..seq_end` run only for the methods the
/// filter allows.
#[derive(Debug, Clone)]
pub struct MethodScope {
    pub filter: MethodFilter,
    pub seq_start: u32,
    pub seq_end: u32,
}

impl Facts {
    /// Whether the function branches on the request method.
    pub fn branches_on_method(&self) -> bool {
        !self.method_scopes.is_empty()
    }

    /// The facts of one request method: events inside branches for other methods are
    /// dropped.
    pub fn for_method(&self, method: &str) -> Facts {
        let scopes = &self.method_scopes;
        let runs = |seq: u32| {
            !scopes
                .iter()
                .any(|s| s.seq_start <= seq && seq < s.seq_end && !s.filter.allows(method))
        };
        let mut facts = self.clone();
        facts.checks.retain(|e| runs(e.seq));
        facts.accesses.retain(|e| runs(e.seq));
        facts.request_reads.retain(|e| runs(e.seq));
        facts.writes.retain(|e| runs(e.seq));
        facts.conditions.retain(|e| runs(e.seq));
        facts.lookups.retain(|e| runs(e.seq));
        facts.field_writes.retain(|e| runs(e.seq));
        facts.cache_writes.retain(|e| runs(e.seq));
        facts.session_writes.retain(|e| runs(e.seq));
        facts.method_scopes.clear();
        facts
    }

    /// Applies a callee's summary at a call site: its checks, accesses, reads and
    /// writes happen there, in the callee's order, with parameters replaced by the
    /// call's arguments. A callee's own `with lock:` blocks keep their identity; the
    /// rest inherits the caller's lock.
    fn merge_callee(
        &mut self,
        callee: &Facts,
        call_loc: Loc,
        name: &str,
        args: &[Origins],
        caller_lock: Option<u32>,
    ) {
        let map = |origins: &Origins| -> Origins {
            let mut out = Origins::default();
            for origin in origins.iter() {
                match origin {
                    Origin::Param(i) => {
                        if let Some(arg) = args.get(*i) {
                            out.extend(arg);
                        }
                    }
                    other => out.insert(other.clone()),
                }
            }
            out
        };
        let seq_base = self.seq_count;
        let lock_base = self.lock_count;
        let seq = |s: u32| seq_base + s;
        let lock = |l: Option<u32>| l.map(|l| lock_base + l).or(caller_lock);
        for access in &callee.accesses {
            self.accesses.push(Access {
                loc: call_loc,
                kind: AccessKind::Helper {
                    name: name.to_string(),
                },
                args: map(&access.args),
                principal_scoped: access.principal_scoped || map(&access.filter).has_principal(),
                seq: seq(access.seq),
                lock: lock(access.lock),
                result: map(&callee.returns),
                target: access.target.clone(),
                filter: map(&access.filter),
            });
        }
        for check in &callee.checks {
            self.checks.push(Check {
                loc: call_loc,
                reads: map(&check.reads),
                refusal: Refusal::Helper,
                via: Some(name.to_string()),
                seq_start: seq(check.seq_start),
                seq: seq(check.seq),
                lock: lock(check.lock),
                role: check.role,
            });
        }
        for condition in &callee.conditions {
            self.conditions.push(Condition {
                loc: call_loc,
                reads: map(&condition.reads),
                seq_start: seq(condition.seq_start),
                seq: seq(condition.seq),
                lock: lock(condition.lock),
            });
        }
        for lookup in &callee.lookups {
            self.lookups.push(Lookup {
                state: lookup.state.clone(),
                key: map(&lookup.key),
                key_text: lookup.key_text.clone(),
                seq: seq(lookup.seq),
            });
        }
        for (principal, _) in &callee.principals {
            self.principals.push((principal.clone(), call_loc));
        }
        for (state, _) in &callee.shared_reads {
            self.shared_reads.push((state.clone(), call_loc));
        }
        for write in &callee.writes {
            self.writes.push(Write {
                state: write.state.clone(),
                loc: call_loc,
                kind: write.kind,
                value: map(&write.value),
                key_text: write.key_text.clone(),
                direct: false,
                seq: seq(write.seq),
                lock: lock(write.lock),
            });
        }
        for write in &callee.field_writes {
            self.field_writes.push(FieldWrite {
                loc: call_loc,
                value: map(&write.value),
                seq: seq(write.seq),
                lock: lock(write.lock),
                ..write.clone()
            });
        }
        for write in &callee.cache_writes {
            self.cache_writes.push(CacheWrite {
                loc: call_loc,
                value: map(&write.value),
                seq: seq(write.seq),
                lock: lock(write.lock),
                cache: write.cache.clone(),
            });
        }
        for write in &callee.session_writes {
            self.session_writes.push(SessionWrite {
                loc: call_loc,
                key: write.key.clone(),
                seq: seq(write.seq),
            });
        }
        for read in &callee.request_reads {
            self.request_reads.push(RequestRead {
                seq: seq(read.seq),
                ..read.clone()
            });
        }
        self.locked_models
            .extend(callee.locked_models.iter().cloned());
        self.sets_g.extend(callee.sets_g.iter().cloned());
        if callee.refuses {
            self.refuses = true;
        }
        self.seq_count += callee.seq_count + 1;
        self.lock_count += callee.lock_count + 1;
    }
}

/// How the parameters of the analysed function are seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamMode {
    /// A view: every parameter but `self` is a URL variable.
    View,
    /// A helper: parameters are `Param(i)`.
    Summary,
}

/// Computes facts for functions, memoising summaries of project helpers.
pub struct Analyzer<'a, 'i> {
    pub index: &'i Index<'a>,
    summaries: FxHashMap<(ModuleId, TextRange), Facts>,
    in_progress: Vec<(ModuleId, TextRange)>,
}

impl<'a, 'i> Analyzer<'a, 'i> {
    pub fn new(index: &'i Index<'a>) -> Self {
        Analyzer {
            index,
            summaries: FxHashMap::default(),
            in_progress: Vec::new(),
        }
    }

    /// Facts of `function` in `module`; `class` is the enclosing class, if a method.
    pub fn facts(
        &mut self,
        module: ModuleId,
        function: &'a StmtFunctionDef,
        class: Option<&'a StmtClassDef>,
        mode: ParamMode,
    ) -> Facts {
        let mut walker = Walker {
            analyzer: self,
            module,
            class,
            env: FxHashMap::default(),
            globals: Vec::new(),
            facts: Facts::default(),
            depth: 0,
            locks: Vec::new(),
            augmented: false,
        };
        let params = function
            .parameters
            .iter_non_variadic_params()
            .map(|p| &p.parameter);
        let mut position = 0usize;
        // Fuzzing: a method whose first parameter is not `self`/`cls` (a staticmethod)
        // made `position - 1` underflow. Only a receiver actually skipped shifts the
        // argument positions.
        let mut receiver = 0usize;
        for parameter in params {
            let name = parameter.name.as_str();
            if class.is_some() && position == 0 && (name == "self" || name == "cls") {
                position += 1;
                receiver = 1;
                continue;
            }
            let origin = match mode {
                ParamMode::View => Origin::Request {
                    source: RequestSource::Path,
                    field: Some(name.to_string()),
                },
                ParamMode::Summary => Origin::Param(position - receiver),
            };
            walker.env.insert(name.to_string(), Origins::one(origin));
            position += 1;
        }
        walker.body(&function.body);
        walker.facts
    }

    /// The memoised summary of a project function; empty while it is being computed
    /// (recursion).
    pub fn summary(
        &mut self,
        module: ModuleId,
        function: &'a StmtFunctionDef,
        class: Option<&'a StmtClassDef>,
    ) -> Facts {
        let key = (module, function.range);
        if let Some(summary) = self.summaries.get(&key) {
            return summary.clone();
        }
        if self.in_progress.contains(&key) || self.in_progress.len() > 12 {
            return Facts::default();
        }
        self.in_progress.push(key);
        let facts = self.facts(module, function, class, ParamMode::Summary);
        self.in_progress.pop();
        self.summaries.insert(key, facts.clone());
        facts
    }
}

struct Walker<'w, 'a, 'i> {
    analyzer: &'w mut Analyzer<'a, 'i>,
    module: ModuleId,
    class: Option<&'a StmtClassDef>,
    env: FxHashMap<String, Origins>,
    /// Names declared `global` in this function.
    globals: Vec<String>,
    facts: Facts,
    depth: usize,
    /// Ids of the `with <lock>:` blocks we are in, innermost last.
    locks: Vec<u32>,
    /// Whether the assignment being recorded is augmented (`+=`).
    augmented: bool,
}

/// HTTP statuses that mean "you may not" (or "no such object for you").
fn is_refusal_status(status: u16) -> bool {
    matches!(status, 401 | 403 | 404)
}

fn int_literal(expr: &Expr) -> Option<u16> {
    match expr {
        Expr::NumberLiteral(n) => match &n.value {
            ast::Number::Int(i) => i.as_u64().and_then(|v| u16::try_from(v).ok()),
            _ => None,
        },
        _ => None,
    }
}

pub fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::StringLiteral(s) => Some(s.value.to_str()),
        _ => None,
    }
}

/// Does this header/query/cookie name look like it carries a credential?
pub fn is_credential_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase().replace('-', "_");
    if lower == "authorization" {
        return true;
    }
    let tokens: Vec<&str> = lower.split('_').filter(|t| !t.is_empty()).collect();
    tokens.iter().any(|t| {
        matches!(
            *t,
            "key"
                | "apikey"
                | "token"
                | "secret"
                | "auth"
                | "signature"
                | "jwt"
                | "bearer"
                | "session"
                | "password"
        )
    }) && !tokens
        .last()
        .is_some_and(|t| matches!(*t, "id" | "type" | "name" | "count" | "length" | "format"))
}

/// `g` attributes that hold the caller's identity rather than a resource handle.
fn is_principal_g_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "user",
        "identity",
        "principal",
        "key",
        "token",
        "account",
        "client",
        "tenant",
        "scope",
        "claims",
        "auth",
        "caller",
        "owner",
        "customer",
        "member",
        "partner",
        "org",
        "team",
        "actor",
        "subject",
        "role",
        "grant",
    ]
    .iter()
    .any(|t| lower.contains(t))
}

fn is_mutating_method(name: &str) -> bool {
    matches!(
        name,
        "pop"
            | "popitem"
            | "update"
            | "setdefault"
            | "clear"
            | "append"
            | "add"
            | "remove"
            | "discard"
            | "extend"
            | "insert"
            | "appendleft"
            | "popleft"
            | "difference_update"
            | "intersection_update"
            | "symmetric_difference_update"
            | "sort"
            | "reverse"
    )
}

/// Is this module-level value a mutable container?
pub fn is_container_value(index: &Index<'_>, module: ModuleId, value: &Expr) -> bool {
    match value {
        Expr::Dict(_)
        | Expr::List(_)
        | Expr::Set(_)
        | Expr::DictComp(_)
        | Expr::ListComp(_)
        | Expr::SetComp(_) => true,
        Expr::Call(call) => index.qualified(module, &call.func).is_some_and(|q| {
            matches!(
                q.as_str(),
                "builtins.dict"
                    | "builtins.list"
                    | "builtins.set"
                    | "collections.defaultdict"
                    | "collections.OrderedDict"
                    | "collections.Counter"
                    | "collections.deque"
                    | "cachetools.TTLCache"
                    | "cachetools.LRUCache"
            )
        }),
        _ => false,
    }
}

impl<'a> Walker<'_, 'a, '_> {
    fn loc(&self, node: &impl Ranged) -> Loc {
        self.analyzer.index.loc(self.module, node)
    }

    /// `role != "admin"`, `"admin" not in claims["roles"]`, `user.is_admin` style
    /// comparisons of something derived from the caller with a literal.
    fn compares_principal_with_literal(&self, test: &Expr) -> bool {
        match test {
            Expr::BoolOp(b) => b
                .values
                .iter()
                .any(|v| self.compares_principal_with_literal(v)),
            Expr::UnaryOp(u) => self.compares_principal_with_literal(&u.operand),
            Expr::Compare(c) => {
                let sides: Vec<&Expr> = std::iter::once(&*c.left)
                    .chain(c.comparators.iter())
                    .collect();
                let literal = sides.iter().any(|e| {
                    string_literal(e).is_some()
                        || matches!(e, Expr::Set(_) | Expr::Tuple(_) | Expr::List(_))
                });
                literal && sides.iter().any(|e| self.peek_principal(e))
            }
            Expr::Attribute(a) => {
                let lower = a.attr.as_str().to_ascii_lowercase();
                (lower.starts_with("is_admin") || lower == "is_staff" || lower == "is_superuser")
                    && self.peek_principal(&a.value)
            }
            _ => false,
        }
    }

    /// Does this expression derive from the caller's identity? (Without recording.)
    fn peek_principal(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Name(n) => {
                self.env
                    .get(n.id.as_str())
                    .is_some_and(Origins::has_principal)
                    || matches!(
                        self.qualified(expr).as_deref(),
                        Some("flask_login.current_user" | "flask.session")
                    )
            }
            Expr::Attribute(a) => {
                self.qualified(&a.value).as_deref() == Some("flask.g")
                    || self.peek_principal(&a.value)
            }
            Expr::Subscript(s) => self.peek_principal(&s.value),
            Expr::Call(c) => match &*c.func {
                Expr::Attribute(a) => self.peek_principal(&a.value),
                other => self
                    .qualified(other)
                    .is_some_and(|q| q.starts_with("flask_jwt_extended.get_jwt")),
            },
            _ => false,
        }
    }

    fn condition(&mut self, test: &Expr, reads: &Origins, seq_start: u32) {
        let loc = self.loc(test);
        let (seq, lock) = self.at();
        self.facts.conditions.push(Condition {
            loc,
            reads: reads.clone(),
            seq_start,
            seq,
            lock,
        });
    }

    /// The next sequence number and the current lock.
    fn at(&mut self) -> (u32, Option<u32>) {
        let seq = self.facts.seq_count;
        self.facts.seq_count += 1;
        (seq, self.locks.last().copied())
    }

    fn push_write(&mut self, state: StateRef, loc: Loc, kind: WriteKind, value: Origins) {
        let (seq, lock) = self.at();
        self.facts.writes.push(Write {
            state,
            loc,
            kind,
            value,
            key_text: String::new(),
            direct: true,
            seq,
            lock,
        });
    }

    /// `S[k]` / `S.get(k)` on module-level state: a lookup (for TOC rules) and an
    /// access selected by the key (for BOLA rules).
    fn keyed_read(&mut self, state: &StateRef, key: &Origins, key_expr: Option<&Expr>, loc: Loc) {
        self.push_lookup(state.clone(), key.clone(), key_expr);
        self.push_access(
            loc,
            AccessKind::Index {
                container: state.name.clone(),
            },
            key.clone(),
            false,
        );
    }

    fn push_lookup(&mut self, state: StateRef, key: Origins, key_expr: Option<&Expr>) {
        let key_text = key_expr.map(|k| self.text(k)).unwrap_or_default();
        let (seq, _) = self.at();
        self.facts.lookups.push(Lookup {
            state,
            key,
            key_text,
            seq,
        });
    }

    fn text(&self, expr: &Expr) -> String {
        let loc = self.loc(expr);
        self.analyzer
            .index
            .project
            .file(loc.file)
            .slice(loc.range)
            .to_string()
    }

    fn push_access(&mut self, loc: Loc, kind: AccessKind, args: Origins, principal_scoped: bool) {
        let (seq, lock) = self.at();
        let target = match &kind {
            AccessKind::Orm { model, .. } => model.clone(),
            AccessKind::Index { container } => container.clone(),
            AccessKind::File { .. } => "files".to_string(),
            AccessKind::Sql => "sql".to_string(),
            AccessKind::Helper { name } => format!("{name}()"),
        };
        self.facts.accesses.push(Access {
            loc,
            kind,
            filter: args.clone(),
            args,
            principal_scoped,
            seq,
            lock,
            result: Origins::default(),
            target,
        });
    }

    /// Is this `with` item a lock? A name or attribute that says so (`lock`,
    /// `self._lock`) or a module variable holding a `threading` lock.
    fn is_lock(&self, expr: &Expr) -> bool {
        let named = last_name(expr).is_some_and(|n| {
            let lower = n.to_ascii_lowercase();
            lower.contains("lock") || lower.contains("mutex")
        });
        if named {
            return true;
        }
        let Expr::Name(name) = expr else { return false };
        match self
            .analyzer
            .index
            .resolve_name(self.module, name.id.as_str())
        {
            Some(Resolved::Project(Binding::Variable(m, _, Expr::Call(call)))) => self
                .analyzer
                .index
                .qualified(m, &call.func)
                .is_some_and(|q| q.starts_with("threading.") || q.starts_with("multiprocessing.")),
            _ => false,
        }
    }

    fn qualified(&self, expr: &Expr) -> Option<String> {
        // A local binding shadows any module-level or imported name.
        if let Some(root) = root_name(expr) {
            if self.env.contains_key(root) {
                return None;
            }
        }
        self.analyzer.index.qualified(self.module, expr)
    }

    /// The module-level mutable container a name refers to, if any.
    fn shared_state(&self, name: &str) -> Option<StateRef> {
        if self.env.contains_key(name) && !self.globals.iter().any(|g| g == name) {
            return None;
        }
        match self.analyzer.index.resolve_name(self.module, name)? {
            Resolved::Project(Binding::Variable(module, stored, value)) => {
                is_container_value(self.analyzer.index, module, value).then(|| StateRef {
                    module,
                    name: stored.to_string(),
                })
            }
            _ => None,
        }
    }

    fn body(&mut self, body: &'a [Stmt]) {
        // `if request.method == "GET": … return` makes the rest of the block run for
        // the other methods only.
        let mut rest_of_block: Vec<(MethodFilter, u32)> = Vec::new();
        for stmt in body {
            self.stmt(stmt);
            if let Stmt::If(if_stmt) = stmt {
                if if_stmt.elif_else_clauses.is_empty() && exits(&if_stmt.body) {
                    if let Some(filter) = self.method_filter(&if_stmt.test) {
                        rest_of_block.push((filter.negated(), self.facts.seq_count));
                    }
                }
            }
        }
        for (filter, seq_start) in rest_of_block {
            self.facts.method_scopes.push(MethodScope {
                filter,
                seq_start,
                seq_end: self.facts.seq_count,
            });
        }
    }

    /// `request.method == "X"`, `!= "X"`, `in ("X", "Y")`, `not in …`, either way round.
    fn method_filter(&self, test: &Expr) -> Option<MethodFilter> {
        let Expr::Compare(compare) = test else {
            return None;
        };
        let ([op], [right]) = (&*compare.ops, &*compare.comparators) else {
            return None;
        };
        let is_method = |e: &Expr| {
            matches!(e, Expr::Attribute(a) if a.attr.as_str() == "method")
                && self.qualified(e).as_deref() == Some("flask.request.method")
        };
        let literals = |e: &Expr| -> Option<Vec<String>> {
            let one = |e: &Expr| match e {
                Expr::StringLiteral(s) => Some(s.value.to_str().to_ascii_uppercase()),
                _ => None,
            };
            match e {
                Expr::Tuple(t) => t.elts.iter().map(one).collect(),
                Expr::List(l) => l.elts.iter().map(one).collect(),
                Expr::Set(set) => set.elts.iter().map(one).collect(),
                other => one(other).map(|m| vec![m]),
            }
        };
        let methods = if is_method(&compare.left) {
            literals(right)?
        } else if is_method(right) {
            literals(&compare.left)?
        } else {
            return None;
        };
        match op {
            ast::CmpOp::Eq | ast::CmpOp::In => Some(MethodFilter::Only(methods)),
            ast::CmpOp::NotEq | ast::CmpOp::NotIn => Some(MethodFilter::Except(methods)),
            _ => None,
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt) {
        self.depth += 1;
        if self.depth > 200 {
            self.depth -= 1;
            return;
        }
        match stmt {
            Stmt::Assign(assign) => {
                let origins = self.expr(&assign.value);
                for target in &assign.targets {
                    self.assign_target(target, &origins);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    let origins = self.expr(value);
                    self.assign_target(&assign.target, &origins);
                }
            }
            Stmt::AugAssign(assign) => {
                // `x += v` reads x: the written value derives from the old one.
                let mut origins = self.expr(&assign.value);
                let old = self.expr(&assign.target);
                origins.extend(&old);
                self.augmented = true;
                if let Expr::Name(name) = &*assign.target {
                    if self.globals.iter().any(|g| g == name.id.as_str()) {
                        if let Some(state) = self.shared_state(name.id.as_str()) {
                            let loc = self.loc(stmt);
                            self.push_write(state, loc, WriteKind::Rebind, Origins::default());
                        }
                    }
                }
                self.assign_target(&assign.target, &origins);
                self.augmented = false;
            }
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    if let Some(state) = self.container_of_target(target) {
                        let loc = self.loc(target);
                        self.push_write(state, loc, WriteKind::Delete, Origins::default());
                    }
                    if let Expr::Subscript(sub) = target {
                        self.expr(&sub.slice);
                    }
                }
            }
            Stmt::Global(global) => {
                self.globals
                    .extend(global.names.iter().map(|n| n.as_str().to_string()));
            }
            Stmt::Expr(expr) => {
                self.expr(&expr.value);
            }
            Stmt::Return(ret) => {
                if let Some(value) = &ret.value {
                    let origins = self.expr(value);
                    self.facts.returns.extend(&origins);
                    if refusal_of_return(self, value).is_some() {
                        self.facts.refuses = true;
                    }
                }
            }
            Stmt::If(if_stmt) => {
                let seq_start = self.facts.seq_count;
                let reads = self.expr(&if_stmt.test);
                self.condition(&if_stmt.test, &reads, seq_start);
                let mut refusal = self.refusal_in(&if_stmt.body);
                let mut tests: Vec<Origins> = vec![reads];
                for clause in &if_stmt.elif_else_clauses {
                    if let Some(test) = &clause.test {
                        let clause_start = self.facts.seq_count;
                        let origins = self.expr(test);
                        self.condition(test, &origins, clause_start);
                        tests.push(origins);
                    }
                    if refusal.is_none() {
                        refusal = self.refusal_in(&clause.body);
                    }
                }
                if let Some(refusal) = refusal {
                    let mut all = Origins::default();
                    for t in &tests {
                        all.extend(t);
                    }
                    let loc = self.loc(&*if_stmt.test);
                    let role = self.compares_principal_with_literal(&if_stmt.test);
                    let (seq, lock) = self.at();
                    self.facts.checks.push(Check {
                        loc,
                        reads: all,
                        refusal,
                        via: None,
                        seq_start,
                        seq,
                        lock,
                        role,
                    });
                    self.facts.refuses = true;
                }
                // Branches on the request method run for those methods only; an
                // `else` (or later `elif`) runs for none of the earlier ones.
                let mut earlier: Vec<MethodFilter> = Vec::new();
                let scoped_body =
                    |walker: &mut Self,
                     test: Option<&Expr>,
                     body: &'a [Stmt],
                     earlier: &mut Vec<MethodFilter>| {
                        let own = test.and_then(|t| walker.method_filter(t));
                        let seq_start = walker.facts.seq_count;
                        walker.body(body);
                        let seq_end = walker.facts.seq_count;
                        for filter in own
                            .iter()
                            .cloned()
                            .chain(earlier.iter().map(MethodFilter::negated))
                        {
                            walker.facts.method_scopes.push(MethodScope {
                                filter,
                                seq_start,
                                seq_end,
                            });
                        }
                        earlier.extend(own);
                    };
                scoped_body(self, Some(&*if_stmt.test), &if_stmt.body, &mut earlier);
                for clause in &if_stmt.elif_else_clauses {
                    scoped_body(self, clause.test.as_ref(), &clause.body, &mut earlier);
                }
            }
            Stmt::Assert(assert) => {
                self.expr(&assert.test);
            }
            Stmt::Raise(raise) => {
                if let Some(exc) = &raise.exc {
                    self.expr(exc);
                }
                if self.is_http_error_raise(stmt) {
                    self.facts.refuses = true;
                }
            }
            Stmt::For(for_stmt) => {
                let origins = self.expr(&for_stmt.iter);
                self.assign_target(&for_stmt.target, &origins);
                self.body(&for_stmt.body);
                self.body(&for_stmt.orelse);
            }
            Stmt::While(while_stmt) => {
                let while_start = self.facts.seq_count;
                let reads = self.expr(&while_stmt.test);
                self.condition(&while_stmt.test, &reads, while_start);
                self.body(&while_stmt.body);
                self.body(&while_stmt.orelse);
            }
            Stmt::With(with) => {
                let mut locked = false;
                for item in &with.items {
                    let origins = self.expr(&item.context_expr);
                    if let Some(vars) = &item.optional_vars {
                        self.assign_target(vars, &origins);
                    }
                    if self.is_lock(&item.context_expr) {
                        locked = true;
                    }
                }
                if locked {
                    let id = self.facts.lock_count;
                    self.facts.lock_count += 1;
                    self.locks.push(id);
                    self.body(&with.body);
                    self.locks.pop();
                } else {
                    self.body(&with.body);
                }
            }
            Stmt::Try(try_stmt) => {
                let seq_start = self.facts.seq_count;
                let reads_before = self.facts.principals.len();
                let start_env = self.env.clone();
                self.body(&try_stmt.body);
                let handler_refusal = try_stmt.handlers.iter().find_map(|h| {
                    let ExceptHandler::ExceptHandler(h) = h;
                    self.refusal_in(&h.body)
                });
                if let Some(refusal) = handler_refusal {
                    // The try body is the check: if it raises, the request is refused.
                    let mut reads = Origins::default();
                    for (name, origins) in &self.env {
                        if start_env.get(name) != Some(origins) {
                            reads.extend(origins);
                        }
                    }
                    for (principal, _) in &self.facts.principals[reads_before..] {
                        reads.insert(Origin::Principal(principal.clone()));
                    }
                    let loc = self.loc(stmt);
                    let (seq, lock) = self.at();
                    self.facts.checks.push(Check {
                        loc,
                        reads,
                        refusal,
                        via: None,
                        seq_start,
                        seq,
                        lock,
                        role: false,
                    });
                    self.facts.refuses = true;
                }
                for handler in &try_stmt.handlers {
                    let ExceptHandler::ExceptHandler(h) = handler;
                    self.body(&h.body);
                }
                self.body(&try_stmt.orelse);
                self.body(&try_stmt.finalbody);
            }
            Stmt::Match(match_stmt) => {
                self.expr(&match_stmt.subject);
                for case in &match_stmt.cases {
                    self.body(&case.body);
                }
            }
            Stmt::FunctionDef(inner) => {
                // Closures (a decorator's wrapper) run with the enclosing facts: the
                // checks of `wrapper` are the checks of the decorator.
                self.body(&inner.body);
            }
            _ => {}
        }
        self.depth -= 1;
    }

    fn container_of_target(&self, target: &Expr) -> Option<StateRef> {
        match target {
            Expr::Subscript(sub) => match &*sub.value {
                Expr::Name(name) => self.shared_state(name.id.as_str()),
                Expr::Subscript(_) | Expr::Attribute(_) => self.container_of_target(&sub.value),
                _ => None,
            },
            Expr::Attribute(attr) => match &*attr.value {
                Expr::Subscript(_) => self.container_of_target(&attr.value),
                _ => None,
            },
            // `S.get(k, set()).discard(x)` mutates what S holds.
            Expr::Call(call) => match &*call.func {
                Expr::Attribute(attr) if matches!(attr.attr.as_str(), "get" | "setdefault") => {
                    match &*attr.value {
                        Expr::Name(name) => self.shared_state(name.id.as_str()),
                        other => self.container_of_target(other),
                    }
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn assign_target(&mut self, target: &'a Expr, origins: &Origins) {
        match target {
            Expr::Name(name) => {
                let id = name.id.as_str();
                if self.globals.iter().any(|g| g == id) {
                    if let Some(state) = self.shared_state(id) {
                        let loc = self.loc(target);
                        self.push_write(state, loc, WriteKind::Rebind, Origins::default());
                    }
                    return;
                }
                self.env.insert(id.to_string(), origins.clone());
            }
            Expr::Tuple(tuple) => {
                for elt in &tuple.elts {
                    self.assign_target(elt, origins);
                }
            }
            Expr::List(list) => {
                for elt in &list.elts {
                    self.assign_target(elt, origins);
                }
            }
            Expr::Starred(starred) => self.assign_target(&starred.value, origins),
            Expr::Subscript(sub) => {
                if let Some(state) = self.container_of_target(target) {
                    let loc = self.loc(target);
                    self.push_write(state, loc, WriteKind::Assign, origins.clone());
                    let key_text = self.text(&sub.slice);
                    if let Some(write) = self.facts.writes.last_mut() {
                        write.key_text = key_text;
                    }
                }
                if self.qualified(&sub.value).as_deref() == Some("flask.session") {
                    let loc = self.loc(target);
                    let (seq, _) = self.at();
                    self.facts.session_writes.push(SessionWrite {
                        loc,
                        key: string_literal(&sub.slice).map(str::to_string),
                        seq,
                    });
                }
                self.expr(&sub.slice);
                if let Expr::Name(_) | Expr::Attribute(_) = &*sub.value {
                    // Writing into a local container: it now holds these origins too.
                    if let Some(root) = root_name(&sub.value) {
                        if let Some(existing) = self.env.get_mut(root) {
                            existing.extend(origins);
                        }
                    }
                }
            }
            Expr::Attribute(attr) => {
                if let Expr::Name(base) = &*attr.value {
                    if base.id.as_str() == "g"
                        && self.qualified(&attr.value).as_deref() == Some("flask.g")
                    {
                        self.facts.sets_g.push(attr.attr.as_str().to_string());
                    }
                }
                if let Some(state) = self.container_of_target(target) {
                    let loc = self.loc(target);
                    self.push_write(state, loc, WriteKind::Assign, origins.clone());
                }
                // obj.field = ... on a row loaded from the database.
                if let Expr::Name(base) = &*attr.value {
                    let models: Vec<String> = self
                        .env
                        .get(base.id.as_str())
                        .map(|o| {
                            o.iter()
                                .filter_map(|o| match o {
                                    Origin::Db(m) => Some(m.clone()),
                                    _ => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    for model in models {
                        let loc = self.loc(target);
                        let (seq, lock) = self.at();
                        self.facts.field_writes.push(FieldWrite {
                            loc,
                            model,
                            field: attr.attr.as_str().to_string(),
                            value: origins.clone(),
                            augmented: self.augmented,
                            seq,
                            lock,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// Does this block refuse the request (unconditionally, at its top level)?
    fn refusal_in(&mut self, body: &'a [Stmt]) -> Option<Refusal> {
        for stmt in body {
            match stmt {
                Stmt::Expr(e) => {
                    if let Some(refusal) = self.refusal_of_call(&e.value) {
                        return Some(refusal);
                    }
                }
                Stmt::Return(ret) => {
                    return ret
                        .value
                        .as_deref()
                        .and_then(|v| refusal_of_return(self, v));
                }
                Stmt::Raise(_) => {
                    return self.is_http_error_raise(stmt).then_some(Refusal::Raise);
                }
                _ => {}
            }
        }
        None
    }

    fn refusal_of_call(&mut self, expr: &Expr) -> Option<Refusal> {
        let Expr::Call(call) = expr else { return None };
        let qualified = self.qualified(&call.func);
        let callee_name = last_name(&call.func);
        let status = call
            .arguments
            .args
            .first()
            .and_then(int_literal)
            .or_else(|| {
                call.arguments
                    .keywords
                    .iter()
                    .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "code"))
                    .and_then(|k| int_literal(&k.value))
            });
        let is_abort = matches!(
            qualified.as_deref(),
            Some(
                "flask.abort"
                    | "werkzeug.exceptions.abort"
                    | "flask_restful.abort"
                    | "flask_smorest.abort"
            )
        ) || (callee_name == Some("abort")
            && matches!(&*call.func, Expr::Attribute(_)));
        if is_abort {
            return match status {
                Some(s) if !is_refusal_status(s) => None,
                other => Some(Refusal::Abort(other)),
            };
        }
        None
    }

    fn is_http_error_raise(&self, stmt: &Stmt) -> bool {
        let Stmt::Raise(raise) = stmt else {
            return false;
        };
        let Some(exc) = &raise.exc else { return false };
        let callee = match &**exc {
            Expr::Call(call) => &*call.func,
            other => other,
        };
        let name = match self.qualified(callee) {
            Some(q) => q.rsplit('.').next().unwrap_or("").to_string(),
            None => last_name(callee).unwrap_or("").to_string(),
        };
        let lower = name.to_ascii_lowercase();
        [
            "forbidden",
            "unauthorized",
            "unauthorised",
            "permission",
            "notfound",
            "auth",
            "denied",
            "accessdenied",
        ]
        .iter()
        .any(|w| lower.contains(w))
            || (lower == "httpexception" || lower == "http_exception")
    }

    /// Evaluates an expression: returns its origins and records what it reads.
    fn expr(&mut self, expr: &'a Expr) -> Origins {
        self.depth += 1;
        let origins = if self.depth > 200 {
            Origins::default()
        } else {
            self.expr_inner(expr)
        };
        self.depth -= 1;
        origins
    }

    fn expr_inner(&mut self, expr: &'a Expr) -> Origins {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str();
                if let Some(origins) = self.env.get(id) {
                    return origins.clone();
                }
                if let Some(state) = self.shared_state(id) {
                    let loc = self.loc(expr);
                    self.facts.shared_reads.push((state.clone(), loc));
                    return Origins::one(Origin::Shared(state));
                }
                match self.qualified(expr).as_deref() {
                    Some(
                        "flask_login.current_user"
                        | "flask_login.utils.current_user"
                        | "flask_jwt.current_identity",
                    ) => self.principal(Principal::CurrentUser, expr),
                    Some("flask.session") => self.principal(Principal::Session(None), expr),
                    _ => Origins::default(),
                }
            }
            Expr::Attribute(attr) => {
                if let Some(origins) = self.request_attribute(expr) {
                    return origins;
                }
                if let Expr::Name(base) = &*attr.value {
                    if self.qualified(&attr.value).as_deref() == Some("flask.g") {
                        let name = attr.attr.as_str();
                        if is_principal_g_name(name) {
                            return self.principal(Principal::G(name.to_string()), expr);
                        }
                        let _ = base;
                        return Origins::default();
                    }
                }
                let mut origins = self.expr(&attr.value);
                let fields: Vec<Origin> = origins
                    .iter()
                    .filter_map(|o| match o {
                        Origin::Db(m) => {
                            Some(Origin::DbField(m.clone(), attr.attr.as_str().to_string()))
                        }
                        _ => None,
                    })
                    .collect();
                for field in fields {
                    origins.insert(field);
                }
                origins
            }
            Expr::Subscript(sub) => {
                let key = self.expr(&sub.slice);
                if let Some(origins) = self.request_field(&sub.value, Some(&*sub.slice), expr) {
                    return origins;
                }
                let base = self.expr(&sub.value);
                if let Some(field) = string_literal(&sub.slice) {
                    if let Some(origins) = self.field_of_request_value(&base, field, expr) {
                        return origins;
                    }
                }
                // Indexing the module-level container itself (not a local that holds
                // one of its entries).
                let direct = match &*sub.value {
                    Expr::Name(n) => self.shared_state(n.id.as_str()),
                    _ => None,
                };
                if let Some(state) = direct {
                    let loc = self.loc(expr);
                    self.keyed_read(&state, &key, Some(&sub.slice), loc);
                }
                let mut out = base;
                // The entry found by a key was selected by it: `DOCS[doc_id]` carries
                // `doc_id`, and `CLIENTS[api_key]` is the caller's identity.
                out.extend(&key);
                if matches!(self.qualified(&sub.value).as_deref(), Some("flask.session")) {
                    let field = string_literal(&sub.slice).map(str::to_string);
                    return self.principal(Principal::Session(field), expr);
                }
                out.extend(
                    &key.iter()
                        .filter(|o| matches!(o, Origin::Param(_)))
                        .cloned()
                        .fold(Origins::default(), |mut acc, o| {
                            acc.insert(o);
                            acc
                        }),
                );
                out
            }
            Expr::Call(call) => self.call(expr, call),
            Expr::BoolOp(op) => self.union(op.values.iter()),
            Expr::BinOp(op) => {
                let mut out = self.expr(&op.left);
                out.extend(&self.expr(&op.right));
                out
            }
            Expr::UnaryOp(op) => self.expr(&op.operand),
            Expr::Compare(compare) => {
                let left = self.expr(&compare.left);
                let mut out = left.clone();
                for (op, comparator) in compare.ops.iter().zip(compare.comparators.iter()) {
                    out.extend(&self.expr(comparator));
                    // `k in S`: a keyed read of S.
                    if matches!(op, CmpOp::In | CmpOp::NotIn) {
                        if let Expr::Name(name) = comparator {
                            if let Some(state) = self.shared_state(name.id.as_str()) {
                                self.push_lookup(state, left.clone(), Some(&compare.left));
                            }
                        }
                    }
                }
                let _ = compare
                    .ops
                    .iter()
                    .any(|op| matches!(op, CmpOp::In | CmpOp::NotIn));
                out
            }
            Expr::If(if_expr) => {
                self.expr(&if_expr.test);
                let mut out = self.expr(&if_expr.body);
                out.extend(&self.expr(&if_expr.orelse));
                out
            }
            Expr::Named(named) => {
                let origins = self.expr(&named.value);
                self.assign_target(&named.target, &origins);
                origins
            }
            Expr::Tuple(t) => self.union(t.elts.iter()),
            Expr::List(l) => self.union(l.elts.iter()),
            Expr::Set(s) => self.union(s.elts.iter()),
            Expr::Dict(d) => {
                let mut out = Origins::default();
                for item in &d.items {
                    if let Some(key) = &item.key {
                        out.extend(&self.expr(key));
                    }
                    out.extend(&self.expr(&item.value));
                }
                out
            }
            Expr::FString(f) => {
                let mut out = Origins::default();
                for part in f.value.elements() {
                    if let ast::InterpolatedStringElement::Interpolation(interp) = part {
                        out.extend(&self.expr(&interp.expression));
                    }
                }
                out
            }
            Expr::ListComp(c) => self.comprehension(&c.generators, &[&c.elt]),
            Expr::SetComp(c) => self.comprehension(&c.generators, &[&c.elt]),
            Expr::Generator(c) => self.comprehension(&c.generators, &[&c.elt]),
            Expr::DictComp(c) => match &c.key {
                Some(key) => self.comprehension(&c.generators, &[key, &c.value]),
                None => self.comprehension(&c.generators, &[&c.value]),
            },
            Expr::Await(a) => self.expr(&a.value),
            Expr::Starred(s) => self.expr(&s.value),
            Expr::Lambda(_) => Origins::default(),
            _ => Origins::default(),
        }
    }

    fn union(&mut self, exprs: impl Iterator<Item = &'a Expr>) -> Origins {
        let mut out = Origins::default();
        for e in exprs {
            out.extend(&self.expr(e));
        }
        out
    }

    fn comprehension(
        &mut self,
        generators: &'a [ast::Comprehension],
        elts: &[&'a Expr],
    ) -> Origins {
        let saved = self.env.clone();
        for generator in generators {
            let origins = self.expr(&generator.iter);
            self.assign_target(&generator.target, &origins);
            for cond in &generator.ifs {
                self.expr(cond);
            }
        }
        let mut out = Origins::default();
        for elt in elts {
            out.extend(&self.expr(elt));
        }
        self.env = saved;
        out
    }

    /// A string literal, or a name bound to one at module level (`API_KEY_HEADER`).
    fn literal_str(&self, expr: &Expr) -> Option<String> {
        if let Some(text) = string_literal(expr) {
            return Some(text.to_string());
        }
        let Expr::Name(name) = expr else { return None };
        if self.env.contains_key(name.id.as_str()) {
            return None;
        }
        match self
            .analyzer
            .index
            .resolve_name(self.module, name.id.as_str())?
        {
            Resolved::Project(Binding::Variable(_, _, value)) => {
                string_literal(value).map(str::to_string)
            }
            _ => None,
        }
    }

    /// `body["invoice_id"]` where `body = request.get_json()`: a field of a request
    /// source read through a local variable.
    fn field_of_request_value(
        &mut self,
        base: &Origins,
        field: &str,
        node: &Expr,
    ) -> Option<Origins> {
        let source = base.iter().find_map(|o| match o {
            Origin::Request {
                source,
                field: None,
            } => Some(*source),
            _ => None,
        })?;
        Some(self.request_read(source, Some(field.to_string()), node))
    }

    fn principal(&mut self, principal: Principal, node: &Expr) -> Origins {
        let loc = self.loc(node);
        self.facts.principals.push((principal.clone(), loc));
        Origins::one(Origin::Principal(principal))
    }

    fn request_read(
        &mut self,
        source: RequestSource,
        field: Option<String>,
        node: &Expr,
    ) -> Origins {
        let loc = self.loc(node);
        if let Some(principal) = credential_principal(source, field.as_deref()) {
            let (seq, _) = self.at();
            self.facts.request_reads.push(RequestRead {
                source,
                field,
                loc,
                seq,
            });
            return self.principal(principal, node);
        }
        let (seq, _) = self.at();
        self.facts.request_reads.push(RequestRead {
            source,
            field: field.clone(),
            loc,
            seq,
        });
        Origins::one(Origin::Request { source, field })
    }

    /// `request.json`, `request.args` etc. as whole objects (no field).
    fn request_attribute(&mut self, expr: &'a Expr) -> Option<Origins> {
        let qualified = self.qualified(expr)?;
        let source = request_source_of(&qualified)?;
        if qualified == "flask.request.authorization" {
            return Some(self.principal(Principal::Authorization, expr));
        }
        Some(self.request_read(source, None, expr))
    }

    /// `request.args["id"]`, `request.get_json()["id"]`, `session["uid"]`...
    fn request_field(
        &mut self,
        container: &'a Expr,
        key: Option<&'a Expr>,
        whole: &'a Expr,
    ) -> Option<Origins> {
        let qualified = self.qualified(container)?;
        let source = request_source_of(&qualified)?;
        if qualified == "flask.request.authorization" {
            return Some(self.principal(Principal::Authorization, whole));
        }
        let field = key.and_then(|k| self.literal_str(k));
        Some(self.request_read(source, field, whole))
    }

    fn call(&mut self, expr: &'a Expr, call: &'a ast::ExprCall) -> Origins {
        let qualified = self.qualified(&call.func);
        let method = match &*call.func {
            Expr::Attribute(attr) => Some(attr.attr.as_str()),
            _ => None,
        };

        // body.get("x") where body = request.get_json()
        if let (Some("get"), Expr::Attribute(attr), Some(field)) = (
            method,
            &*call.func,
            call.arguments.args.first().and_then(string_literal),
        ) {
            if let Expr::Name(name) = &*attr.value {
                if let Some(base) = self.env.get(name.id.as_str()).cloned() {
                    if let Some(origins) = self.field_of_request_value(&base, field, expr) {
                        return origins;
                    }
                }
            }
        }

        // request.args.get("x"), request.headers.get("X-API-Key"), request.get_json()
        if let (Some(method), Expr::Attribute(attr)) = (method, &*call.func) {
            if matches!(method, "get" | "getlist" | "get_all" | "__getitem__") {
                let key = call.arguments.args.first();
                if let Some(origins) = self.request_field(&attr.value, key, expr) {
                    for arg in call.arguments.args.iter().skip(1) {
                        self.expr(arg);
                    }
                    return origins;
                }
                if self.qualified(&attr.value).as_deref() == Some("flask.session") {
                    let field = key.and_then(string_literal).map(str::to_string);
                    return self.principal(Principal::Session(field), expr);
                }
            }
        }
        if let Some(q) = qualified.as_deref() {
            match q {
                "flask.request.get_json()" | "flask.request.get_json" => {
                    return self.request_read(RequestSource::Json, None, expr);
                }
                "flask.request.get_data" => {
                    return self.request_read(RequestSource::Data, None, expr)
                }
                "flask_jwt_extended.get_jwt_identity" => {
                    return self.principal(Principal::JwtIdentity, expr)
                }
                "flask_jwt_extended.get_jwt" | "flask_jwt_extended.get_current_user" => {
                    return self.principal(Principal::JwtClaims, expr)
                }
                "flask_login.current_user._get_current_object" => {
                    return self.principal(Principal::CurrentUser, expr)
                }
                _ => {}
            }
            if matches!(
                q,
                "jwt.decode" | "jose.jwt.decode" | "jwt.api_jwt.decode" | "authlib.jose.jwt.decode"
            ) {
                self.args(call);
                return self.principal(Principal::JwtClaims, expr);
            }
            if q.ends_with(".current_user") && method == Some("current_user") {
                return self.principal(Principal::CurrentUser, expr);
            }
        }
        if method == Some("current_user") {
            // flask-httpauth: `auth.current_user()` on a project-level HTTPTokenAuth.
            if let Expr::Attribute(attr) = &*call.func {
                if self
                    .analyzer
                    .index
                    .qualified(self.module, &attr.value)
                    .is_none()
                {
                    let base = root_name(&attr.value).unwrap_or("");
                    if base.contains("auth") {
                        return self.principal(Principal::CurrentUser, expr);
                    }
                }
            }
        }

        // Caches and key-value clients: `cache.get(k)` reads, `cache.set(k, v)` writes.
        if let (Some(method), Expr::Attribute(attr)) = (method, &*call.func) {
            if let Some(cache) = cache_receiver(&attr.value) {
                let is_shared_dict = matches!(&*attr.value, Expr::Name(n) if self.shared_state(n.id.as_str()).is_some());
                if !is_shared_dict {
                    match method {
                        "get" | "get_many" | "hget" => {
                            let mut out = Origins::default();
                            for arg in self.args(call) {
                                out.extend(&arg);
                            }
                            out.insert(Origin::Cache(cache));
                            return out;
                        }
                        "set" | "setex" | "add" | "set_many" | "hset" => {
                            let args = self.args(call);
                            let value = args.get(1).cloned().unwrap_or_default();
                            let loc = self.loc(expr);
                            let (seq, lock) = self.at();
                            self.facts.cache_writes.push(CacheWrite {
                                loc,
                                cache,
                                value,
                                seq,
                                lock,
                            });
                            return Origins::default();
                        }
                        _ => {}
                    }
                }
            }
        }

        // Data accesses.
        if let Some(origins) = self.data_access(expr, call, qualified.as_deref(), method) {
            return origins;
        }

        // Mutation of shared state through a method: S.pop(k), S[k].add(v).
        if let (Some(method), Expr::Attribute(attr)) = (method, &*call.func) {
            if is_mutating_method(method) {
                let state = match &*attr.value {
                    Expr::Name(name) => self.shared_state(name.id.as_str()),
                    other => self.container_of_target(other),
                };
                if let Some(state) = state {
                    let loc = self.loc(expr);
                    self.push_write(state, loc, WriteKind::MethodCall, Origins::default());
                }
            }
        }

        // Project helpers: apply their summaries.
        if let Some((module, function, class)) = self.project_callee(&call.func) {
            let args = self.args(call);
            let summary = self.analyzer.summary(module, function, class);
            let loc = self.loc(expr);
            let name = function.name.as_str().to_string();
            let caller_lock = self.locks.last().copied();
            self.facts
                .merge_callee(&summary, loc, &name, &args, caller_lock);
            // What a helper returns was selected by its arguments (`load(doc_id)`),
            // so the result carries their origins too.
            let mut out = Origins::default();
            for arg in &args {
                out.extend(arg);
            }
            for origin in summary.returns.iter() {
                match origin {
                    Origin::Param(i) => {
                        if let Some(arg) = args.get(*i) {
                            out.extend(arg);
                        }
                    }
                    other => out.insert(other.clone()),
                }
            }
            return out;
        }

        // Anything else: the result derives from the receiver and the arguments.
        let mut out = match &*call.func {
            Expr::Attribute(attr) => self.expr(&attr.value),
            _ => Origins::default(),
        };
        for arg in self.args(call) {
            out.extend(&arg);
        }
        out
    }

    fn args(&mut self, call: &'a ast::ExprCall) -> Vec<Origins> {
        let mut out: Vec<Origins> = call.arguments.args.iter().map(|a| self.expr(a)).collect();
        // Keyword arguments are appended: summaries map positions only, but their
        // origins still flow into the result.
        for keyword in call.arguments.keywords.iter() {
            out.push(self.expr(&keyword.value));
        }
        out
    }

    fn project_callee(
        &self,
        func: &Expr,
    ) -> Option<(ModuleId, &'a StmtFunctionDef, Option<&'a StmtClassDef>)> {
        // self.helper(...) inside a class.
        if let (Expr::Attribute(attr), Some(class)) = (func, self.class) {
            if matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == "self") {
                if let Some(Member::Function(f)) = class_member(class, attr.attr.as_str()) {
                    return Some((self.module, f, Some(class)));
                }
            }
        }
        if let Some(root) = root_name(func) {
            if self.env.contains_key(root) {
                return None;
            }
        }
        match self.analyzer.index.resolve_expr(self.module, func)? {
            Resolved::Project(Binding::Function(module, function)) => {
                Some((module, function, None))
            }
            _ => None,
        }
    }

    fn data_access(
        &mut self,
        expr: &'a Expr,
        call: &'a ast::ExprCall,
        qualified: Option<&str>,
        method: Option<&str>,
    ) -> Option<Origins> {
        let loc = self.loc(expr);
        // Files.
        if let Some(q) = qualified {
            let file_call = match q {
                "builtins.open"
                | "io.open"
                | "flask.send_file"
                | "flask.send_from_directory"
                | "os.remove"
                | "os.unlink"
                | "os.rename"
                | "shutil.rmtree"
                | "pathlib.Path" => Some(q),
                _ => None,
            };
            if let Some(file_call) = file_call {
                let args = self.args(call);
                let mut selected = Origins::default();
                // send_from_directory(dir, name): the name selects the object.
                for arg in &args {
                    selected.extend(arg);
                }
                self.push_access(
                    loc,
                    AccessKind::File {
                        call: file_call
                            .rsplit('.')
                            .next()
                            .unwrap_or(file_call)
                            .to_string(),
                    },
                    selected.clone(),
                    false,
                );
                return Some(selected);
            }
        }
        let method = method?;
        let Expr::Attribute(attr) = &*call.func else {
            return None;
        };

        // Model.query.<method>(...) anywhere in a chain: Model.query.filter_by(...).first()
        if let Some(model) = query_model(&attr.value) {
            if !matches!(
                method,
                "get"
                    | "get_or_404"
                    | "filter_by"
                    | "filter"
                    | "first"
                    | "first_or_404"
                    | "one"
                    | "one_or_none"
                    | "all"
                    | "delete"
                    | "update"
                    | "scalar"
                    | "where"
                    | "join"
                    | "order_by"
                    | "limit"
                    | "offset"
                    | "paginate"
                    | "options"
                    | "with_for_update"
                    | "count"
                    | "exists"
            ) {
                return None;
            }
            if method == "with_for_update" {
                self.facts.locked_models.push(model.clone());
            }
            let receiver = self.expr(&attr.value);
            let (args, scoped) = self.query_args(call);
            let mut out = receiver;
            out.extend(&args);
            out.insert(Origin::Db(model.clone()));
            if matches!(
                method,
                "get" | "get_or_404" | "filter_by" | "filter" | "where"
            ) {
                self.push_access(
                    loc,
                    AccessKind::Orm {
                        model,
                        method: method.to_string(),
                    },
                    args,
                    scoped,
                );
            }
            return Some(out);
        }
        // db.session.get(Model, id), db.get_or_404(Model, id), session.query(Model)...
        let receiver_text = dotted(&attr.value);
        let is_session = receiver_text
            .as_deref()
            .is_some_and(|t| t.ends_with("session") || t == "db" || t.ends_with(".db"));
        if is_session
            && matches!(
                method,
                "get" | "get_or_404" | "query" | "execute" | "scalars" | "scalar"
            )
        {
            let model = call
                .arguments
                .args
                .first()
                .and_then(dotted)
                .unwrap_or_default();
            let (args, scoped) = self.query_args(call);
            let kind = if method == "execute" || method == "scalars" || method == "scalar" {
                AccessKind::Sql
            } else {
                AccessKind::Orm {
                    model: model.clone(),
                    method: method.to_string(),
                }
            };
            let mut out = args.clone();
            if !model.is_empty() {
                out.insert(Origin::Db(model));
            }
            if method != "query" {
                self.push_access(loc, kind, args, scoped);
            }
            return Some(out);
        }
        if matches!(method, "execute" | "executemany") {
            let (args, scoped) = self.query_args(call);
            let mut receiver = self.expr(&attr.value);
            self.push_access(loc, AccessKind::Sql, args.clone(), scoped);
            receiver.extend(&args);
            return Some(receiver);
        }
        // SHARED.get(key)
        if matches!(method, "get" | "pop" | "setdefault") {
            if let Expr::Name(name) = &*attr.value {
                if let Some(state) = self.shared_state(name.id.as_str()) {
                    let args = self.args(call);
                    let key = args.first().cloned().unwrap_or_default();
                    self.keyed_read(&state, &key, call.arguments.args.first(), loc);
                    self.facts.shared_reads.push((state.clone(), loc));
                    if method != "get" {
                        self.push_write(
                            state.clone(),
                            loc,
                            WriteKind::MethodCall,
                            Origins::default(),
                        );
                    }
                    let mut out = Origins::one(Origin::Shared(state));
                    out.extend(&key);
                    return Some(out);
                }
            }
        }
        None
    }

    /// Evaluates query arguments; reports whether any filter is tied to the principal.
    fn query_args(&mut self, call: &'a ast::ExprCall) -> (Origins, bool) {
        let mut out = Origins::default();
        let mut scoped = false;
        for arg in call.arguments.args.iter() {
            let origins = self.expr(arg);
            if origins.has_principal() {
                scoped = true;
            }
            out.extend(&origins);
        }
        for keyword in call.arguments.keywords.iter() {
            let origins = self.expr(&keyword.value);
            if origins.has_principal() {
                scoped = true;
            }
            out.extend(&origins);
        }
        (out, scoped)
    }
}

fn refusal_of_return(walker: &Walker<'_, '_, '_>, value: &Expr) -> Option<Refusal> {
    match value {
        Expr::Tuple(tuple) => {
            let status = tuple.elts.get(1).and_then(int_literal);
            status
                .filter(|s| is_refusal_status(*s))
                .map(|s| Refusal::Return(Some(s)))
        }
        Expr::Call(call) => {
            let name = walker.qualified(&call.func).unwrap_or_default();
            if name == "flask.redirect" {
                let target = call
                    .arguments
                    .args
                    .first()
                    .map(|a| walker_text(walker, a))
                    .unwrap_or_default();
                return target.contains("login").then_some(Refusal::RedirectToLogin);
            }
            let status = call
                .arguments
                .keywords
                .iter()
                .find(|k| {
                    k.arg
                        .as_ref()
                        .is_some_and(|a| matches!(a.as_str(), "status" | "status_code" | "code"))
                })
                .and_then(|k| int_literal(&k.value))
                .or_else(|| call.arguments.args.get(1).and_then(int_literal));
            status
                .filter(|s| is_refusal_status(*s))
                .map(|s| Refusal::Return(Some(s)))
        }
        _ => None,
    }
}

fn walker_text(walker: &Walker<'_, '_, '_>, expr: &Expr) -> String {
    let loc = walker.loc(expr);
    walker
        .analyzer
        .index
        .project
        .file(loc.file)
        .slice(loc.range)
        .to_string()
}

fn credential_principal(source: RequestSource, field: Option<&str>) -> Option<Principal> {
    let field = field?;
    match source {
        RequestSource::Headers if field.eq_ignore_ascii_case("authorization") => {
            Some(Principal::Authorization)
        }
        RequestSource::Headers if is_credential_name(field) => {
            Some(Principal::Header(field.to_string()))
        }
        RequestSource::Args | RequestSource::Values if is_credential_name(field) => {
            Some(Principal::Query(field.to_string()))
        }
        RequestSource::Cookies if is_credential_name(field) => {
            Some(Principal::Cookie(field.to_string()))
        }
        _ => None,
    }
}

fn request_source_of(qualified: &str) -> Option<RequestSource> {
    let rest = qualified.strip_prefix("flask.request.")?;
    Some(match rest {
        "args" => RequestSource::Args,
        "form" => RequestSource::Form,
        "values" => RequestSource::Values,
        "json" | "get_json()" => RequestSource::Json,
        "data" | "get_data()" => RequestSource::Data,
        "headers" => RequestSource::Headers,
        "cookies" => RequestSource::Cookies,
        "files" => RequestSource::Files,
        "view_args" => RequestSource::Path,
        "authorization" => RequestSource::Headers,
        _ => return None,
    })
}

/// A cache or key-value client receiver: `cache`, `app.cache`, `redis_client`.
fn cache_receiver(expr: &Expr) -> Option<String> {
    let text = dotted(expr)?;
    let last = text
        .rsplit('.')
        .next()
        .unwrap_or(&text)
        .to_ascii_lowercase();
    (last.contains("cache") || last.contains("redis") || last == "kv" || last == "r")
        .then_some(text)
}

/// `Model.query` (possibly inside a longer chain) → `Model`. Hostile trees: a loop
/// bounded by [`crate::index::MAX_CHAIN`] links (was unbounded recursion: a stack
/// overflow on a generated 20k-link chain, and quadratic).
fn query_model(mut expr: &Expr) -> Option<String> {
    for _ in 0..=crate::index::MAX_CHAIN {
        expr = match expr {
            Expr::Attribute(attr) if attr.attr.as_str() == "query" => return dotted(&attr.value),
            Expr::Attribute(attr) => &attr.value,
            Expr::Call(call) => &call.func,
            _ => return None,
        };
    }
    None
}

/// `a.b.c` as text, for names and attribute chains only. Hostile trees: at most
/// [`crate::index::MAX_CHAIN`] links, in a loop (was unbounded recursion building a
/// string per link: quadratic).
pub fn dotted(mut expr: &Expr) -> Option<String> {
    let mut parts = Vec::new();
    loop {
        match expr {
            Expr::Name(name) => {
                parts.push(name.id.as_str());
                break;
            }
            Expr::Attribute(attr) if parts.len() < crate::index::MAX_CHAIN => {
                parts.push(attr.attr.as_str());
                expr = &attr.value;
            }
            _ => return None,
        }
    }
    parts.reverse();
    Some(parts.join("."))
}

/// The leftmost name of an attribute/call/subscript chain. Hostile trees: a loop
/// bounded by [`crate::index::MAX_CHAIN`] links (was unbounded recursion, quadratic
/// over a generated 100k-link chain since the walker asks at every link).
pub fn root_name(mut expr: &Expr) -> Option<&str> {
    for _ in 0..=crate::index::MAX_CHAIN {
        expr = match expr {
            Expr::Name(name) => return Some(name.id.as_str()),
            Expr::Attribute(attr) => &attr.value,
            Expr::Call(call) => &call.func,
            Expr::Subscript(sub) => &sub.value,
            _ => return None,
        };
    }
    None
}

/// The last identifier of a name or attribute chain.
/// Does the block always leave the view: its last statement returns, raises or aborts?
fn exits(body: &[Stmt]) -> bool {
    match body.last() {
        Some(Stmt::Return(_) | Stmt::Raise(_)) => true,
        Some(Stmt::Expr(e)) => matches!(
            &*e.value,
            Expr::Call(call) if last_name(&call.func) == Some("abort")
        ),
        _ => false,
    }
}

pub fn last_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attr) => Some(attr.attr.as_str()),
        _ => None,
    }
}
