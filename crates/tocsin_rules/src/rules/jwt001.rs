//! JWT001: a token decoded without verifying its signature.

use ruff_python_ast::{self as ast, Expr};
use tocsin_diagnostics::{Applicability, Finding, Fix, RuleMeta, Severity};

use crate::fixes;
use tocsin_python::facts::{last_name, string_literal};

use crate::secret::qualified;
use crate::syntax::{Scope, SyntaxRule};
use crate::Context;
use tocsin_python::project::ModuleId;

pub static META: RuleMeta = RuleMeta {
    code: "JWT001",
    name: "jwt-without-verification",
    summary: "Token decoded without verifying its signature",
    severity: Severity::Critical,
    docs: r#"## What it does
Flags `jwt.decode` calls that do not verify the token: no `algorithms=` pinned,
`options={"verify_signature": False}`, `verify=False`, `"none"` among the
algorithms, or algorithms taken from the token's own unverified header; and
decisions made on `get_unverified_claims`.

## Why is this bad?
An unverified token is just JSON the caller wrote. Without a pinned algorithm list,
an attacker can pick `none` or confuse an RSA public key for an HMAC secret
(algorithm confusion) and forge any identity or scope.

## Example
```python
claims = jwt.decode(token, options={"verify_signature": False})
user_id = claims["sub"]
```

## Use instead
```python
claims = jwt.decode(token, SECRET, algorithms=["HS256"])
user_id = claims["sub"]
```

## References
- [PyJWT: jwt.decode](https://pyjwt.readthedocs.io/en/stable/api.html#jwt.decode)
- [CWE-347: Improper Verification of Cryptographic Signature](https://cwe.mitre.org/data/definitions/347.html)
"#,
};

const FIX: &str = "Verify the signature: jwt.decode(token, key, algorithms=[\"HS256\"]) with the algorithm the issuer uses.";

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    crate::syntax::check_one(ctx, module, out, syntax_rule(ctx, module));
}

/// This rule as one visitor of the shared syntax walk.
pub fn syntax_rule<'c, 'a>(
    ctx: &'c Context<'a>,
    _module: ModuleId,
) -> Option<Box<dyn SyntaxRule<'a> + 'c>> {
    Some(Box::new(Jwt001 {
        ctx,
        out: Vec::new(),
    }))
}

struct Jwt001<'c, 'a> {
    ctx: &'c Context<'a>,
    out: Vec<Finding>,
}

pub fn keyword<'e>(call: &'e ast::ExprCall, name: &str) -> Option<&'e Expr> {
    call.arguments
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
        .map(|k| &k.value)
}

/// `options={"verify_signature": False}` (or any other `verify_*` key given).
pub fn option_is_false(options: &Expr, key: &str) -> bool {
    let Expr::Dict(dict) = options else {
        return false;
    };
    dict.items.iter().any(|item| {
        item.key.as_ref().and_then(string_literal) == Some(key)
            && matches!(&item.value, Expr::BooleanLiteral(b) if !b.value)
    })
}

pub fn is_jwt_decode(q: &str) -> bool {
    matches!(
        q,
        "jwt.decode" | "jwt.api_jwt.decode" | "jose.jwt.decode" | "jwt.decode_complete"
    )
}

impl<'a> Jwt001<'_, 'a> {
    /// Does this expression come from `get_unverified_header`/`get_unverified_claims`?
    fn is_unverified(&self, scope: &Scope<'a>, expr: &'a Expr, depth: usize) -> bool {
        if depth > 6 {
            return false;
        }
        match expr {
            Expr::Call(call) => {
                qualified(self.ctx.index, scope, &call.func).is_some_and(|q| {
                    q.ends_with("get_unverified_header") || q.ends_with("get_unverified_claims")
                }) || matches!(&*call.func, Expr::Attribute(a) if self.is_unverified(scope, &a.value, depth + 1))
            }
            Expr::Subscript(sub) => self.is_unverified(scope, &sub.value, depth + 1),
            Expr::Name(name) => scope
                .value_of(name.id.as_str())
                .is_some_and(|v| !std::ptr::eq(v, expr) && self.is_unverified(scope, v, depth + 1)),
            Expr::List(l) => l
                .elts
                .iter()
                .any(|e| self.is_unverified(scope, e, depth + 1)),
            _ => false,
        }
    }

    /// Adds `algorithms=[ALG]` with the algorithm the project's `jwt.encode` calls use.
    /// Safe when they agree on one; otherwise HS256 (PyJWT's default), unsafe.
    fn pin_algorithms_fix(&self, scope: &Scope<'a>, call: &ast::ExprCall) -> Option<Fix> {
        let mut used: Vec<String> = Vec::new();
        for file in self.ctx.project.files() {
            for (at, _) in file.text.match_indices("algorithm=") {
                let rest = &file.text[at + "algorithm=".len()..];
                let quote = rest.chars().next()?;
                if quote != '"' && quote != '\'' {
                    continue;
                }
                if let Some(end) = rest[1..].find(quote) {
                    let alg = rest[1..1 + end].to_string();
                    if !used.contains(&alg) {
                        used.push(alg);
                    }
                }
            }
        }
        let (algorithm, applicability) = match used.as_slice() {
            [one] if !one.eq_ignore_ascii_case("none") => (one.clone(), Applicability::Safe),
            _ => ("HS256".to_string(), Applicability::Unsafe),
        };
        let args_end = usize::from(ruff_text_size::Ranged::range(&call.arguments).end());
        let close = args_end.checked_sub(1)?;
        let file = self
            .ctx
            .project
            .file(self.ctx.project.module(scope.module).file);
        let before = file.text.get(..close)?.trim_end();
        let separator = if before.ends_with(',') || before.ends_with('(') {
            ""
        } else {
            ", "
        };
        let insert_at = before.len();
        Some(Fix {
            applicability,
            title: format!("Pin algorithms=[\"{algorithm}\"]"),
            edits: vec![fixes::edit(
                self.ctx,
                scope.module,
                insert_at,
                insert_at,
                format!("{separator}algorithms=[\"{algorithm}\"]"),
            )],
        })
    }

    fn report(&mut self, scope: &Scope<'a>, node: &Expr, message: &str) {
        let loc = self.ctx.index.loc(scope.module, node);
        self.out
            .push(self.ctx.finding(&META, loc, message).with_fix(FIX));
    }
}

