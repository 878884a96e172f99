//! TOC005: authorization decided once, stored in the session, trusted later.

use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::{Origin, Principal};
use tocsin_python::project::ModuleId;

use super::route_common::{label, routes_in, with_related};
use crate::authz::route_checks;
use crate::Context;

pub static META: RuleMeta = RuleMeta {
    code: "TOC005",
    name: "authorization-trusted-from-session",
    summary: "Key validated once, outcome stored in the session and trusted without re-checking revocation",
    severity: Severity::Medium,
    docs: r#"## What it does
Flags a route that validates an API key or token and stores the outcome in
`session[...]`, when other routes then authorize from that session value alone,
without checking that the key is still valid.

## Why is this bad?
Flask's session is a signed cookie the client keeps. Once written, the authorization
it carries outlives the key it was derived from: revoking the key, or narrowing its
scopes, changes nothing for a client holding the cookie until it expires (31 days by
default for permanent sessions).

## Example
```python
@app.post("/session")
def exchange():
    client = API_KEYS.get(request.headers["X-API-Key"])
    if client is None:
        abort(401)
    session["client"] = client["id"]        # decided once

@app.get("/reports")
def reports():
    if "client" not in session:             # trusted later
        abort(401)
```

## Use instead
Re-validate on every request (store only the key's id and look it up), or check the
key itself on every request and keep no authorization in the session.
"#,
};

const FIX: &str = "Re-validate on every request: keep only the key's id in the session and look it up in the key store (refusing revoked keys) before trusting it.";

fn is_credential(principal: &Principal) -> bool {
    matches!(
        principal,
        Principal::Header(_)
            | Principal::Query(_)
            | Principal::Cookie(_)
            | Principal::Authorization
            | Principal::JwtClaims
    )
}

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    for route in routes_in(ctx, module) {
        if route.facts.session_writes.is_empty() {
            continue;
        }
        // The route must be where a key is validated: a check on a credential.
        let validates = route_checks(route).iter().any(|rc| {
            rc.check
                .reads
                .iter()
                .any(|o| matches!(o, Origin::Principal(p) if is_credential(p)))
        });
        if !validates {
            continue;
        }
        for write in &route.facts.session_writes {
            let key = write.key.clone();
            // Routes that refuse on this session value and never consult a key store.
            let trusting: Vec<_> = ctx
                .model
                .routes
                .iter()
                .filter(|other| other.declared != route.declared || other.rule != route.rule)
                .filter_map(|other| {
                    let checks = route_checks(other);
                    let trusting_check = checks.iter().find(|rc| {
                        rc.check.reads.iter().any(|o| match o {
                            Origin::Principal(Principal::Session(k)) => k.is_none() || *k == key,
                            _ => false,
                        })
                    })?;
                    let revalidates = checks.iter().any(|rc| {
                        rc.check.reads.iter().any(|o| {
                            matches!(
                                o,
                                Origin::Shared(_)
                                    | Origin::Db(_)
                                    | Origin::DbField(..)
                                    | Origin::Cache(_)
                            )
                        })
                    });
                    (!revalidates).then_some((other, trusting_check.check.loc))
                })
                .collect();
            let Some((first, _)) = trusting.first() else {
                continue;
            };
            let name = key.clone().unwrap_or_else(|| "…".to_string());
            let message = format!(
                "the outcome of a key check is stored in `session[\"{name}\"]` and {} trusts it without re-checking that the key is still valid",
                label(first)
            );
            let mut finding = ctx
                .finding(&META, write.loc, message)
                .with_fix(FIX)
                .with_route(&route.methods, &route.rule);
            for (other, loc) in trusting.iter().take(3) {
                finding = with_related(
                    ctx,
                    finding,
                    *loc,
                    format!("{} trusts the session value", label(other)),
                );
            }
            out.push(finding);
        }
    }
}
