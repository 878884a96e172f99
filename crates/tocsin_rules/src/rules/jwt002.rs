//! JWT002: a token issued or accepted without a bounded expiry.

use ruff_python_ast::{self as ast, Expr, Operator, Stmt};
use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::{last_name, string_literal};

use super::jwt001::{is_jwt_decode, keyword, option_is_false};
use crate::secret::qualified;
use crate::syntax::{Scope, SyntaxRule};
use crate::Context;
use tocsin_python::project::ModuleId;

pub static META: RuleMeta = RuleMeta {
    code: "JWT002",
    name: "jwt-without-expiry",
    summary: "Token issued or accepted without a bounded expiry",
    severity: Severity::High,
    docs: r#"## What it does
Flags tokens that live too long: `jwt.encode` with a payload that has no `exp`
claim or an `exp` further away than the configured bound (option
`max-token-lifetime`, default one hour), `jwt.decode` with
`options={"verify_exp": False}`, and flask-jwt-extended tokens with
`expires_delta=False` or `JWT_ACCESS_TOKEN_EXPIRES` disabled or too long.

## Why is this bad?
Authorization captured in a token is a snapshot. A token without expiry keeps its
holder's identity and scopes after the key is revoked, the user removed or the
scope narrowed, and a stolen token works forever. Short lifetimes bound the window
in which stale authorization is trusted.

## Example
```python
token = jwt.encode({"sub": user_id, "scope": scopes}, SECRET, algorithm="HS256")
```

## Use instead
```python
now = datetime.now(timezone.utc)
token = jwt.encode(
    {"sub": user_id, "scope": scopes, "iat": now, "exp": now + timedelta(minutes=5)},
    SECRET,
    algorithm="HS256",
)
```

## References
- [RFC 7519 §4.1.4: "exp" claim](https://www.rfc-editor.org/rfc/rfc7519#section-4.1.4)
- [CWE-613: Insufficient Session Expiration](https://cwe.mitre.org/data/definitions/613.html)
"#,
};

const FIX: &str = "Give every token an `exp` a few minutes ahead and verify it on decode.";

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    crate::syntax::check_one(ctx, module, out, syntax_rule(ctx, module));
}

/// This rule as one visitor of the shared syntax walk.
pub fn syntax_rule<'c, 'a>(
    ctx: &'c Context<'a>,
    _module: ModuleId,
) -> Option<Box<dyn SyntaxRule<'a> + 'c>> {
    Some(Box::new(Jwt002 {
        ctx,
        out: Vec::new(),
    }))
}

struct Jwt002<'c, 'a> {
    ctx: &'c Context<'a>,
    out: Vec<Finding>,
}

fn number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::NumberLiteral(n) => match &n.value {
            ast::Number::Int(i) => i.as_i64().map(|v| v as f64),
            ast::Number::Float(f) => Some(*f),
            ast::Number::Complex { .. } => None,
        },
        _ => None,
    }
}

