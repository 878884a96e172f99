//! Shared queries over routes for the authorization-flow rules (TOC*, BOLA*): which
//! checks run for a route, which request values select objects, whether a check ties
//! an object to the caller, and where shared state is mutated at run time.

use ruff_python_ast::{Expr, Stmt};
use rustc_hash::FxHashSet;
use tocsin_python::facts::{
    Access, AccessKind, Check, Facts, Lookup, Origin, Origins, RequestSource, StateRef,
};
use tocsin_python::model::{Route, SharedState};
use tocsin_python::AppModel;

/// A check that runs for a route: a guard's (before the view) or the view's own.
pub struct RouteCheck<'r> {
    pub check: &'r Check,
    /// `Some(name)` for checks made by a guard decorator or hook.
    pub guard: Option<&'r str>,
    /// The facts the check belongs to (the guard's or the view's).
    pub facts: &'r Facts,
}

impl RouteCheck<'_> {
    /// Does the check complete before `seq` in the view? Guards always do.
    pub fn before(&self, seq: u32) -> bool {
        self.guard.is_some() || self.check.seq < seq
    }
}

pub fn route_checks<'r>(route: &'r Route<'_>) -> Vec<RouteCheck<'r>> {
    let mut out = Vec::new();
    for guard in &route.guards {
        for check in &guard.facts.checks {
            out.push(RouteCheck {
                check,
                guard: Some(&guard.name),
                facts: &guard.facts,
            });
        }
    }
    for check in &route.facts.checks {
        out.push(RouteCheck {
            check,
            guard: None,
            facts: &route.facts,
        });
    }
    out
}

/// Is `seq` inside the evaluation of one of the view's own checks (a read made in
/// order to decide, not the action)?
pub fn inside_check(route: &Route<'_>, seq: u32) -> bool {
    route
        .facts
        .checks
        .iter()
        .any(|c| c.seq_start <= seq && seq < c.seq)
}

/// Request fields that name objects: every path parameter, and body/query fields
/// whose names say they are identifiers. Paging, search and sort fields are not.
pub fn is_object_selector(source: RequestSource, field: Option<&str>) -> bool {
    let Some(field) = field else { return false };
    if source == RequestSource::Path {
        return true;
    }
    let lower = field.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "page"
            | "per_page"
            | "limit"
            | "offset"
            | "q"
            | "query"
            | "search"
            | "sort"
            | "order_by"
            | "cursor"
    ) {
        return false;
    }
    lower == "id"
        || lower.ends_with("_id")
        || lower.ends_with("id")
            && lower.len() > 2
            && !lower.ends_with("valid")
            && !lower.ends_with("paid")
        || lower.ends_with("_ids")
        || lower.ends_with("uuid")
        || lower.ends_with("_pk")
        || lower.ends_with("slug")
        || matches!(lower.as_str(), "filename" | "file" | "path")
}

