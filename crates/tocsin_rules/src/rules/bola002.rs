//! BOLA002: inconsistent authorization on the same resource.

use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::Access;
use tocsin_python::model::Route;
use tocsin_python::project::ModuleId;

use super::bola001::{exempt, resource, tied_resources, untied_accesses};
use super::route_common::{label, routes_in, with_related};
use crate::authz::tying_check;
use crate::Context;

pub static META: RuleMeta = RuleMeta {
    code: "BOLA002",
    name: "inconsistent-object-authorization",
    summary: "One route checks ownership of a resource and another route to it does not",
    severity: Severity::High,
    docs: r#"## What it does
Flags a route that reaches a resource (an ORM model, a module-level store, a data
helper) by a caller-supplied id without tying it to the caller, when another route
to the same resource does check (typically GET checks ownership and PUT, PATCH or
DELETE does not). A view that serves several methods and branches on
`request.method` counts as one route per method: a check inside the GET branch does
not protect the PUT branch.

## Why is this bad?
The check exists, so the author knew the resource is per-user; the route that lacks
it lets any caller change or delete other users' objects, often the more damaging
operation.

## Example
```python
@app.get("/notes/<int:note_id>")
def read(note_id):
    note = Note.query.get_or_404(note_id)
    if note.owner_id != current_user.id:
        abort(404)
    return note.to_dict()

@app.delete("/notes/<int:note_id>")
def delete(note_id):
    db.session.delete(Note.query.get_or_404(note_id))   # no ownership check
```

## Use instead
Apply the same check in every route (one helper that loads and authorizes).
"#,
};

const FIX: &str = "Apply the same ownership check as the other route: load through one helper that authorizes, or scope the query by the caller.";

/// The route that checks the resource this access reaches, if another one does.
pub fn inconsistent_with<'m, 'a>(
    ctx: &'m Context<'a>,
    route: &Route<'_>,
    access: &Access,
) -> Option<&'m Route<'a>> {
    let wanted = resource(access);
    // The most telling witness first: another method of the same URL, then a route
    // in the same module, then any.
    ctx.model
        .routes
        .iter()
        .filter(|other| {
            !(other.rule == route.rule && other.methods == route.methods)
                && tied_resources(other).contains(&wanted)
        })
        .min_by_key(|other| {
            (
                other.rule != route.rule,
                other.view.module != route.view.module,
            )
        })
}

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    for route in routes_in(ctx, module) {
        if exempt(ctx, route) {
            continue;
        }
        for access in untied_accesses(route) {
            let Some(other) = inconsistent_with(ctx, route, access) else {
                continue;
            };
            let message = format!(
                "{} reaches `{}` with no ownership check, while {} checks it",
                label(route),
                resource(access),
                label(other)
            );
            // The check that ties the witness's object to the caller (not an existence
            // test or the key check before it).
            let wanted = resource(access);
            let checked_at = other
                .facts
                .accesses
                .iter()
                .filter(|a| resource(a) == wanted)
                .find_map(|a| tying_check(other, a))
                .or(other.facts.checks.first())
                .map(|c| c.loc)
                .unwrap_or(other.declared);
            let finding = with_related(
                ctx,
                ctx.finding(&META, access.loc, message)
                    .with_fix(FIX)
                    .with_route(&route.methods, &route.rule),
                checked_at,
                format!("{} checks ownership here", label(other)),
            );
            out.push(finding);
        }
    }
}
