//! KEY002: an API key or token taken from the query string.

use ruff_python_ast::Expr;
use tocsin_diagnostics::{Finding, RuleMeta, Severity};

use crate::secret::credential_read;
use crate::syntax::{walk, Scope, SyntaxRule};
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
    let info = ctx.project.module(module);
    {
        let Some(ast) = ctx.project.file(info.file).module() else {
            return;
        };
        let mut rule = Key002 {
            ctx,
            out: Vec::new(),
        };
        walk(ast, module, &mut rule);
        out.extend(rule.out);
    }
}

struct Key002<'c, 'a> {
    ctx: &'c Context<'a>,
    out: Vec<Finding>,
}

impl<'a> SyntaxRule<'a> for Key002<'_, 'a> {
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