impl<'a> Jwt002<'_, 'a> {
    /// Seconds denoted by a constant expression: `3600`, `60 * 60 * 24`,
    /// `timedelta(days=30)`, or a module constant holding one.
    fn seconds(&self, scope: &Scope<'a>, expr: &'a Expr, depth: usize) -> Option<f64> {
        if depth > 8 {
            return None;
        }
        if let Some(n) = number(expr) {
            return Some(n);
        }
        match expr {
            Expr::BinOp(b) => {
                let l = self.seconds(scope, &b.left, depth + 1)?;
                let r = self.seconds(scope, &b.right, depth + 1)?;
                match b.op {
                    Operator::Mult => Some(l * r),
                    Operator::Add => Some(l + r),
                    Operator::Sub => Some(l - r),
                    _ => None,
                }
            }
            Expr::Call(call) => {
                let q = qualified(self.ctx.index, scope, &call.func)?;
                if !q.ends_with("timedelta") {
                    return None;
                }
                let mut total = 0.0;
                if let Some(days) = call.arguments.args.first() {
                    total += self.seconds(scope, days, depth + 1)? * 86400.0;
                }
                for keyword in call.arguments.keywords.iter() {
                    let unit = match keyword.arg.as_ref().map(|a| a.as_str()) {
                        Some("weeks") => 604_800.0,
                        Some("days") => 86_400.0,
                        Some("hours") => 3_600.0,
                        Some("minutes") => 60.0,
                        Some("seconds") => 1.0,
                        Some("milliseconds") => 0.001,
                        _ => 0.0,
                    };
                    total += self.seconds(scope, &keyword.value, depth + 1)? * unit;
                }
                Some(total)
            }
            Expr::Name(name) => {
                let value = scope.value_of(name.id.as_str()).or_else(|| {
                    match self.ctx.index.resolve_name(scope.module, name.id.as_str()) {
                        Some(tocsin_python::index::Resolved::Project(
                            tocsin_python::index::Binding::Variable(_, _, v),
                        )) => Some(v),
                        _ => None,
                    }
                })?;
                if std::ptr::eq(value, expr) {
                    return None;
                }
                self.seconds(scope, value, depth + 1)
            }
            _ => None,
        }
    }

    /// The lifetime of `now + delta` expressions: the constant operand of the sum.
    fn lifetime(&self, scope: &Scope<'a>, exp: &'a Expr) -> Option<f64> {
        match exp {
            Expr::BinOp(b) if b.op == Operator::Add => self
                .seconds(scope, &b.right, 0)
                .or_else(|| self.seconds(scope, &b.left, 0)),
            Expr::Call(call) => {
                // int(time.time() + 3600), (now + delta).timestamp()
                if let Some(arg) = call.arguments.args.first() {
                    return self.lifetime(scope, arg);
                }
                if let Expr::Attribute(a) = &*call.func {
                    return self.lifetime(scope, &a.value);
                }
                None
            }
            _ => None,
        }
    }

    fn report(&mut self, scope: &Scope<'a>, node: &Expr, message: String) {
        let loc = self.ctx.index.loc(scope.module, node);
        self.out
            .push(self.ctx.finding(&META, loc, message).with_fix(FIX));
    }

    fn too_long(&self, seconds: f64) -> bool {
        seconds > self.ctx.settings.max_token_lifetime_seconds as f64
    }

    fn describe(seconds: f64) -> String {
        if seconds >= 86_400.0 {
            format!("{:.0} days", seconds / 86_400.0)
        } else if seconds >= 3_600.0 {
            format!("{:.1} hours", seconds / 3_600.0)
        } else {
            format!("{seconds:.0} seconds")
        }
    }

    /// The dict literal a payload expression denotes, with later `payload["exp"] = ...`
    /// writes in the same function.
    fn payload_exp(&self, scope: &Scope<'a>, payload: &'a Expr) -> Option<Option<&'a Expr>> {
        let dict = match payload {
            Expr::Dict(d) => d,
            Expr::Name(name) => match scope.value_of(name.id.as_str()) {
                Some(Expr::Dict(d)) => d,
                _ => return None,
            },
            _ => return None,
        };
        // `{**claims}` may carry an exp we cannot see.
        if dict.items.iter().any(|i| i.key.is_none()) {
            return None;
        }
        let exp = dict
            .items
            .iter()
            .find(|i| i.key.as_ref().and_then(string_literal) == Some("exp"))
            .map(|i| &i.value);
        Some(exp)
    }
}

