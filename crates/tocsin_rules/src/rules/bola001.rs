//! BOLA001: an object reached through a caller-supplied id with nothing tying it to
//! the caller.

use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::{Access, AccessKind};
use tocsin_python::model::Route;
use tocsin_python::project::ModuleId;

use super::route_common::{label, routes_in};
use crate::authz::{
    is_admin_route, is_authenticated, is_public, owned_targets, selectors, tied_to_caller,
};
use crate::Context;

pub static META: RuleMeta = RuleMeta {
    code: "BOLA001",
    name: "object-access-without-ownership-check",
    summary: "Object reached through a caller-supplied id with nothing tying it to the caller",
    severity: Severity::High,
    docs: r#"## What it does
Flags a data access (ORM `get`/`filter_by`/`filter`, `db.session.get`, indexing a
module-level store, a project helper that loads data, `open`) selected by a path
parameter or request field that names an object, when no check compares the
object's owner with the caller, the query is not scoped by the caller, and no
permission lookup is keyed by both. Also reported, with a note, when the route has
no authentication at all, unless the route is declared public
(`public-routes = ["/public/*", "GET /health"]` in the configuration).
Routes behind administrator guards are not reported.

## Why is this bad?
Broken object-level authorization (OWASP API1): any authenticated caller reads or
changes anyone's object by changing the id in the request.

## Example
```python
@app.get("/invoices/<int:invoice_id>")
@login_required
def invoice(invoice_id):
    return Invoice.query.get_or_404(invoice_id).to_dict()
```

## Use instead
```python
@app.get("/invoices/<int:invoice_id>")
@login_required
def invoice(invoice_id):
    invoice = Invoice.query.filter_by(id=invoice_id, owner_id=current_user.id).first_or_404()
    return invoice.to_dict()
```
"#,
};

const FIX: &str = "Tie the object to the caller: scope the query by the principal (filter_by(id=…, owner_id=current_user.id)) or compare the owner after loading and refuse with 404.";

/// What a data access reaches, for grouping routes by resource.
pub fn resource(access: &Access) -> String {
    access.target.clone()
}

/// The accesses of a route that reach an object by a caller-supplied id with
/// nothing tying them to the caller (before any rule-specific exemptions).
pub fn untied_accesses<'r>(route: &'r Route<'_>) -> Vec<&'r Access> {
    let mut seen: Vec<(String, tocsin_python::Loc)> = Vec::new();
    route
        .facts
        .accesses
        .iter()
        // Files are a path-traversal question, not object ownership.
        .filter(|a| !matches!(a.kind, AccessKind::File { .. }))
        .filter(|a| !selectors(&a.args).is_empty() && !tied_to_caller(route, a))
        .filter(|a| {
            let key = (resource(a), a.loc);
            if seen.contains(&key) {
                false
            } else {
                seen.push(key);
                true
            }
        })
        .collect()
}

/// Accesses of the route that are tied to the caller, by resource.
pub fn tied_resources(route: &Route<'_>) -> Vec<String> {
    route
        .facts
        .accesses
        .iter()
        .filter(|a| !selectors(&a.args).is_empty() && tied_to_caller(route, a))
        .map(resource)
        .collect()
}

/// Routes that are out of scope for object-level authorization findings.
pub fn exempt(ctx: &Context<'_>, route: &Route<'_>) -> bool {
    is_admin_route(route) || is_public(route, &ctx.settings.public_routes)
}

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    for route in routes_in(ctx, module) {
        if exempt(ctx, route) {
            continue;
        }
        let authenticated = is_authenticated(route);
        for access in untied_accesses(route) {
            if !owned_targets(ctx).contains(&access.target) {
                continue;
            }
            // BOLA002 reports the inconsistent case; TOC002 the two-source case.
            if super::bola002::inconsistent_with(ctx, route, access).is_some()
                || super::toc002_conflicts(route, access)
            {
                continue;
            }
            let field = selectors(&access.args)
                .into_iter()
                .next()
                .map(|(_, f)| f)
                .unwrap_or_default();
            let note = if authenticated {
                String::new()
            } else {
                " (the route has no authentication at all)".to_string()
            };
            let message = format!(
                "{} reaches `{}` through caller-supplied `{field}` with no check tying it to the caller{note}",
                label(route),
                resource(access)
            );
            out.push(
                ctx.finding(&META, access.loc, message)
                    .with_fix(FIX)
                    .with_route(&route.methods, &route.rule),
            );
        }
    }
}
