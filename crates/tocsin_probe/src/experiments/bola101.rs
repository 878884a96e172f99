//! BOLA101: identity B reads or changes an object that belongs to identity A.

use tocsin_diagnostics::{Finding, RuleMeta, Severity, Status};

use super::{accepted, similarity, verdict, Collector, Context, Verdict, SAME_DATA};
use crate::engine::{Exchange, Request};
use crate::plan::template_matches;

pub const META: RuleMeta = RuleMeta {
    code: "BOLA101",
    name: "cross-identity-object-access",
    summary: "An identity reads or changes an object that belongs to another identity",
    docs: r#"## What it does
For every object an identity owns (given with `--object NAME:/path` or in the plan), sends
the owner's request and then the same request with every other identity's key. A read is
reported when the other identity is answered with success and a body at least 90% similar
to the owner's; a change (PUT, PATCH, DELETE, only with `--allow-destructive`) when it is
answered with success. Paths listed as `shared` in the plan are skipped.

## Why is this bad?
Broken object-level authorization (BOLA, IDOR): any key holder can read or overwrite every
other user's records by changing an identifier. Checks often exist on the read and are
forgotten on the write.

## Example
```python
@app.put("/notes/<int:note_id>")
def update(note_id):
    note = NOTES[note_id]          # no owner check
    note.update(request.json)
    return jsonify(note)
```

## Use instead
```python
@app.put("/notes/<int:note_id>")
def update(note_id):
    note = NOTES.get(note_id)
    if note is None or note["owner"] != current_principal():
        abort(404)
    note.update(request.json)
    return jsonify(note)
```
"#,
    severity: Severity::High,
};

const FIX: &str = "Check that the object belongs to the caller on every method of the route (read, update, delete), in the same query that loads it.";

/// Methods tried as changes on an object: those declared for a matching route, else PUT
/// and DELETE. DELETE always last.
fn write_methods(ctx: &Context<'_>, path: &str) -> Vec<String> {
    let declared: Vec<String> = ctx
        .plan
        .endpoints
        .iter()
        .filter(|e| e.path == path || template_matches(&e.path, path))
        .map(|e| e.method.clone())
        .filter(|m| matches!(m.as_str(), "PUT" | "PATCH" | "DELETE"))
        .collect();
    let mut methods = if declared.is_empty() {
        vec!["PUT".to_string(), "DELETE".to_string()]
    } else {
        declared
    };
    methods.sort_by_key(|m| (m == "DELETE", m.clone()));
    methods.dedup();
    methods
}

pub async fn run(ctx: &Context<'_>, out: &mut Collector) {
    if ctx.plan.identities.len() < 2 {
        ctx.note(out, "BOLA101 skipped: it needs at least two identities");
        return;
    }
    for (owner_name, paths) in &ctx.plan.objects {
        let Some(owner) = ctx.plan.identity(owner_name) else {
            ctx.note(
                out,
                format!("BOLA101: objects of unknown identity `{owner_name}` skipped"),
            );
            continue;
        };
        for path in paths {
            if ctx.stopped() {
                return;
            }
            if ctx.plan.is_shared(path) || ctx.plan.is_skipped("GET", path) {
                continue;
            }
            let Some(url) = ctx.url(path) else { continue };
            let read = Request::new("GET", url.clone());
            let own = ctx.send(out, owner.apply(read.clone())).await;
            let Some(own_response) = own.response().filter(|_| accepted(&own)).cloned() else {
                ctx.note(out, format!("BOLA101 GET {path}: the owner {owner_name} is not answered with success, skipped"));
                continue;
            };
            for other in ctx.plan.identities.iter().filter(|i| i.name != owner.name) {
                let theirs = ctx.send(out, other.apply(read.clone())).await;
                if let Some(r) = theirs.response().filter(|_| accepted(&theirs)) {
                    let sim = similarity(&own_response.body, &r.body);
                    if sim >= SAME_DATA {
                        let message = format!(
                            "{} reads {owner_name}'s object: GET {} answers {} with a body {:.0}% similar to {owner_name}'s own",
                            other.name,
                            ctx.redact(path),
                            r.status,
                            sim * 100.0
                        );
                        ctx.found(
                            out,
                            finding(
                                ctx,
                                "GET",
                                &url,
                                message,
                                &[
                                    (&own, &owner.name, "owner's own request".to_string()),
                                    (
                                        &theirs,
                                        &other.name,
                                        format!(
                                            "other identity: accepted, {:.0}% similar",
                                            sim * 100.0
                                        ),
                                    ),
                                ],
                            ),
                        );
                    }
                }
                if !ctx.plan.allow_destructive {
                    continue;
                }
                for method in write_methods(ctx, path) {
                    if ctx.plan.is_skipped(&method, path) {
                        continue;
                    }
                    let mut request = Request::new(&method, url.clone());
                    if method != "DELETE" {
                        // Writing back the owner's own data keeps the probe from changing it.
                        let content_type = own_response
                            .header("content-type")
                            .unwrap_or("application/json");
                        request = request
                            .header("Content-Type", content_type)
                            .body(own_response.body.clone());
                    }
                    let change = ctx.send(out, other.apply(request)).await;
                    let change_verdict = verdict(&change);
                    // A refusal ends it; an unclear answer (a 500 after the work was
                    // done) still gets the owner's read to see whether it took effect.
                    if change_verdict == Verdict::Refused
                        || (change_verdict == Verdict::Unclear && method != "DELETE")
                    {
                        continue;
                    }
                    let after = ctx.send(out, owner.apply(read.clone())).await;
                    let gone = method == "DELETE" && verdict(&after) == Verdict::Refused;
                    if change_verdict == Verdict::Unclear && !gone {
                        continue;
                    }
                    let effect = if gone {
                        "the object is gone for its owner afterwards"
                    } else {
                        "the server accepted the change"
                    };
                    let message = format!(
                        "{} changes {owner_name}'s object: {method} {} answers {} ({effect})",
                        other.name,
                        ctx.redact(path),
                        change.status().unwrap_or(0),
                    );
                    ctx.found(
                        out,
                        finding(
                            ctx,
                            &method,
                            &url,
                            message,
                            &[
                                (&own, &owner.name, "owner's own read".to_string()),
                                (
                                    &change,
                                    &other.name,
                                    format!(
                                        "other identity's {method}: {}",
                                        if change_verdict == Verdict::Accepted {
                                            "accepted"
                                        } else {
                                            "unclear answer, but it took effect"
                                        }
                                    ),
                                ),
                                (&after, &owner.name, "owner's read afterwards".to_string()),
                            ],
                        ),
                    );
                }
            }
        }
    }
}

fn finding(
    ctx: &Context<'_>,
    method: &str,
    url: &crate::engine::Url,
    message: String,
    exchanges: &[(&Exchange, &str, String)],
) -> Finding {
    let mut f =
        Finding::new(META.code, META.severity, message, ctx.location(method, url)).with_fix(FIX);
    f.status = Some(Status::Confirmed);
    for (e, who, note) in exchanges {
        f.evidence
            .push(ctx.evidence(e, Some(who), None, Some(note.clone())));
    }
    f
}
