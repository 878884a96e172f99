//! KEY001: an API key, token or signature compared in non-constant time.

use ruff_python_ast::{CmpOp, Expr};
use tocsin_diagnostics::{Applicability, Finding, Fix, RuleMeta, Severity};

use crate::fixes::{self, import_for};
use tocsin_python::facts::string_literal;

use crate::names::Secrecy;

use crate::names::is_identifier_like;
use crate::secret::{is_secret_expr, qualified, secrecy_of};
use crate::syntax::{Scope, SyntaxRule};
use crate::Context;
use tocsin_python::project::ModuleId;

pub static META: RuleMeta = RuleMeta {
    code: "KEY001",
    name: "non-constant-time-key-comparison",
    summary: "API key, token or signature compared in non-constant time",
    severity: Severity::Medium,
    docs: r#"## What it does
Flags an API key, token, signature or HMAC digest compared with `==`, `!=`, `in` a
list, tuple or string, or `startswith`.

## Why is this bad?
These comparisons stop at the first differing byte, so the response time leaks how
much of a guess was right. An attacker who can measure it recovers the secret a byte
at a time. Membership in a list or a string scans linearly with the same leak.
Membership in a dict or set is hash-based and is not reported.

## Example
```python
api_key = request.headers.get("X-API-Key")
if api_key != os.environ["API_KEY"]:
    abort(401)
```

## Use instead
```python
api_key = request.headers.get("X-API-Key", "")
if not hmac.compare_digest(api_key.encode(), os.environ["API_KEY"].encode()):
    abort(401)
```

## References
- [hmac.compare_digest](https://docs.python.org/3/library/hmac.html#hmac.compare_digest)
- [CWE-208: Observable Timing Discrepancy](https://cwe.mitre.org/data/definitions/208.html)
"#,
};

const FIX: &str =
    "Compare with hmac.compare_digest(a, b), which takes the same time whatever the input.";

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    crate::syntax::check_one(ctx, module, out, syntax_rule(ctx, module));
}

/// This rule as one visitor of the shared syntax walk.
pub fn syntax_rule<'c, 'a>(
    ctx: &'c Context<'a>,
    _module: ModuleId,
) -> Option<Box<dyn SyntaxRule<'a> + 'c>> {
    Some(Box::new(Key001 {
        ctx,
        out: Vec::new(),
    }))
}

struct Key001<'c, 'a> {
    ctx: &'c Context<'a>,
    out: Vec<Finding>,
}

fn is_self_or_cls(expr: &Expr) -> bool {
    matches!(expr, Expr::Name(n) if matches!(n.id.as_str(), "self" | "cls"))
}

/// Values whose comparison leaks nothing useful: None, booleans, numbers, `""`.
fn is_harmless_operand(expr: &Expr) -> bool {
    match expr {
        Expr::NoneLiteral(_)
        | Expr::BooleanLiteral(_)
        | Expr::NumberLiteral(_)
        | Expr::EllipsisLiteral(_) => true,
        // A secret is never equal to a keyword like "as" or "Bearer": such
        // comparisons inspect structure, not secrets.
        Expr::StringLiteral(s) => {
            let text = s.value.to_str();
            text.chars().count() < 8 || is_identifier_like(text)
        }
        Expr::BytesLiteral(b) => b.value.iter().all(|part| part.as_slice().is_empty()),
        Expr::Call(call) => {
            matches!(&*call.func, Expr::Name(n) if matches!(n.id.as_str(), "len" | "type" | "bool" | "isinstance"))
        }
        _ => false,
    }
}

impl<'a> Key001<'_, 'a> {
    /// Harmless literals, also through module constants (`PASSWORD_MASK`,
    /// `CHANGE_ME_SECRET_KEY`): comparing with a known public value leaks nothing.
    fn is_harmless(&self, scope: &Scope<'a>, expr: &'a Expr) -> bool {
        if is_harmless_operand(expr) {
            return true;
        }
        let constant = match expr {
            Expr::Name(name) => {
                crate::secret::value_of_name(self.ctx.index, scope, name.id.as_str())
            }
            // `self.reset_url_token` naming a class-level literal (Django's
            // `reset_url_token = "set-password"`): a public marker, not a secret.
            Expr::Attribute(attr) if is_self_or_cls(&attr.value) => {
                scope.class_constant(attr.attr.as_str())
            }
            _ => None,
        };
        match constant {
            Some(value @ Expr::StringLiteral(_)) => is_harmless_operand(value),
            // `"X" * 10`: a repeated character is a mask.
            Some(Expr::BinOp(b)) => matches!(
                (&*b.left, &*b.right),
                (Expr::StringLiteral(_), Expr::NumberLiteral(_))
            ),
            _ => false,
        }
    }

    /// A sequence scanned element by element: list/tuple/str literals, `x.split()`,
    /// comprehensions, or a name bound to one of those.
    fn is_linear_container(&self, scope: &Scope<'a>, expr: &'a Expr, depth: usize) -> bool {
        if depth > 4 {
            return false;
        }
        match expr {
            Expr::List(_)
            | Expr::Tuple(_)
            | Expr::ListComp(_)
            | Expr::StringLiteral(_)
            | Expr::BytesLiteral(_) => true,
            Expr::Call(call) => {
                // Environment values are strings: `in` scans them.
                if qualified(self.ctx.index, scope, &call.func)
                    .is_some_and(|q| q == "os.environ.get" || q == "os.getenv")
                {
                    return true;
                }
                match &*call.func {
                    Expr::Attribute(attr) => {
                        matches!(attr.attr.as_str(), "split" | "splitlines" | "rsplit")
                    }
                    Expr::Name(n) => matches!(n.id.as_str(), "list" | "tuple" | "sorted"),
                    _ => false,
                }
            }
            Expr::Subscript(sub) => {
                qualified(self.ctx.index, scope, &sub.value).is_some_and(|q| q == "os.environ")
            }
            Expr::Name(name) => {
                let value = scope.value_of(name.id.as_str()).or_else(|| {
                    match self.ctx.index.resolve_name(scope.module, name.id.as_str()) {
                        Some(tocsin_python::index::Resolved::Project(
                            tocsin_python::index::Binding::Variable(_, _, v),
                        )) => Some(v),
                        _ => None,
                    }
                });
                value.is_some_and(|v| {
                    !std::ptr::eq(v, expr) && self.is_linear_container(scope, v, depth + 1)
                })
            }
            _ => false,
        }
    }

    /// Strongly named secrets (`api_key`, `SECRET`) count on their own; weakly named
    /// ones (`token`, `signature`) only against another secret.
    fn compares_secrets(&self, scope: &Scope<'a>, left: &'a Expr, right: &'a Expr) -> bool {
        let index = self.ctx.index;
        let l = secrecy_of(index, scope, left);
        let r = secrecy_of(index, scope, right);
        l == Secrecy::Strong || r == Secrecy::Strong || (l == Secrecy::Weak && r == Secrecy::Weak)
    }

    fn report(&mut self, scope: &Scope<'a>, expr: &Expr, what: &str) {
        let loc = self.ctx.index.loc(scope.module, expr);
        let text: String = self.ctx.text(loc).chars().take(80).collect();
        let mut finding = self
            .ctx
            .finding(
                &META,
                loc,
                format!("`{text}` compares a secret {what}, which leaks its value through timing"),
            )
            .with_fix(FIX);
        if let Some(fix) = self.compare_digest_fix(scope, expr) {
            finding = finding.with_edit(fix);
        }
        self.out.push(finding);
    }

    /// `a == b` → `hmac.compare_digest(a, b)`, `a != b` → `not hmac.compare_digest(a, b)`,
    /// with `import hmac` added when missing. Mismatched types (None, str against
    /// bytes) then raise instead of comparing unequal: the request fails closed.
    fn compare_digest_fix(&self, scope: &Scope<'a>, expr: &Expr) -> Option<Fix> {
        let Expr::Compare(compare) = expr else {
            return None;
        };
        if compare.ops.len() != 1 {
            return None;
        }
        let negate = match compare.ops[0] {
            CmpOp::Eq => false,
            CmpOp::NotEq => true,
            _ => return None,
        };
        let left = self
            .ctx
            .text(self.ctx.index.loc(scope.module, &*compare.left))
            .to_string();
        let right = self
            .ctx
            .text(self.ctx.index.loc(scope.module, &compare.comparators[0]))
            .to_string();
        let (callee, import) = import_for(self.ctx, scope.module, "hmac", "compare_digest");
        let replacement = format!(
            "{}{callee}({left}, {right})",
            if negate { "not " } else { "" }
        );
        let range = ruff_text_size::Ranged::range(expr);
        let mut edits = vec![fixes::edit(
            self.ctx,
            scope.module,
            usize::from(range.start()),
            usize::from(range.end()),
            replacement,
        )];
        edits.extend(import);
        Some(Fix {
            applicability: Applicability::Safe,
            title: "Compare with hmac.compare_digest".to_string(),
            edits,
        })
    }
}

