//! TOC002: check and use read the same field from different request sources.

use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::{Origin, RequestSource};
use tocsin_python::project::ModuleId;

use super::route_common::{label, routes_in, with_related};
use crate::authz::{inside_check, route_checks};
use crate::Context;

pub static META: RuleMeta = RuleMeta {
    code: "TOC002",
    name: "check-and-use-from-different-sources",
    summary: "Check and use read the same field from different request sources",
    severity: Severity::High,
    docs: r#"## What it does
Flags a route whose authorization check reads a field from one part of the request
(`request.args`, a path parameter) while the action reads the field of the same name
from another (`request.form`, `request.get_json()`, `request.values`).

## Why is this bad?
One request can carry two values: the check authorizes `?doc_id=1` (the caller's
document) while the action loads `doc_id=2` from the form body (someone else's).
`request.values` is no cure: it prefers the query string, but a field absent there
comes from the form.

## Example
```python
if not can_edit(g.user, request.args["doc_id"]):
    abort(403)
doc = DOCS[request.form["doc_id"]]
```

## Use instead
```python
doc_id = request.args["doc_id"]
if not can_edit(g.user, doc_id):
    abort(403)
doc = DOCS[doc_id]
```
"#,
};

const FIX: &str =
    "Read the field once into a variable and use that value for both the check and the action.";

/// `request.values` resolves the query string first, so a check on `args` and a use
/// of `values` (or the reverse) see the same value.
fn same_value(a: RequestSource, b: RequestSource) -> bool {
    a == b
        || matches!(
            (a, b),
            (RequestSource::Args, RequestSource::Values)
                | (RequestSource::Values, RequestSource::Args)
        )
}

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    for route in routes_in(ctx, module) {
        let mut reported: Vec<(RequestSource, String)> = Vec::new();
        for rc in route_checks(route) {
            for origin in rc.check.reads.iter() {
                let Origin::Request {
                    source: checked,
                    field: Some(field),
                } = origin
                else {
                    continue;
                };
                for access in &route.facts.accesses {
                    if !rc.before(access.seq) || inside_check(route, access.seq) {
                        continue;
                    }
                    for used in access.args.iter() {
                        let Origin::Request {
                            source: used_source,
                            field: Some(used_field),
                        } = used
                        else {
                            continue;
                        };
                        if used_field != field || same_value(*checked, *used_source) {
                            continue;
                        }
                        if reported.contains(&(*used_source, field.clone())) {
                            continue;
                        }
                        reported.push((*used_source, field.clone()));
                        let read = route.facts.request_reads.iter().find(|r| {
                            r.source == *used_source
                                && r.field.as_deref() == Some(field)
                                && !inside_check(route, r.seq)
                        });
                        let at = read.map_or(access.loc, |r| r.loc);
                        let message = format!(
                            "`{field}` is checked from `{}` but the action reads it from `{}`: one request can carry a different value in each",
                            checked.as_str(),
                            used_source.as_str()
                        );
                        let mut finding = ctx
                            .finding(&META, at, message)
                            .with_fix(FIX)
                            .with_route(&route.methods, &route.rule);
                        finding = with_related(
                            ctx,
                            finding,
                            rc.check.loc,
                            format!(
                                "check reads `{field}` from `{}` ({})",
                                checked.as_str(),
                                label(route)
                            ),
                        );
                        finding = with_related(
                            ctx,
                            finding,
                            access.loc,
                            format!("use reads `{field}` from `{}`", used_source.as_str()),
                        );
                        out.push(finding);
                    }
                }
            }
        }
    }
}