impl<'a> SyntaxRule<'a> for Jwt002<'_, 'a> {
    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.out)
    }

    fn expr(&mut self, expr: &'a Expr, scope: &Scope<'a>) {
        let Expr::Call(call) = expr else { return };
        match last_name(&call.func) {
            Some("encode" | "decode" | "decode_complete") => {}
            Some(name) if name.starts_with("create_") => {}
            _ => return,
        }
        let Some(q) = qualified(self.ctx.index, scope, &call.func) else {
            return;
        };
        if q == "jwt.encode" || q == "jose.jwt.encode" {
            let Some(payload) = call
                .arguments
                .args
                .first()
                .or_else(|| keyword(call, "payload"))
            else {
                return;
            };
            match self.payload_exp(scope, payload) {
                Some(None) => {
                    if let Expr::Name(name) = payload {
                        if self.payload_gets_exp_later(scope, name.id.as_str()) {
                            return;
                        }
                    }
                    self.report(
                        scope,
                        expr,
                        "token is issued without an `exp` claim: it never expires".to_string(),
                    );
                }
                Some(Some(exp)) => {
                    if let Some(seconds) = self.lifetime(scope, exp) {
                        if self.too_long(seconds) {
                            self.report(
                                scope,
                                exp,
                                format!(
                                    "token lifetime is {}, beyond the {}-second bound",
                                    Self::describe(seconds),
                                    self.ctx.settings.max_token_lifetime_seconds
                                ),
                            );
                        }
                    }
                }
                None => {}
            }
            return;
        }
        if is_jwt_decode(&q) {
            if let Some(options) = keyword(call, "options") {
                if option_is_false(options, "verify_exp") {
                    self.report(
                        scope,
                        expr,
                        "token is decoded with `verify_exp: False`: expired tokens are accepted"
                            .to_string(),
                    );
                }
            }
            return;
        }
        if q.starts_with("flask_jwt_extended.create_") {
            if let Some(delta) = keyword(call, "expires_delta") {
                if matches!(delta, Expr::BooleanLiteral(b) if !b.value) {
                    self.report(
                        scope,
                        delta,
                        "token is created with `expires_delta=False`: it never expires".to_string(),
                    );
                } else if let Some(seconds) = self.seconds(scope, delta, 0) {
                    if self.too_long(seconds) && q.ends_with("create_access_token") {
                        self.report(
                            scope,
                            delta,
                            format!(
                                "access token lifetime is {}, beyond the {}-second bound",
                                Self::describe(seconds),
                                self.ctx.settings.max_token_lifetime_seconds
                            ),
                        );
                    }
                }
            }
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt, scope: &Scope<'a>) {
        // JWT_ACCESS_TOKEN_EXPIRES = False / timedelta(days=30), as a config name or key.
        let Stmt::Assign(assign) = stmt else { return };
        let named = assign.targets.iter().any(|t| match t {
            Expr::Name(n) => n.id.as_str() == "JWT_ACCESS_TOKEN_EXPIRES",
            Expr::Attribute(a) => a.attr.as_str() == "JWT_ACCESS_TOKEN_EXPIRES",
            Expr::Subscript(s) => string_literal(&s.slice) == Some("JWT_ACCESS_TOKEN_EXPIRES"),
            _ => false,
        });
        if !named {
            return;
        }
        if matches!(&*assign.value, Expr::BooleanLiteral(b) if !b.value) {
            self.report(
                scope,
                &assign.value,
                "`JWT_ACCESS_TOKEN_EXPIRES` is disabled: access tokens never expire".to_string(),
            );
        } else if let Some(seconds) = self.seconds(scope, &assign.value, 0) {
            if self.too_long(seconds) {
                self.report(
                    scope,
                    &assign.value,
                    format!(
                        "`JWT_ACCESS_TOKEN_EXPIRES` is {}, beyond the {}-second bound",
                        Self::describe(seconds),
                        self.ctx.settings.max_token_lifetime_seconds
                    ),
                );
            }
        }
    }
}

impl<'a> Jwt002<'_, 'a> {
    /// `payload["exp"] = ...` somewhere in the same function.
    fn payload_gets_exp_later(&self, scope: &Scope<'a>, name: &str) -> bool {
        scope
            .item_writes()
            .iter()
            .any(|(n, field)| *n == name && *field == "exp")
    }
}
