//! KEY002: an API key or token taken from the query string.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use tocsin_python::facts::last_name;

use crate::names::{secrecy, Secrecy};
use tocsin_diagnostics::{Finding, RuleMeta, Severity};

use crate::secret::credential_read;
use crate::syntax::{Scope, SyntaxRule};
use crate::Context;
use tocsin_python::project::ModuleId;

pub static META: RuleMeta = RuleMeta {
    code: "KEY002",
    name: "key-in-query-string",
    summary: "API key or token taken from the query string",
    severity: Severity::Medium,
    docs: r#"## What it does
Flags an API key or token read from `request.args` or `request.values` (which
includes the query string).

## Why is this bad?
URLs are logged by web servers, proxies and load balancers, kept in browser history,
and sent to other sites in the `Referer` header. A key in the query string ends up
in all of them, readable by anyone with access to a log.

## Example
```python
api_key = request.args.get("api_key")
```

## Use instead
```python
api_key = request.headers.get("X-API-Key")
```

## References
- [OWASP: Information exposure through query strings in URL](https://owasp.org/www-community/vulnerabilities/Information_exposure_through_query_strings_in_url)
"#,
};

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    crate::syntax::check_one(ctx, module, out, syntax_rule(ctx, module));
}

/// This rule as one visitor of the shared syntax walk.
pub fn syntax_rule<'c, 'a>(
    ctx: &'c Context<'a>,
    _module: ModuleId,
) -> Option<Box<dyn SyntaxRule<'a> + 'c>> {
    Some(Box::new(Key002 {
        ctx,
        out: Vec::new(),
        credential_uses: Vec::new(),
        credential_ranges: Vec::new(),
        function: None,
        collected: false,
    }))
}

struct Key002<'c, 'a> {
    ctx: &'c Context<'a>,
    out: Vec<Finding>,
    /// Names the current function uses as credentials: compared, used as a key
    /// into a store, or passed to a verify/decode/lookup call.
    credential_uses: Vec<&'a str>,
    /// Expressions used directly as credentials (`verify(request.args["token"])`).
    credential_ranges: Vec<TextRange>,
    /// The function being walked, and whether its credential uses were collected.
    function: Option<&'a ruff_python_ast::StmtFunctionDef>,
    collected: bool,
}

/// Collects names used the way credentials are used.
struct CredentialUses<'a> {
    names: Vec<&'a str>,
    ranges: Vec<TextRange>,
    depth: usize,
}

fn names_in<'a>(expr: &'a Expr, out: &mut Vec<&'a str>) {
    match expr {
        Expr::Name(n) => out.push(n.id.as_str()),
        Expr::Call(c) => {
            if let Expr::Attribute(a) = &*c.func {
                names_in(&a.value, out);
            }
        }
        Expr::Attribute(a) => names_in(&a.value, out),
        _ => {}
    }
}

impl<'a> Visitor<'a> for CredentialUses<'a> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.depth > 200 {
            return;
        }
        self.depth += 1;
        match expr {
            Expr::Compare(c) => {
                names_in(&c.left, &mut self.names);
                self.ranges.push(c.left.range());
                for comparator in c.comparators.iter() {
                    names_in(comparator, &mut self.names);
                    self.ranges.push(comparator.range());
                }
            }
            Expr::Subscript(s) => {
                names_in(&s.slice, &mut self.names);
                self.ranges.push(s.slice.range());
            }
            Expr::Call(c) => {
                let callee = last_name(&c.func).unwrap_or("").to_ascii_lowercase();
                if [
                    "decode", "verify", "valid", "auth", "check", "lookup", "load", "compare",
                    "get", "find", "user",
                ]
                .iter()
                .any(|w| callee.contains(w))
                {
                    for arg in c.arguments.args.iter() {
                        names_in(arg, &mut self.names);
                        self.ranges.push(arg.range());
                    }
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
        self.depth -= 1;
    }
}

impl<'a> SyntaxRule<'a> for Key002<'_, 'a> {
    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.out)
    }

    fn stmt(&mut self, stmt: &'a Stmt, _scope: &Scope<'a>) {
        // Remember the function; its credential uses are collected only if a weakly
        // named query read turns up in it.
        if let Stmt::FunctionDef(function) = stmt {
            self.function = Some(function);
            self.credential_uses.clear();
            self.credential_ranges.clear();
            self.collected = false;
        }
    }

    fn expr(&mut self, expr: &'a Expr, scope: &Scope<'a>) {
        if !matches!(expr, Expr::Call(_) | Expr::Subscript(_)) {
            return;
        }
        let Some((source, field)) = credential_read(self.ctx.index, scope, expr) else {
            return;
        };
        if source != "args" && source != "values" {
            return;
        }
        // `token`, `key`, `sig` also name download markers and cache keys: count
        // them only when the function uses the value as a credential.
        if secrecy(&field, true) != Secrecy::Strong {
            if !self.collected {
                self.collected = true;
                if let Some(function) = self.function {
                    let mut uses = CredentialUses {
                        names: Vec::new(),
                        ranges: Vec::new(),
                        depth: 0,
                    };
                    uses.visit_body(&function.body);
                    self.credential_uses = uses.names;
                    self.credential_ranges = uses.ranges;
                }
            }
            let bound: Vec<&str> = scope
                .locals()
                .iter()
                .filter(|(_, value)| std::ptr::eq(**value, expr))
                .map(|(name, _)| *name)
                .collect();
            let direct = self
                .credential_ranges
                .iter()
                .any(|r| r.contains_range(expr.range()));
            if !direct && !bound.iter().any(|name| self.credential_uses.contains(name)) {
                return;
            }
        }
        let loc = self.ctx.index.loc(scope.module, expr);
        self.out.push(
            self.ctx
                .finding(
                    &META,
                    loc,
                    format!("credential `{field}` is read from the query string (`request.{source}`), where it is logged and leaked through Referer"),
                )
                .with_fix("Take the key from a header (e.g. `X-API-Key` or `Authorization: Bearer`) and reject it in the URL."),
        );
    }
}
