//! AUTH102: a revoked key keeps working after the revocation was acknowledged, either for
//! requests sent afterwards or for requests in flight when it happened.

use std::time::{Duration, Instant};

use tocsin_diagnostics::{Finding, RuleMeta, Severity, Status};

use super::{accepted, ms, verdict, Collector, Context, Verdict};
use crate::engine::Exchange;
use crate::plan::Revocation;

pub const META: RuleMeta = RuleMeta {
    code: "AUTH102",
    name: "revoked-key-still-accepted",
    summary: "A revoked key is still accepted after the revocation was acknowledged",
    docs: r#"## What it does
Given a request that revokes an identity's key (and one that restores it, so it can
repeat), releases the revocation together with uses of the key, then keeps using the key
after the revocation was acknowledged. Reports every use answered with success after the
acknowledgement, and the largest stale window in milliseconds.

## Why is this bad?
Revocation is what you do when a key leaks. A key cached by the validator, checked only
at the start of a slow request (time of check to time of use), or revoked in one worker
while others keep a copy, stays usable by the attacker after you were told it was dead.

## Example
```python
@app.post("/transfer")
def transfer():
    principal = KEYS.get(request.headers["X-API-Key"])   # checked here...
    if principal is None:
        abort(401)
    prepare()                                           # ...slow work...
    do_transfer(principal)                              # ...used here, key maybe revoked
```

## Use instead
```python
@app.post("/transfer")
def transfer():
    key = request.headers["X-API-Key"]
    prepare()
    with KEYS_LOCK:                                     # re-check at the time of use
        principal = KEYS.get(key)
        if principal is None:
            abort(401)
        do_transfer(principal)
```
"#,
    severity: Severity::High,
};

const FIX: &str = "Validate the key at the time of use (under the same lock or transaction as the action) and do not cache key validity beyond the revocation.";

/// Uses sent one after another once the revocation was acknowledged, at most.
const MAX_AFTER: usize = 20;
/// And for at most this long.
const AFTER_WINDOW: Duration = Duration::from_secs(3);
/// A use released with the revocation must answer at least this long (or as long as the
/// revocation itself took) after the acknowledgement to count: absorbs the scheduling
/// noise of a server that re-checks correctly.
const DEFAULT_TOLERANCE_MS: f64 = 5.0;

pub async fn run(ctx: &Context<'_>, out: &mut Collector) {
    if ctx.plan.revocations.is_empty() {
        ctx.note(out, "AUTH102 skipped: the plan has no [[revocation]]");
        return;
    }
    for spec in &ctx.plan.revocations {
        if ctx.stopped() {
            return;
        }
        run_one(ctx, out, spec).await;
    }
}

struct Stale {
    window_ms: f64,
    in_flight: bool,
}

