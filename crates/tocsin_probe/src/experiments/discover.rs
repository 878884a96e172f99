//! Object discovery: finds objects each identity owns from the routes, so BOLA101 runs
//! without `--object`. For every read route `/x/{id}` whose collection `/x` is also a
//! read route, lists the collection as each identity and takes the ids it shows that
//! identity alone (a listing everyone sees the same is not ownership).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{accepted, Collector, Context};
use crate::engine::Request;

/// Ids taken per collection and identity, at most.
const MAX_PER_COLLECTION: usize = 5;

/// Template (`/notes/{id}`, `/notes/<int:id>`) -> its collection (`/notes`) and the
/// parameter name, when the template ends in its only parameter.
fn collection_of(template: &str) -> Option<(String, String)> {
    let (parent, last) = template.trim_end_matches('/').rsplit_once('/')?;
    let param = last
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .or_else(|| {
            last.strip_prefix('<')
                .and_then(|l| l.strip_suffix('>'))
                .map(|l| l.rsplit(':').next().unwrap_or(l))
        })?;
    if parent.is_empty() || parent.contains(['{', '<']) {
        return None;
    }
    Some((parent.to_string(), param.to_string()))
}

/// The read route that lists `collection`, with or without a trailing slash.
fn listed_collection(reads: &BTreeSet<&str>, collection: &str) -> Option<String> {
    let slashed = format!("{collection}/");
    if reads.contains(collection) {
        Some(collection.to_string())
    } else if reads.contains(slashed.as_str()) {
        Some(slashed)
    } else {
        None
    }
}

/// The ids in a listing: a top-level array, or the first array inside an object; each
/// element an id itself or an object with `id`, `<param>`, `uuid` or `<param>_id`.
fn ids_in(body: &[u8], param: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let list = match &value {
        Value::Array(items) => items.as_slice(),
        Value::Object(map) => map
            .values()
            .find_map(|v| v.as_array())
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        _ => &[],
    };
    let keys = [
        "id".to_string(),
        param.to_string(),
        "uuid".to_string(),
        format!("{param}_id"),
    ];
    let scalar = |v: &Value| match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() && !s.contains(['/', '?', '#', ' ']) => Some(s.clone()),
        _ => None,
    };
    list.iter()
        .filter_map(|item| match item {
            Value::Object(map) => keys.iter().find_map(|k| map.get(k).and_then(scalar)),
            other => scalar(other),
        })
        .take(MAX_PER_COLLECTION)
        .collect()
}

/// identity name -> object paths discovered for it.
pub async fn objects(ctx: &Context<'_>, out: &mut Collector) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if ctx.plan.identities.len() < 2 {
        return found;
    }
    let reads: BTreeSet<&str> = ctx
        .plan
        .endpoints
        .iter()
        .filter(|e| e.method == "GET")
        .map(|e| e.path.as_str())
        .collect();
    for template in reads.iter().filter(|p| p.contains(['{', '<'])) {
        if ctx.stopped() {
            break;
        }
        let Some((collection, param)) = collection_of(template) else {
            continue;
        };
        // Blueprints often serve the collection at `/items/` and the item at
        // `/items/<id>`: either spelling of the collection route counts.
        let Some(collection) = listed_collection(&reads, &collection) else {
            continue;
        };
        if ctx.plan.is_skipped("GET", &collection) {
            continue;
        }
        let Some(url) = ctx.url(&collection) else {
            continue;
        };
        let mut listings: Vec<(String, BTreeSet<String>)> = Vec::new();
        for identity in &ctx.plan.identities {
            let e = ctx
                .send(out, identity.apply(Request::new("GET", url.clone())))
                .await;
            let ids = match e.response().filter(|_| accepted(&e)) {
                Some(r) => ids_in(&r.body, &param).into_iter().collect(),
                None => BTreeSet::new(),
            };
            listings.push((identity.name.clone(), ids));
        }
        for (name, ids) in &listings {
            for id in ids {
                let everyone = listings.iter().all(|(_, other)| other.contains(id));
                if everyone {
                    continue;
                }
                let path = format!("{}/{id}", collection.trim_end_matches('/'));
                if ctx.plan.is_shared(&path) || ctx.plan.is_skipped("GET", &path) {
                    continue;
                }
                found.entry(name.clone()).or_default().push(path);
            }
        }
    }
    let total: usize = found.values().map(Vec::len).sum();
    if total > 0 {
        ctx.note(
            out,
            format!("discovered {total} objects from collection routes"),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_and_ids() {
        assert_eq!(
            collection_of("/notes/{id}"),
            Some(("/notes".into(), "id".into()))
        );
        assert_eq!(
            collection_of("/api/users/<int:user_id>"),
            Some(("/api/users".into(), "user_id".into()))
        );
        assert_eq!(collection_of("/users/{u}/notes"), None);
        assert_eq!(collection_of("/{id}"), None);
        assert_eq!(
            ids_in(br#"[{"id": 1}, {"id": "a-b"}, 7]"#, "id"),
            vec!["1", "a-b", "7"]
        );
        assert_eq!(ids_in(br#"{"notes": [{"note_id": 3}]}"#, "note"), vec!["3"]);
        assert!(ids_in(br#"[{"id": "../etc"}]"#, "id").is_empty());
        assert!(ids_in(b"not json", "id").is_empty());
    }

    #[test]
    fn collections_with_a_trailing_slash() {
        let reads: BTreeSet<&str> = ["/items/", "/items/{item_id}", "/notes"].into();
        assert_eq!(
            listed_collection(&reads, "/items").as_deref(),
            Some("/items/")
        );
        assert_eq!(
            listed_collection(&reads, "/notes").as_deref(),
            Some("/notes")
        );
        assert_eq!(listed_collection(&reads, "/users"), None);
    }
}
