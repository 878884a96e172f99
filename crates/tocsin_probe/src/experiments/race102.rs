//! RACE102: a scope change released together with reads, and a read that returns data
//! outside every scope the key held (before or after the change).

use tocsin_diagnostics::{Finding, RuleMeta, Severity, Status};

use super::{accepted, similarity, Collector, Context, SAME_DATA};
use crate::plan::ScopeChange;

pub const META: RuleMeta = RuleMeta {
    code: "RACE102",
    name: "permission-swap-race",
    summary:
        "A read released together with a scope change returns data outside every scope the key held",
    docs: r#"## What it does
For each `[[scope_change]]` in the plan, records what the read returns serially before the
change and after it, then releases the change together with copies of the read. A read
answered with success whose body matches neither serial answer returned data outside
every scope the key ever held: the check and the use saw different permissions.

## Why is this bad?
The permission check ran against one snapshot of the key's scope and the data lookup
against another (time of check to time of use). An attacker who can trigger or predict a
scope change reads records neither scope allows.

## Example
```python
@app.get("/users/<int:uid>/profile")
def profile(uid):
    if uid not in PERMS[key()]["user_ids"]:     # check against the old scope
        abort(403)
    time.sleep(0.05)
    return jsonify(load(PERMS[key()]["view"]))  # use the new one
```

## Use instead
```python
@app.get("/users/<int:uid>/profile")
def profile(uid):
    perms = dict(PERMS[key()])                  # one snapshot for check and use
    if uid not in perms["user_ids"]:
        abort(403)
    return jsonify(load(uid))
```
"#,
    severity: Severity::High,
};

const FIX: &str = "Take one snapshot of the key's permissions per request (or a signed token that carries them) and use it for both the check and the lookup.";

pub async fn run(ctx: &Context<'_>, out: &mut Collector) {
    if ctx.plan.scope_changes.is_empty() {
        ctx.note(out, "RACE102 skipped: the plan has no [[scope_change]]");
        return;
    }
    for spec in &ctx.plan.scope_changes {
        if ctx.stopped() {
            return;
        }
        run_one(ctx, out, spec).await;
    }
}

async fn run_one(ctx: &Context<'_>, out: &mut Collector, spec: &ScopeChange) {
    let name = spec.identity.as_str();
    let build = |r: &crate::plan::PlanRequest, id: Option<&str>| r.build(&ctx.base, ctx.plan, id);
    let (read, change, restore) = match (
        build(&spec.read, Some(name)),
        build(&spec.change, None),
        build(&spec.restore, None),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return ctx.note(out, format!("RACE102 {name}: {e}"))
        }
    };
    let count = spec
        .count
        .unwrap_or(ctx.race_count.min(10))
        .clamp(1, ctx.engine.config().max_batch - 1);
    let rounds = spec.rounds.unwrap_or(3).max(1);
    // Serial answers: before and after the change.
    ctx.send(out, restore.clone()).await;
    let before = ctx.send(out, read.clone()).await;
    let changed = ctx.send(out, change.clone()).await;
    let after = ctx.send(out, read.clone()).await;
    ctx.send(out, restore.clone()).await;
    if !accepted(&changed) {
        return ctx.note(
            out,
            format!("RACE102 {name}: the scope change is not answered with success, skipped"),
        );
    }
    let serial: Vec<Vec<u8>> = [&before, &after]
        .into_iter()
        .filter(|e| accepted(e))
        .filter_map(|e| e.response().map(|r| r.body.clone()))
        .collect();
    let mut outside = Vec::new();
    for round in 0..rounds {
        // Each round ends with the restore, so stopping between rounds is safe.
        if ctx.stopped() {
            break;
        }
        // The change goes last so the reads tend to pass their check before it lands.
        let mut requests = vec![read.clone(); count];
        requests.push(change.clone());
        let batch = ctx.batch(out, requests).await;
        ctx.send(out, restore.clone()).await;
        let Some(batch) = batch else { break };
        let origin = batch.first_release();
        for e in &batch.exchanges[..count] {
            let Some(r) = e.response().filter(|_| accepted(e)) else {
                continue;
            };
            let best = serial
                .iter()
                .map(|b| similarity(b, &r.body))
                .fold(0.0, f64::max);
            if best < SAME_DATA {
                outside.push((
                    e.clone(),
                    origin,
                    format!(
                        "round {}: accepted; body {:.0}% similar to the closest serial answer",
                        round + 1,
                        best * 100.0
                    ),
                ));
            }
        }
        if !outside.is_empty() {
            outside.insert(
                0,
                (
                    batch.exchanges[count].clone(),
                    origin,
                    format!("round {}: scope change", round + 1),
                ),
            );
            break;
        }
    }
    if outside.is_empty() {
        return;
    }
    let reads = outside.len() - 1;
    let message = format!(
        "{} {} returned data outside every scope {name}'s key held in {reads} read{} released together with a scope change",
        read.method,
        ctx.redact(&spec.read.path),
        if reads == 1 { "" } else { "s" },
    );
    let mut finding = Finding::new(
        META.code,
        META.severity,
        message,
        ctx.location(&read.method, &read.url),
    )
    .with_fix(FIX);
    finding.status = Some(Status::Confirmed);
    finding.evidence.push(ctx.evidence(
        &before,
        Some(name),
        None,
        Some("serial read before the change".into()),
    ));
    finding.evidence.push(ctx.evidence(
        &after,
        Some(name),
        None,
        Some("serial read after the change".into()),
    ));
    for (i, (e, origin, note)) in outside.iter().enumerate() {
        let who = if i == 0 {
            spec.change.identity.as_deref()
        } else {
            Some(name)
        };
        finding
            .evidence
            .push(ctx.evidence(e, who, *origin, Some(note.clone())));
    }
    ctx.found(out, finding);
}
