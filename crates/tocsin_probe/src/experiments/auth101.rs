//! AUTH101: a route protected for identities answers without a key, with a malformed key
//! or with an unknown key.

use tocsin_diagnostics::{Finding, RuleMeta, Severity, Status};

use super::{accepted, verdict, Collector, Context, Verdict, SAME_DATA};
use crate::engine::{Exchange, Request};
use crate::plan::{template_matches, Identity};

pub const META: RuleMeta = RuleMeta {
    code: "AUTH101",
    name: "key-not-enforced",
    summary:
        "A protected route answers without a key, with a malformed key, or with an unknown key",
    docs: r#"## What it does
Sends each route the identities can use again without a key, with an empty or malformed
key, and with an unknown key of the same shape, and reports the route when one of those
is answered with success while the route is protected for identities: another variant was
refused, the API document or plan says it needs a key, or it serves identity-specific data.

## Why is this bad?
Anyone can use the route. A check that only runs when the header is present, a
`try/except` that falls through, or a lookup that treats an unknown key as a default
principal all look like authentication in code review and do nothing at run time.

## Example
```python
@app.get("/me")
def me():
    key = request.headers.get("X-API-Key")
    if key and key not in KEYS:
        abort(401)
    return jsonify(profile_for(key))
```

## Use instead
```python
@app.before_request
def require_key():
    key = request.headers.get("X-API-Key", "")
    if not any(hmac.compare_digest(key, k) for k in KEYS):
        abort(401)
```
"#,
    severity: Severity::High,
};

const FIX: &str = "Reject requests whose key is missing, malformed or unknown before any work, in one place (a before_request hook), with 401.";

/// The credential variants sent in place of an identity's key.
fn variants(identity: &Identity) -> Vec<(&'static str, Option<String>)> {
    let bearer = identity.value.starts_with("Bearer ") || identity.value.starts_with("bearer ");
    let secret = identity.secret();
    let unknown = mutate(secret);
    let (malformed, unknown) = if bearer {
        ("Bearer".to_string(), format!("Bearer {unknown}"))
    } else {
        ("%%tocsin-malformed%%".to_string(), unknown)
    };
    vec![
        ("no key", None),
        ("empty key", Some(String::new())),
        ("malformed key", Some(malformed)),
        ("unknown key", Some(unknown)),
    ]
}

/// A key of the same length and alphabet that is almost surely not valid: every
/// character rotated within its class.
pub(crate) fn mutate(secret: &str) -> String {
    let out: String = secret
        .chars()
        .map(|c| match c {
            'a'..='y' | 'A'..='Y' | '0'..='8' => char::from(c as u8 + 1),
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            other => other,
        })
        .collect();
    if out == secret {
        format!("{secret}x")
    } else {
        out
    }
}

/// The concrete routes AUTH101 tries: declared routes (templates filled from the
/// objects) and the objects themselves, reads only.
fn routes(ctx: &Context<'_>) -> Vec<(String, String, Option<bool>)> {
    let objects: Vec<&String> = ctx.plan.objects.values().flatten().collect();
    let mut out: Vec<(String, String, Option<bool>)> = Vec::new();
    let mut push = |method: &str, path: &str, protected: Option<bool>| {
        if !out.iter().any(|(m, p, _)| m == method && p == path) {
            out.push((method.to_string(), path.to_string(), protected));
        }
    };
    for endpoint in &ctx.plan.endpoints {
        // Only reads: the identities' baseline requests would otherwise change or delete
        // the very data being probed.
        if !matches!(endpoint.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
            continue;
        }
        if endpoint.is_template() {
            for object in objects
                .iter()
                .filter(|o| template_matches(&endpoint.path, o))
            {
                push(&endpoint.method, object, endpoint.protected);
            }
        } else {
            push(&endpoint.method, &endpoint.path, endpoint.protected);
        }
    }
    for object in objects {
        push("GET", object, None);
    }
    out.retain(|(m, p, _)| !ctx.plan.is_skipped(m, p));
    out
}