async fn run_one(ctx: &Context<'_>, out: &mut Collector, spec: &Revocation) {
    let name = spec.identity.as_str();
    let build = |r: &crate::plan::PlanRequest, id: Option<&str>| r.build(&ctx.base, ctx.plan, id);
    let (check, revoke) = match (build(&spec.check, Some(name)), build(&spec.revoke, None)) {
        (Ok(c), Ok(r)) => (c, r),
        (Err(e), _) | (_, Err(e)) => return ctx.note(out, format!("AUTH102 {name}: {e}")),
    };
    let restore = match ctx.reset_of(spec.restore.as_ref(), spec.restore_command.as_ref()) {
        Ok(r) => r,
        Err(e) => return ctx.note(out, format!("AUTH102 {name}: restore: {e}")),
    };
    let concurrency = spec
        .concurrency
        .unwrap_or(ctx.race_count.min(10))
        .clamp(1, ctx.engine.config().max_batch - 1);
    let rounds = if restore.is_some() {
        spec.rounds.unwrap_or(3).max(1)
    } else {
        1
    };
    let floor = Duration::from_secs_f64(DEFAULT_TOLERANCE_MS / 1e3);

    let mut stale: Vec<Stale> = Vec::new();
    let mut evidence: Vec<(Exchange, Option<Instant>, String)> = Vec::new();
    for round in 0..rounds {
        // The restore after the loop gives the key back, so stopping here is safe.
        if ctx.stopped() {
            break;
        }
        if let Some(restore) = &restore {
            if !ctx.reset(out, restore).await {
                ctx.note(out, format!("AUTH102 {name}: the restore failed, stopped"));
                break;
            }
        }
        let before = ctx.send(out, check.clone()).await;
        if !accepted(&before) {
            ctx.note(
                out,
                format!("AUTH102 {name}: the key is not accepted before revocation, skipped"),
            );
            break;
        }
        // The revocation goes last: the uses' final bytes leave first, so they tend to
        // pass their check just before it lands, which is the window under test.
        let mut requests = vec![check.clone(); concurrency];
        requests.push(revoke.clone());
        let Some(batch) = ctx.batch(out, requests).await else {
            break;
        };
        let origin = batch.first_release();
        let revoke_exchange = &batch.exchanges[concurrency];
        let (Some(ack), true) = (revoke_exchange.first_byte, accepted(revoke_exchange)) else {
            ctx.note(
                out,
                format!(
                    "AUTH102 {name}: the revocation was not acknowledged with success, skipped"
                ),
            );
            break;
        };
        let mut round_evidence = vec![(
            revoke_exchange.clone(),
            origin,
            format!("round {}: revocation", round + 1),
        )];
        for e in &batch.exchanges[..concurrency] {
            // Scaled by how long the server took to answer the revocation itself, so a
            // loaded server's scheduling delays are not read as a stale key.
            let tolerance = revoke_exchange
                .response_time()
                .unwrap_or_default()
                .max(floor);
            let late = e.first_byte.is_some_and(|fb| fb > ack + tolerance);
            if accepted(e) && late {
                let window = e.first_byte.map(|fb| ms(fb - ack)).unwrap_or(0.0);
                stale.push(Stale {
                    window_ms: window,
                    in_flight: true,
                });
                round_evidence.push((e.clone(), origin, format!("released with the revocation; accepted {window:.1} ms after it was acknowledged")));
            }
        }
        // Then uses sent strictly after the acknowledgement.
        let after_start = Instant::now();
        for _ in 0..MAX_AFTER {
            if after_start.elapsed() > AFTER_WINDOW {
                break;
            }
            let e = ctx.send(out, check.clone()).await;
            if verdict(&e) == Verdict::Accepted {
                let window = e
                    .released
                    .map(|r| ms(r.saturating_duration_since(ack)))
                    .unwrap_or(0.0);
                stale.push(Stale {
                    window_ms: window,
                    in_flight: false,
                });
                round_evidence.push((
                    e,
                    origin,
                    format!("sent {window:.1} ms after the revocation was acknowledged; accepted"),
                ));
            } else {
                break;
            }
        }
        if round_evidence.len() > 1 {
            evidence.extend(round_evidence);
        }
    }
    if let Some(restore) = &restore {
        ctx.reset(out, restore).await;
    }
    if stale.is_empty() {
        return;
    }
    let largest = stale.iter().map(|s| s.window_ms).fold(0.0, f64::max);
    let in_flight = stale.iter().filter(|s| s.in_flight).count();
    let after = stale.len() - in_flight;
    let message = format!(
        "{name}'s key was still accepted {largest:.1} ms after its revocation was acknowledged ({in_flight} use{} released with the revocation, {after} sent after it)",
        if in_flight == 1 { "" } else { "s" },
    );
    let mut finding = Finding::new(
        META.code,
        META.severity,
        message,
        ctx.location(&check.method, &check.url),
    )
    .with_fix(FIX);
    finding.status = Some(Status::Confirmed);
    for (e, origin, note) in &evidence {
        let who = if e.request.method == revoke.method && e.request.url == revoke.url {
            spec.revoke.identity.as_deref()
        } else {
            Some(name)
        };
        finding
            .evidence
            .push(ctx.evidence(e, who, *origin, Some(note.clone())));
    }
    ctx.found(out, finding);
}
