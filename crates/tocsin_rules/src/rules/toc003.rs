//! TOC003: read, compare, write in separate steps (limit overrun).

use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::{Condition, Origin, WriteKind};
use tocsin_python::project::ModuleId;
use tocsin_python::Loc;

use super::route_common::{label, routes_in, with_related};
use crate::Context;

pub static META: RuleMeta = RuleMeta {
    code: "TOC003",
    name: "read-check-write-without-atomicity",
    summary:
        "Counter, balance, quota or single-use flag read, compared and written in separate steps",
    severity: Severity::High,
    docs: r#"## What it does
Flags a value (a counter, balance, quota, stock level, single-use flag, attempt
count) that a route reads, compares in a condition, and then writes back in a
separate step: an ORM attribute read and assigned before `commit()`, a module-level
dict counter, or a cache `get` followed by `set` of a value derived from it.

## Why is this bad?
Two requests released together both read the old value, both pass the comparison,
and both write: a coupon is redeemed twice, a balance goes negative, a rate limit
lets N requests through instead of one. This is the classic limit-overrun race.

## Example
```python
coupon = Coupon.query.filter_by(code=code).first_or_404()
if coupon.used:
    return {"error": "used"}, 409
coupon.used = True
db.session.commit()
```

## Use instead
Let the database decide in one statement:
```python
result = db.session.execute(
    update(Coupon).where(Coupon.code == code, Coupon.used.is_(False)).values(used=True)
)
if result.rowcount == 0:
    return {"error": "used"}, 409
db.session.commit()
```
or lock the row (`with_for_update()`), hold a lock around the dict update, or use an
atomic increment (`cache.inc`, Redis `INCR`).
"#,
};

const FIX: &str = "Make it one atomic step: a conditional UPDATE … WHERE with a rowcount check, a row lock (with_for_update()), a lock held around read-compare-write, or an atomic increment.";

fn unlocked(condition: &Condition, lock: Option<u32>) -> bool {
    condition.lock.is_none() || condition.lock != lock
}

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    for route in routes_in(ctx, module) {
        let facts = &route.facts;
        let mut report = |at: Loc, condition: &Condition, what: String| {
            let mut finding = ctx
                .finding(&META, at, format!("{what} is read, compared and written back in separate steps: concurrent requests all pass the check"))
                .with_fix(FIX).with_route(&route.methods, &route.rule);
            finding = with_related(
                ctx,
                finding,
                condition.loc,
                format!("compared here ({})", label(route)),
            );
            finding = with_related(ctx, finding, at, "written here");
            out.push(finding);
        };
        for write in &facts.field_writes {
            if facts.locked_models.contains(&write.model) {
                continue;
            }
            let field = Origin::DbField(write.model.clone(), write.field.clone());
            if let Some(condition) = facts.conditions.iter().find(|c| {
                c.seq < write.seq && c.reads.iter().any(|o| o == &field) && unlocked(c, write.lock)
            }) {
                report(
                    write.loc,
                    condition,
                    format!("`{}.{}`", write.model, write.field),
                );
            }
        }
        for write in &facts.writes {
            if !matches!(write.kind, WriteKind::Assign) {
                continue;
            }
            // The same entry read in the condition (`attempts[user] >= 5`, `code in
            // USED`) and written after it, or a size limit (`len(S) >= MAX`) checked
            // before adding to S.
            let condition = facts.conditions.iter().find(|c| {
                if c.seq >= write.seq
                    || !unlocked(c, write.lock)
                    || !c.reads.shared().any(|s| s == &write.state)
                {
                    return false;
                }
                let lookups: Vec<_> = facts
                    .lookups
                    .iter()
                    .filter(|l| l.state == write.state && c.seq_start <= l.seq && l.seq < c.seq)
                    .collect();
                let same_entry = !write.key_text.is_empty()
                    && lookups.iter().any(|l| l.key_text == write.key_text);
                let size_limit = lookups.is_empty();
                same_entry || size_limit
            });
            if let Some(condition) = condition {
                report(write.loc, condition, format!("`{}`", write.state.name));
            }
        }
        for write in &facts.cache_writes {
            let cached = Origin::Cache(write.cache.clone());
            if !write.value.iter().any(|o| o == &cached) {
                continue;
            }
            if let Some(condition) = facts.conditions.iter().find(|c| {
                c.seq < write.seq && c.reads.iter().any(|o| o == &cached) && unlocked(c, write.lock)
            }) {
                report(
                    write.loc,
                    condition,
                    format!("a value in `{}`", write.cache),
                );
            }
        }
    }
}