pub async fn run(ctx: &Context<'_>, out: &mut Collector) {
    if ctx.plan.identities.is_empty() {
        ctx.note(out, "AUTH101 skipped: no identities given");
        return;
    }
    for (method, path, declared) in routes(ctx) {
        if ctx.stopped() {
            return;
        }
        let Some(url) = ctx.url(&path) else { continue };
        let plain = Request::new(&method, url.clone());
        // Baselines: each identity's own answer.
        let mut own: Vec<(&Identity, Exchange)> = Vec::new();
        for identity in &ctx.plan.identities {
            let e = ctx.send(out, identity.apply(plain.clone())).await;
            own.push((identity, e));
        }
        let Some((reference, _)) = own.iter().find(|(_, e)| accepted(e)) else {
            ctx.note(
                out,
                format!("AUTH101 {method} {path}: no identity is accepted, skipped"),
            );
            continue;
        };
        let reference = (*reference).clone();
        let mut tries: Vec<(&'static str, Exchange)> = Vec::new();
        for (label, value) in variants(&reference) {
            let request = match value {
                None => plain.clone(),
                Some(v) => {
                    let mut r = plain.clone();
                    r.headers.push((reference.header.clone(), v));
                    r
                }
            };
            // Other identities' headers are never sent with a variant.
            tries.push((label, ctx.send(out, request).await));
        }
        let own_accepted: Vec<&(&Identity, Exchange)> =
            own.iter().filter(|(_, e)| accepted(e)).collect();
        let any_refused = tries.iter().any(|(_, e)| verdict(e) == Verdict::Refused);
        let identity_specific = own_accepted.windows(2).any(|w| {
            let (a, b) = (w[0].1.response(), w[1].1.response());
            matches!((a, b), (Some(a), Some(b)) if super::similarity(&a.body, &b.body) < SAME_DATA)
        });
        let protected = declared == Some(true)
            || ctx.plan.is_declared_protected(&method, &path)
            || any_refused
            || identity_specific;
        let passed: Vec<&(&'static str, Exchange)> =
            tries.iter().filter(|(_, e)| accepted(e)).collect();
        if !protected || passed.is_empty() {
            continue;
        }
        let why = if declared == Some(true) || ctx.plan.is_declared_protected(&method, &path) {
            "the route is declared to require a key"
        } else if any_refused {
            "other credential variants are refused"
        } else {
            "identities get their own data from it"
        };
        let labels: Vec<&str> = passed.iter().map(|(l, _)| *l).collect();
        let names: Vec<&str> = own_accepted.iter().map(|(i, _)| i.name.as_str()).collect();
        let status = passed[0].1.status().unwrap_or(0);
        let message = format!(
            "{method} {} answers {status} with {} while it is protected for {} ({why})",
            ctx.redact(&path),
            labels.join(", "),
            names.join(", "),
        );
        let mut finding = Finding::new(
            META.code,
            META.severity,
            message,
            ctx.location(&method, &url),
        )
        .with_fix(FIX);
        finding.status = Some(Status::Confirmed);
        for (identity, e) in &own {
            finding.evidence.push(ctx.evidence(
                e,
                Some(&identity.name),
                None,
                Some("identity's own request".into()),
            ));
        }
        for (label, e) in &tries {
            let verdict = match verdict(e) {
                Verdict::Accepted => "accepted",
                Verdict::Refused => "refused",
                Verdict::Unclear => "unclear",
            };
            finding
                .evidence
                .push(ctx.evidence(e, None, None, Some(format!("{label}: {verdict}"))));
        }
        ctx.found(out, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutated_keys_differ_with_same_shape() {
        for k in ["abc123", "zzz", "Z9", "----", ""] {
            let m = mutate(k);
            assert_ne!(m, k);
        }
        assert_eq!(mutate("az9Z").len(), 4);
    }
}
