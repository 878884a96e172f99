//! KEY003: a hard-coded API key, token or signing secret.

use ruff_python_ast::{Expr, Stmt};
use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::{last_name, string_literal};

use crate::names::{
    is_identifier_like, is_key_container_name, is_password_name, is_reference_literal,
    is_secret_name, looks_like_key_literal, secrecy, words, Secrecy,
};
use crate::secret::qualified;
use crate::syntax::{Scope, SyntaxRule};
use crate::Context;
use tocsin_python::project::ModuleId;

pub static META: RuleMeta = RuleMeta {
    code: "KEY003",
    name: "hard-coded-secret",
    summary: "Hard-coded API key, token or signing secret",
    severity: Severity::High,
    docs: r#"## What it does
Flags string literals used as API keys, tokens or signing secrets: assigned to a
secret-like name, to `app.secret_key` or `app.config["SECRET_KEY"]`, passed as the
key of `jwt.encode`/`jwt.decode` or `hmac.new`, given as the default of
`os.environ.get`/`os.getenv` for a secret, or listed in a module-level map of keys.

In files configured as tests, literals containing a placeholder word (`test`,
`changeme`, `dummy`, ...; option `placeholders`) are allowed.

## Why is this bad?
Anything in the source is in every clone, backup, container image and CI log of it.
A leaked signing secret lets anyone mint valid session cookies or tokens; a leaked
key gives its holder's access. Secrets in code are also never rotated.

## Example
```python
app.config["SECRET_KEY"] = "s3cr3t-k3y-2024"
API_KEYS = {"k-8f2a91c3": "alice"}
```

## Use instead
```python
app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
API_KEYS = load_keys_from_vault()
```

## References
- [CWE-798: Use of Hard-coded Credentials](https://cwe.mitre.org/data/definitions/798.html)
"#,
};

const FIX: &str = "Load the secret from the environment or a secrets manager at start-up, with no literal fallback.";

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    crate::syntax::check_one(ctx, module, out, syntax_rule(ctx, module));
}

/// This rule as one visitor of the shared syntax walk.
pub fn syntax_rule<'c, 'a>(
    ctx: &'c Context<'a>,
    module: ModuleId,
) -> Option<Box<dyn SyntaxRule<'a> + 'c>> {
    let info = ctx.project.module(module);
    let is_test = ctx.settings.test_files.contains(&info.file);
    Some(Box::new(Key003 {
        ctx,
        is_test,
        out: Vec::new(),
    }))
}

struct Key003<'c, 'a> {
    ctx: &'c Context<'a>,
    is_test: bool,
    out: Vec<Finding>,
}

/// `SECRET_KEY`, `app.secret_key`, `JWT_SECRET_KEY`, `GUEST_TOKEN_JWT_SECRET`: settings
/// whose value signs sessions or tokens.
fn is_signing_setting(name: &str) -> bool {
    if name.eq_ignore_ascii_case("secret_key") {
        return true;
    }
    // Upper-case configuration names only: `aws_secret_access_key` in a dict of
    // field descriptions is not the app's signing key.
    let is_config = name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    let words = words(name);
    let last = words.last().map(String::as_str);
    is_config
        && (last == Some("secret") || (last == Some("key") && words.iter().any(|w| w == "secret")))
}

fn literal_text(expr: &Expr) -> Option<String> {
    match expr {
        Expr::StringLiteral(s) => Some(s.value.to_str().to_string()),
        Expr::BytesLiteral(b) => Some(b.value.bytes().map(char::from).collect()),
        _ => None,
    }
}

/// The name an assignment target gives its value: `API_KEY`, `app.secret_key`,
/// `app.config["SECRET_KEY"]` → `SECRET_KEY`.
fn target_name(target: &Expr) -> Option<String> {
    match target {
        Expr::Name(n) => Some(n.id.as_str().to_string()),
        Expr::Attribute(a) => Some(a.attr.as_str().to_string()),
        Expr::Subscript(s) => string_literal(&s.slice).map(str::to_string),
        _ => None,
    }
}

impl<'a> Key003<'_, 'a> {
    fn is_allowed(&self, value: &str) -> bool {
        if is_reference_literal(value) {
            return true;
        }
        if self.is_test {
            // Tests are full of fixture credentials; only a literal that looks like a
            // real key (long, letters and digits) and is no placeholder counts there.
            return !looks_like_key_literal(value) || self.is_placeholder(value);
        }
        false
    }

    fn is_placeholder(&self, text: &str) -> bool {
        let lower = text.to_ascii_lowercase();
        self.ctx
            .settings
            .placeholders
            .iter()
            .any(|p| lower.contains(&p.to_ascii_lowercase()))
    }

    fn report(&mut self, scope: &Scope<'a>, literal: &Expr, what: String) {
        let loc = self.ctx.index.loc(scope.module, literal);
        self.out
            .push(self.ctx.finding(&META, loc, what).with_fix(FIX));
    }

    fn check_value(&mut self, scope: &Scope<'a>, name: &str, value: &'a Expr) {
        // Cheap reject first: this runs for every assignment, keyword and dict key.
        if !is_secret_name(name, false) {
            return;
        }
        if self.is_test && self.is_placeholder(name) {
            return;
        }
        // Hard-coded passwords are a different flaw (and other linters' rules); names
        // that are not identifiers (`$.credentials`, `missing-input-secret`) are
        // JSON paths and error codes.
        if is_password_name(name) || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return;
        }
        let strength = secrecy(name, false);
        if strength == Secrecy::None {
            return;
        }
        let Some(text) = literal_text(value) else {
            return;
        };
        if self.is_allowed(&text) {
            return;
        }
        // Prose (help texts, error messages) and key *names* (`"access_token"`) are
        // not secrets; a signing-key setting is one whatever its value looks like.
        let signing_setting = is_signing_setting(name);
        if !signing_setting
            && (text.contains(' ') || (is_identifier_like(&text) && text.contains('_')))
        {
            return;
        }
        // `token = "is"`, `RESET_TOKEN = "_password_reset_token"`: a weakly named value
        // must look like a key to count.
        if strength == Secrecy::Weak
            && (!looks_like_key_literal(&text) || is_identifier_like(&text))
        {
            return;
        }
        self.report(scope, value, format!("`{name}` is a hard-coded secret"));
    }

    /// `API_KEYS = {"k-8f2a91c3": ...}`, `VALID_TOKENS = ["..."]`: a container of keys.
    fn check_key_container(&mut self, scope: &Scope<'a>, name: &str, value: &'a Expr) {
        if !is_key_container_name(name) {
            return;
        }
        let literals: Vec<&Expr> = match value {
            Expr::Dict(d) => d.items.iter().filter_map(|i| i.key.as_ref()).collect(),
            Expr::Set(s) => s.elts.iter().collect(),
            Expr::List(l) => l.elts.iter().collect(),
            Expr::Tuple(t) => t.elts.iter().collect(),
            _ => return,
        };
        let keys: Vec<&Expr> = literals
            .into_iter()
            .filter(|e| {
                literal_text(e).is_some_and(|t| looks_like_key_literal(&t) && !self.is_allowed(&t))
            })
            .collect();
        if !keys.is_empty() {
            let count = keys.len();
            let noun = if count == 1 { "key" } else { "keys" };
            self.report(
                scope,
                value,
                format!("`{name}` holds {count} hard-coded {noun}"),
            );
        }
    }
}