impl<'a> SyntaxRule<'a> for Jwt001<'_, 'a> {
    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.out)
    }

    fn expr(&mut self, expr: &'a Expr, scope: &Scope<'a>) {
        match expr {
            Expr::Call(call) => {
                // Cheap name filter before resolving the callee.
                if !matches!(last_name(&call.func), Some("decode" | "decode_complete")) {
                    return;
                }
                let Some(q) = qualified(self.ctx.index, scope, &call.func) else {
                    return;
                };
                if !is_jwt_decode(&q) {
                    return;
                }
                if let Some(options) = keyword(call, "options") {
                    if option_is_false(options, "verify_signature") {
                        self.report(scope, expr, "token is decoded with `verify_signature: False`: its claims are unauthenticated");
                        return;
                    }
                }
                if matches!(keyword(call, "verify"), Some(Expr::BooleanLiteral(b)) if !b.value) {
                    self.report(
                        scope,
                        expr,
                        "token is decoded with `verify=False`: its claims are unauthenticated",
                    );
                    return;
                }
                let Some(algorithms) = keyword(call, "algorithms") else {
                    self.report(
                        scope,
                        expr,
                        "`jwt.decode` without `algorithms=`: the token chooses how it is verified",
                    );
                    if let Some(fix) = self.pin_algorithms_fix(scope, call) {
                        if let Some(last) = self.out.last_mut() {
                            last.edit = Some(fix);
                        }
                    }
                    return;
                };
                let allows_none = match algorithms {
                    Expr::List(l) => l
                        .elts
                        .iter()
                        .any(|e| string_literal(e).is_some_and(|s| s.eq_ignore_ascii_case("none"))),
                    Expr::Tuple(t) => t
                        .elts
                        .iter()
                        .any(|e| string_literal(e).is_some_and(|s| s.eq_ignore_ascii_case("none"))),
                    other => string_literal(other).is_some_and(|s| s.eq_ignore_ascii_case("none")),
                };
                if allows_none {
                    self.report(
                        scope,
                        expr,
                        "`jwt.decode` accepts the `none` algorithm: unsigned tokens pass",
                    );
                } else if self.is_unverified(scope, algorithms, 0) {
                    self.report(
                        scope,
                        expr,
                        "`jwt.decode` takes its algorithm from the token's unverified header",
                    );
                }
            }
            Expr::If(_) => {}
            _ => {}
        }
    }

    fn stmt(&mut self, stmt: &'a ruff_python_ast::Stmt, scope: &Scope<'a>) {
        // A decision on unverified claims: `if get_unverified_claims(t)["admin"]:`
        let test = match stmt {
            ruff_python_ast::Stmt::If(s) => &*s.test,
            ruff_python_ast::Stmt::While(s) => &*s.test,
            _ => return,
        };
        if claims_in(self, scope, test, 0) {
            self.report(scope, test, "a decision is made on unverified token claims");
        }
    }
}

fn claims_in<'a>(rule: &Jwt001<'_, 'a>, scope: &Scope<'a>, expr: &'a Expr, depth: usize) -> bool {
    if depth > 12 {
        return false;
    }
    let unverified_claims = |e: &'a Expr| -> bool {
        let mut current = e;
        // The header field read, when it is one: `kid` selects a key from a trusted
        // set, which is how key rotation works, not a decision on the token.
        let mut field: Option<&str> = None;
        for _ in 0..6 {
            match current {
                Expr::Subscript(s) => {
                    field = field.or(string_literal(&s.slice));
                    current = &s.value;
                }
                Expr::Call(c) => {
                    if let Some(q) = qualified(rule.ctx.index, scope, &c.func) {
                        if q.ends_with(".get") {
                            field = field.or(c.arguments.args.first().and_then(string_literal));
                        }
                        return q.contains("get_unverified_claims")
                            || (q.contains("get_unverified_header")
                                && !matches!(field, Some("kid" | "typ")));
                    }
                    match &*c.func {
                        Expr::Attribute(a) => {
                            if a.attr.as_str() == "get" {
                                field = field.or(c.arguments.args.first().and_then(string_literal));
                            }
                            current = &a.value;
                        }
                        _ => return false,
                    }
                }
                Expr::Name(n) => match scope.value_of(n.id.as_str()) {
                    Some(v) if !std::ptr::eq(v, current) => current = v,
                    _ => return false,
                },
                _ => return false,
            }
        }
        false
    };
    match expr {
        Expr::Compare(c) => {
            unverified_claims(&c.left) || c.comparators.iter().any(unverified_claims)
        }
        Expr::BoolOp(b) => b
            .values
            .iter()
            .any(|v| claims_in(rule, scope, v, depth + 1)),
        Expr::UnaryOp(u) => claims_in(rule, scope, &u.operand, depth + 1),
        other => unverified_claims(other),
    }
}