impl<'a> SyntaxRule<'a> for Key001<'_, 'a> {
    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.out)
    }

    fn expr(&mut self, expr: &'a Expr, scope: &Scope<'a>) {
        let index = self.ctx.index;
        match expr {
            Expr::Compare(compare) => {
                let mut left = &*compare.left;
                for (op, right) in compare.ops.iter().zip(compare.comparators.iter()) {
                    let flagged = match op {
                        CmpOp::Eq | CmpOp::NotEq => {
                            !self.is_harmless(scope, left)
                                && !self.is_harmless(scope, right)
                                && self.compares_secrets(scope, left, right)
                        }
                        CmpOp::In | CmpOp::NotIn => {
                            secrecy_of(index, scope, left) == Secrecy::Strong
                                && self.is_linear_container(scope, right, 0)
                        }
                        _ => false,
                    };
                    if flagged {
                        let what = match op {
                            CmpOp::In | CmpOp::NotIn => "by scanning a sequence",
                            _ => "with `==`/`!=`",
                        };
                        self.report(scope, expr, what);
                        return;
                    }
                    left = right;
                }
            }
            Expr::Call(call) => {
                let Expr::Attribute(attr) = &*call.func else {
                    return;
                };
                if !matches!(attr.attr.as_str(), "startswith" | "endswith") {
                    return;
                }
                let Some(arg) = call.arguments.args.first() else {
                    return;
                };
                // `token.startswith("Bearer ")` checks a scheme, not a secret.
                if string_literal(arg).is_some() || matches!(arg, Expr::Tuple(_)) {
                    return;
                }
                if qualified(index, scope, &attr.value)
                    .is_some_and(|q| q.starts_with("flask.request.path"))
                {
                    return;
                }
                // The secret must be the argument: `name.startswith(PREFIX)` on a
                // secret only inspects a known, public prefix.
                if secrecy_of(index, scope, arg) != Secrecy::None
                    && is_secret_expr(index, scope, &attr.value, 0)
                {
                    self.report(scope, expr, "by prefix");
                }
            }
            _ => {}
        }
    }
}