impl<'a> SyntaxRule<'a> for Key003<'_, 'a> {
    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.out)
    }

    fn stmt(&mut self, stmt: &'a Stmt, scope: &Scope<'a>) {
        let (targets, value): (Vec<&'a Expr>, &'a Expr) = match stmt {
            Stmt::Assign(a) => (a.targets.iter().collect(), &a.value),
            Stmt::AnnAssign(a) => match &a.value {
                Some(v) => (vec![&*a.target], v),
                None => return,
            },
            _ => return,
        };
        for target in targets {
            let Some(name) = target_name(target) else {
                continue;
            };
            self.check_value(scope, &name, value);
            if !scope.in_function && matches!(target, Expr::Name(_)) {
                self.check_key_container(scope, &name, value);
            }
        }
    }

    fn expr(&mut self, expr: &'a Expr, scope: &Scope<'a>) {
        match expr {
            Expr::Call(call) => {
                let resolvable = matches!(
                    last_name(&call.func),
                    Some(
                        "encode"
                            | "decode"
                            | "new"
                            | "HMAC"
                            | "get"
                            | "getenv"
                            | "setdefault"
                            | "URLSafeTimedSerializer"
                            | "URLSafeSerializer"
                            | "TimedSerializer"
                            | "Serializer"
                    )
                );
                let q = if resolvable {
                    qualified(self.ctx.index, scope, &call.func).unwrap_or_default()
                } else {
                    String::new()
                };
                let positional_key = match q.as_str() {
                    "jwt.encode" | "jwt.decode" | "jose.jwt.encode" | "jose.jwt.decode" => Some(1),
                    "hmac.new"
                    | "itsdangerous.URLSafeTimedSerializer"
                    | "itsdangerous.URLSafeSerializer"
                    | "itsdangerous.TimedSerializer"
                    | "itsdangerous.Serializer" => Some(0),
                    _ => None,
                };
                if let Some(position) = positional_key {
                    let key = call.arguments.args.get(position).or_else(|| {
                        call.arguments
                            .keywords
                            .iter()
                            .find(|k| {
                                k.arg
                                    .as_ref()
                                    .is_some_and(|a| matches!(a.as_str(), "key" | "secret_key"))
                            })
                            .map(|k| &k.value)
                    });
                    if let Some(key) = key {
                        if literal_text(key).is_some_and(|t| !self.is_allowed(&t)) {
                            let callee = q
                                .rsplit('.')
                                .take(2)
                                .collect::<Vec<_>>()
                                .into_iter()
                                .rev()
                                .collect::<Vec<_>>()
                                .join(".");
                            self.report(
                                scope,
                                key,
                                format!("`{callee}` is given a hard-coded signing key"),
                            );
                        }
                    }
                    return;
                }
                if matches!(
                    q.as_str(),
                    "os.environ.get" | "os.getenv" | "os.environ.setdefault"
                ) {
                    let env_name = call
                        .arguments
                        .args
                        .first()
                        .and_then(string_literal)
                        .unwrap_or("");
                    if is_secret_name(env_name, false) {
                        if let Some(default) = call.arguments.args.get(1) {
                            if literal_text(default).is_some_and(|t| !self.is_allowed(&t)) {
                                self.report(scope, default, format!("`{env_name}` falls back to a hard-coded secret when the environment lacks it"));
                            }
                        }
                    }
                    return;
                }
                // app.config.update(SECRET_KEY="..."), dict(API_KEY="..."), Settings(api_key="...")
                let is_update = matches!(last_name(&call.func), Some("update" | "dict"));
                for keyword in call.arguments.keywords.iter() {
                    let Some(arg) = &keyword.arg else { continue };
                    if is_update || is_secret_name(arg.as_str(), false) {
                        self.check_value(scope, arg.as_str(), &keyword.value);
                    }
                }
            }
            Expr::Dict(dict) => {
                for item in &dict.items {
                    let Some(key) = item.key.as_ref().and_then(string_literal) else {
                        continue;
                    };
                    self.check_value(scope, key, &item.value);
                }
            }
            _ => {}
        }
    }
}
