//! RACE101: a request that succeeds a limited number of times serially succeeds more
//! often when N copies are released together (limit overrun).

use tocsin_diagnostics::{Finding, RuleMeta, Severity, Status};

use super::{accepted, ms, Collector, Context};
use crate::plan::RaceSpec;

pub const META: RuleMeta = RuleMeta {
    code: "RACE101",
    name: "limit-overrun-race",
    summary: "A limited action succeeds more often when copies are released together than serially",
    docs: r#"## What it does
For each `[[race]]` in the plan, measures how often the request succeeds when sent
serially from a reset state (or takes the plan's `limit`, default 1, when there is no
reset request), then releases N copies together (last-byte sync on HTTP/1.1,
single-packet on HTTP/2) from the same state and counts successes. Reports the
successes, the serial baseline and the release spread.

## Why is this bad?
Single-use coupons, one-vote-per-user, balance checks and rate limits that read a value,
decide, and write it back in separate steps let concurrent requests all pass the check
before any of them writes: the limit is overrun.

## Example
```python
@app.post("/coupons/<code>/redeem")
def redeem(code):
    if COUPONS[code]["used"]:
        abort(409)
    apply_discount()
    COUPONS[code]["used"] = True
```

## Use instead
```python
@app.post("/coupons/<code>/redeem")
def redeem(code):
    with LOCK:                     # or one atomic UPDATE ... WHERE used = 0
        if COUPONS[code]["used"]:
            abort(409)
        COUPONS[code]["used"] = True
    apply_discount()
```
"#,
    severity: Severity::High,
};

const FIX: &str = "Make the check and the update one atomic step (a lock, a conditional UPDATE, a unique constraint).";

/// Serial tries stop after this many refusals in a row once a success was seen.
const SERIAL_STOP_AFTER: usize = 2;

pub async fn run(ctx: &Context<'_>, out: &mut Collector) {
    if ctx.plan.races.is_empty() {
        ctx.note(out, "RACE101 skipped: the plan has no [[race]]");
        return;
    }
    for spec in &ctx.plan.races {
        if ctx.stopped() {
            return;
        }
        run_one(ctx, out, spec).await;
    }
}

async fn run_one(ctx: &Context<'_>, out: &mut Collector, spec: &RaceSpec) {
    let label = spec
        .name
        .clone()
        .unwrap_or_else(|| format!("{} {}", spec.request.method, spec.request.path));
    let count = spec
        .count
        .unwrap_or(ctx.race_count)
        .clamp(2, ctx.engine.config().max_batch);
    let request = match spec.request.build(&ctx.base, ctx.plan, None) {
        Ok(r) => r,
        Err(e) => return ctx.note(out, format!("RACE101 {label}: {e}")),
    };
    let reset = match ctx.reset_of(spec.reset.as_ref(), spec.reset_command.as_ref()) {
        Ok(r) => r,
        Err(e) => return ctx.note(out, format!("RACE101 {label}: reset: {e}")),
    };
    // Serial baseline from a reset state.
    let baseline = match &reset {
        Some(reset) => {
            if !ctx.reset(out, reset).await {
                return ctx.note(out, format!("RACE101 {label}: the reset failed, skipped"));
            }
            let mut successes = 0;
            let mut refusals_in_a_row = 0;
            for _ in 0..count {
                let e = ctx.send(out, request.clone()).await;
                if accepted(&e) {
                    successes += 1;
                    refusals_in_a_row = 0;
                } else {
                    refusals_in_a_row += 1;
                    if successes > 0 && refusals_in_a_row >= SERIAL_STOP_AFTER {
                        break;
                    }
                }
            }
            if !ctx.reset(out, reset).await {
                return ctx.note(out, format!("RACE101 {label}: the reset failed, skipped"));
            }
            successes
        }
        None => spec.limit.unwrap_or(1),
    };
    if baseline == 0 {
        return ctx.note(
            out,
            format!("RACE101 {label}: the request never succeeds serially, skipped"),
        );
    }
    if baseline >= count {
        return ctx.note(
            out,
            format!("RACE101 {label}: all {count} serial copies succeed; no limit to overrun"),
        );
    }
    let Some(batch) = ctx.batch(out, vec![request.clone(); count]).await else {
        return;
    };
    if let Some(reset) = &reset {
        ctx.reset(out, reset).await;
    }
    let successes = batch.exchanges.iter().filter(|e| accepted(e)).count();
    let spread = batch.release_spread().map(ms).unwrap_or(0.0);
    if successes <= baseline {
        ctx.note(
            out,
            format!("RACE101 {label}: {successes} of {count} succeeded together (serial {baseline}), no overrun"),
        );
        return;
    }
    let identity = spec.request.identity.as_deref();
    let message = format!(
        "{} {} succeeded {successes} times when {count} copies were released together ({}, release spread {spread:.3} ms); serially it succeeds {baseline} time{}",
        request.method,
        ctx.redact(&spec.request.path),
        ctx.sync.as_str(),
        if baseline == 1 { "" } else { "s" },
    );
    let mut finding = Finding::new(
        META.code,
        META.severity,
        message,
        ctx.location(&request.method, &request.url),
    )
    .with_fix(FIX);
    finding.status = Some(Status::Confirmed);
    let origin = batch.first_release();
    for e in &batch.exchanges {
        let note = if accepted(e) { "success" } else { "refused" };
        finding
            .evidence
            .push(ctx.evidence(e, identity, origin, Some(note.into())));
    }
    ctx.found(out, finding);
}