/// The object-selecting request origins among `origins`.
pub fn selectors(origins: &Origins) -> Vec<(RequestSource, String)> {
    origins
        .iter()
        .filter_map(|o| match o {
            Origin::Request { source, field } if is_object_selector(*source, field.as_deref()) => {
                Some((*source, field.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect()
}

pub fn reads_selector(reads: &Origins, source: RequestSource, field: &str) -> bool {
    reads.iter().any(|o| {
        matches!(o, Origin::Request { source: s, field: Some(f) } if *s == source && f == field)
    })
}

/// The object an access loads, as origins a later check can read: the model's rows,
/// the container, or what a helper returns.
pub fn loaded(access: &Access) -> Origins {
    let mut out = access.result.clone();
    if let AccessKind::Orm { model, .. } = &access.kind {
        out.insert(Origin::Db(model.clone()));
    }
    out
}

fn mentions_loaded(reads: &Origins, access: &Access) -> bool {
    let loaded = loaded(access);
    reads.iter().any(|o| match o {
        Origin::Db(m) | Origin::DbField(m, _) => {
            loaded.iter().any(|l| matches!(l, Origin::Db(x) if x == m))
        }
        Origin::Shared(s) => match &access.kind {
            AccessKind::Index { container } => &s.name == container,
            _ => loaded
                .iter()
                .any(|l| matches!(l, Origin::Shared(x) if x == s)),
        },
        _ => false,
    })
}

/// Does some check tie the object this access reaches to the caller: an ownership
/// comparison on the loaded object, or a permission lookup keyed by the caller and
/// the requested id?
pub fn tied_to_caller(route: &Route<'_>, access: &Access) -> bool {
    access.principal_scoped || tying_check(route, access).is_some()
}

/// The check that ties the object this access reaches to the caller, if one does.
pub fn tying_check<'r>(route: &'r Route<'_>, access: &Access) -> Option<&'r Check> {
    let wanted = selectors(&access.args);
    route_checks(route)
        .into_iter()
        .find(|rc| {
            let reads = &rc.check.reads;
            reads.has_principal()
                && (wanted.iter().any(|(s, f)| reads_selector(reads, *s, f))
                    || mentions_loaded(reads, access))
        })
        .map(|rc| rc.check)
}

/// Routes restricted to a role (an admin guard, or a check comparing the caller's
/// role or scope with a literal): such routes read any object by design.
pub fn is_admin_route(route: &Route<'_>) -> bool {
    route.guards.iter().any(|g| {
        let lower = g.name.to_ascii_lowercase();
        // Role and permission guards decide per object or per role: not ours to judge.
        lower.contains("admin")
            || lower.contains("staff")
            || lower.contains("superuser")
            || lower.contains("role")
            || lower.contains("permission")
            || lower.ends_with("requires")
            || lower.contains("has_access")
    }) || route_checks(route).iter().any(|rc| {
        rc.check.role
            || rc
                .check
                .via
                .as_deref()
                .is_some_and(|v| v.to_ascii_lowercase().contains("admin"))
    })
}

/// Lookups made while the check was evaluated: `S[k]`, `S.get(k)`, `k in S`.
pub fn lookups_of<'r>(rc: &RouteCheck<'r>) -> impl Iterator<Item = &'r Lookup> {
    let (start, end) = (rc.check.seq_start, rc.check.seq);
    rc.facts
        .lookups
        .iter()
        .filter(move |l| start <= l.seq && l.seq < end)
}

const OWNER_FIELDS: &[&str] = &[
    "owner",
    "owner_id",
    "user",
    "user_id",
    "userid",
    "account",
    "account_id",
    "tenant",
    "tenant_id",
    "customer",
    "customer_id",
    "client",
    "client_id",
    "created_by",
    "author",
    "author_id",
    "org",
    "org_id",
    "organization_id",
    "team",
    "team_id",
    "partner",
    "partner_id",
    "uploaded_by",
    "member_id",
    "creator",
    "creator_id",
];

fn is_owner_field(name: &str) -> bool {
    OWNER_FIELDS.contains(&name.to_ascii_lowercase().as_str())
}

/// Resources that belong to someone: ORM models with an owner column, stores whose
/// entries name an owner or are written with the caller's identity, and anything a
/// route ties to the caller. Object-level findings are only made on these: where
/// ownership is invisible, a finding would be a guess.
pub fn owned_targets<'c>(ctx: &'c crate::Context<'_>) -> &'c FxHashSet<String> {
    ctx.owned.get_or_init(|| {
        let mut owned = FxHashSet::default();
        for module in &ctx.index.modules {
            for (name, class) in &module.classes {
                let has_owner = class.body.iter().any(|stmt| {
                    let target = match stmt {
                        Stmt::Assign(a) => a.targets.first(),
                        Stmt::AnnAssign(a) => Some(&*a.target),
                        _ => None,
                    };
                    matches!(target, Some(Expr::Name(n)) if is_owner_field(n.id.as_str()))
                });
                if has_owner {
                    owned.insert((*name).to_string());
                }
            }
            for (name, value) in &module.variables {
                let Expr::Dict(dict) = value else { continue };
                let entries_have_owner = dict.items.iter().any(|item| match &item.value {
                    Expr::Dict(inner) => inner.items.iter().any(|i| {
                        i.key
                            .as_ref()
                            .and_then(tocsin_python::facts::string_literal)
                            .is_some_and(is_owner_field)
                    }),
                    _ => false,
                });
                if entries_have_owner {
                    owned.insert((*name).to_string());
                }
            }
        }
        for route in &ctx.model.routes {
            for write in &route.facts.writes {
                if write.value.has_principal() {
                    owned.insert(write.state.name.clone());
                }
            }
            for access in &route.facts.accesses {
                if !selectors(&access.args).is_empty() && tied_to_caller(route, access) {
                    owned.insert(access.target.clone());
                }
            }
        }
        owned
    })
}

/// Does the route authenticate the caller at all?
pub fn is_authenticated(route: &Route<'_>) -> bool {
    !route.guards.is_empty() || !route.principals.is_empty()
}

/// The module-level state, if some request-time code path mutates it.
pub fn runtime_mutated<'m>(model: &'m AppModel<'_>, state: &StateRef) -> Option<&'m SharedState> {
    model
        .shared_state
        .iter()
        .find(|s| &s.state == state && s.mutations.iter().any(|m| m.function.is_some()))
}

/// `*` matches any run of characters; used for `public-routes`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(stripped) = rest.strip_prefix(part) else {
                return false;
            };
            rest = stripped;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

/// Is the route declared public in configuration (`"/public/*"` or `"GET /health"`)?
pub fn is_public(route: &Route<'_>, patterns: &[String]) -> bool {
    patterns.iter().any(|p| match p.split_once(' ') {
        Some((method, rule)) => {
            route.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
                && glob_match(rule, &route.rule)
        }
        None => glob_match(p, &route.rule),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("/public/*", "/public/<slug>"));
        assert!(!glob_match("/public/*", "/private/x"));
        assert!(glob_match("*/health", "/api/health"));
    }

    #[test]
    fn selectors_skip_paging() {
        assert!(is_object_selector(RequestSource::Json, Some("invoice_id")));
        assert!(is_object_selector(RequestSource::Path, Some("slug")));
        assert!(!is_object_selector(RequestSource::Args, Some("page")));
        assert!(!is_object_selector(RequestSource::Json, Some("name")));
    }
}
