//! Shared queries over routes for the authorization-flow rules (TOC*, BOLA*): which
//! checks run for a route, which request values select objects, whether a check ties
//! an object to the caller, and where shared state is mutated at run time.

use tocsin_python::facts::{Access, AccessKind, Check, Origin, Origins, RequestSource, StateRef};
use tocsin_python::model::{Route, SharedState};
use tocsin_python::AppModel;

/// A check that runs for a route: a guard's (before the view) or the view's own.
pub struct RouteCheck<'r> {
    pub check: &'r Check,
    /// `Some(name)` for checks made by a guard decorator or hook.
    pub guard: Option<&'r str>,
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
            });
        }
    }
    for check in &route.facts.checks {
        out.push(RouteCheck { check, guard: None });
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
        "page" | "per_page" | "limit" | "offset" | "q" | "query" | "search" | "sort" | "order_by" | "cursor"
    ) {
        return false;
    }
    lower == "id"
        || lower.ends_with("_id")
        || lower.ends_with("id") && lower.len() > 2 && !lower.ends_with("valid") && !lower.ends_with("paid")
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
        Origin::Db(m) | Origin::DbField(m, _) => loaded.iter().any(|l| matches!(l, Origin::Db(x) if x == m)),
        Origin::Shared(s) => match &access.kind {
            AccessKind::Index { container } => &s.name == container,
            _ => loaded.iter().any(|l| matches!(l, Origin::Shared(x) if x == s)),
        },
        _ => false,
    })
}

/// Does some check tie the object this access reaches to the caller: an ownership
/// comparison on the loaded object, or a permission lookup keyed by the caller and
/// the requested id?
pub fn tied_to_caller(route: &Route<'_>, access: &Access) -> bool {
    if access.principal_scoped {
        return true;
    }
    let wanted = selectors(&access.args);
    route_checks(route).iter().any(|rc| {
        let reads = &rc.check.reads;
        reads.has_principal()
            && (wanted.iter().any(|(s, f)| reads_selector(reads, *s, f)) || mentions_loaded(reads, access))
    })
}

/// Guards that restrict a route to administrators: such routes read any object by
/// design.
pub fn is_admin_route(route: &Route<'_>) -> bool {
    route.guards.iter().any(|g| {
        let lower = g.name.to_ascii_lowercase();
        lower.contains("admin") || lower.contains("staff") || lower.contains("superuser")
    }) || route.facts.checks.iter().any(|c| c.via.as_deref().is_some_and(|v| v.to_ascii_lowercase().contains("admin")))
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
            let Some(stripped) = rest.strip_prefix(part) else { return false };
            rest = stripped;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

/// Is the route declared public in configuration (`"/public/*"` or `"GET /health"`)?
pub fn is_public(route: &Route<'_>, patterns: &[String]) -> bool {
    patterns.iter().any(|p| match p.split_once(' ') {
        Some((method, rule)) => route.methods.iter().any(|m| m.eq_ignore_ascii_case(method)) && glob_match(rule, &route.rule),
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
