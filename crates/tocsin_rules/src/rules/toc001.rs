//! TOC001: a check on mutable authorization state, then a use that re-derives.

use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::AccessKind;
use tocsin_python::project::ModuleId;

use super::route_common::{label, line, routes_in, with_related};
use crate::authz::{
    inside_check, lookups_of, reads_selector, route_checks, runtime_mutated, selectors,
};
use crate::Context;

pub static META: RuleMeta = RuleMeta {
    code: "TOC001",
    name: "check-on-mutable-state-then-use",
    summary: "Authorization checked against mutable shared state, then the object is fetched again",
    severity: Severity::High,
    docs: r#"## What it does
Flags an authorization check that reads shared state some request can change at run
time (a module-level map of keys to scopes or objects, a permission table), after
which the action fetches the object again by the same id, or re-reads the state,
with nothing making the two atomic.

## Why is this bad?
The decision is made on a snapshot that is stale by the time the action runs. A key
revoked, or a scope narrowed, between the check and the use is not seen: the request
in flight completes with authority it no longer has. Under load or with a slow data
source the window is wide enough to hit on purpose.

## Example
```python
if user_id not in key_permissions[api_key]:   # check on mutable state
    abort(403)
return jsonify(fetch_user(user_id))           # use re-derives the object
```

## Use instead
Authorize from a signed, short-lived token whose claims are used directly:
```python
claims = jwt.decode(token, SECRET, algorithms=["HS256"])
return jsonify(fetch_user(claims["user_id"]))
```
or hold one lock across check and use (and in the code that changes the state):
```python
with permissions_lock:
    if user_id not in key_permissions[api_key]:
        abort(403)
    profile = fetch_user(user_id)
```
"#,
};

const FIX: &str = "Make check and use one step: authorize from a signed, scoped, short-lived token and use its claims directly, or hold one lock across the check, the use and every mutation of the state.";

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    for route in routes_in(ctx, module) {
        for rc in route_checks(route) {
            // Authorization state: mutable state looked up by the caller's identity
            // while deciding (`KEY_SCOPES[api_key]`), not an existence test of the
            // object itself (`doc_id in DOCS`).
            let states: Vec<_> = lookups_of(&rc)
                .filter(|l| l.key.has_principal())
                .filter_map(|l| runtime_mutated(ctx.model, &l.state))
                .collect();
            let Some(state) = states.first() else {
                continue;
            };
            let wanted = selectors(&rc.check.reads);
            if wanted.is_empty() {
                continue;
            }
            let use_site = route.facts.accesses.iter().find(|access| {
                if !rc.before(access.seq) || inside_check(route, access.seq) {
                    return false;
                }
                let rereads = matches!(&access.kind, AccessKind::Index { container } if *container == state.state.name);
                let rederives = wanted.iter().any(|(s, f)| reads_selector(&access.args, *s, f));
                let atomic = rc.guard.is_none() && rc.check.lock.is_some() && rc.check.lock == access.lock;
                (rereads || rederives) && !atomic
            });
            let Some(access) = use_site else { continue };
            let mutation = state.mutations.iter().find(|m| m.function.is_some());
            let by = mutation
                .map(|m| {
                    if m.routes.is_empty() {
                        format!("`{}`", m.function.clone().unwrap_or_default())
                    } else {
                        format!("`{}`", m.routes[0])
                    }
                })
                .unwrap_or_default();
            let field = wanted
                .first()
                .map(|(_, f)| f.as_str())
                .unwrap_or("the object");
            let message = format!(
                "authorization check reads `{}`, which {by} changes at run time, and `{field}` is used again at line {} with nothing making check and use atomic",
                state.state.name,
                line(ctx, access.loc)
            );
            let mut finding = ctx
                .finding(&META, rc.check.loc, message)
                .with_fix(FIX)
                .with_route(&route.methods, &route.rule);
            finding = with_related(
                ctx,
                finding,
                rc.check.loc,
                format!("check on `{}` ({})", state.state.name, label(route)),
            );
            finding = with_related(
                ctx,
                finding,
                access.loc,
                format!("use: `{field}` reaches the data again"),
            );
            for m in state
                .mutations
                .iter()
                .filter(|m| m.function.is_some())
                .take(3)
            {
                let who = if m.routes.is_empty() {
                    m.function.clone().unwrap_or_default()
                } else {
                    m.routes.join(", ")
                };
                finding = with_related(
                    ctx,
                    finding,
                    m.loc,
                    format!("`{}` mutated at run time by {who}", state.state.name),
                );
            }
            out.push(finding);
        }
    }
}
