//! Routes from an OpenAPI 3.x or Swagger 2.0 document (JSON or YAML): paths, methods and
//! whether the document says a key is required.

use std::path::Path;

use serde_json::Value;

use super::{Endpoint, PlanError};

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

pub fn load(path: &Path) -> Result<Vec<Endpoint>, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|message| PlanError::OpenApi {
        path: path.to_path_buf(),
        message,
    })
}

pub fn parse(text: &str) -> Result<Vec<Endpoint>, String> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => serde_yaml::from_str(text).map_err(|e| format!("neither JSON nor YAML: {e}"))?,
    };
    let is_v3 = doc
        .get("openapi")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with('3'));
    let is_v2 = doc
        .get("swagger")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with('2'));
    if !is_v3 && !is_v2 {
        return Err("no `openapi: 3.x` or `swagger: 2.0` field".into());
    }
    let base = if is_v2 {
        doc.get("basePath")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    } else {
        doc.pointer("/servers/0/url")
            .and_then(Value::as_str)
            .map(server_path)
            .unwrap_or_default()
    };
    let base = base.trim_end_matches('/');
    let global_security = doc.get("security").map(has_requirement);
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("no `paths` object")?;
    let mut out = Vec::new();
    for (path, item) in paths {
        if !path.starts_with('/') {
            continue;
        }
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let protected = op.get("security").map(has_requirement).or(global_security);
            out.push(Endpoint {
                method: method.to_ascii_uppercase(),
                path: format!("{base}{path}"),
                protected,
            });
        }
    }
    out.sort();
    Ok(out)
}

/// A security list requires credentials unless it is empty or allows `{}` (anonymous).
fn has_requirement(security: &Value) -> bool {
    match security.as_array() {
        Some(list) => {
            !list.is_empty()
                && !list
                    .iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
        }
        None => false,
    }
}

/// The path part of a server URL (`https://api.example/v1` -> `/v1`, `/v1` -> `/v1`).
fn server_path(url: &str) -> String {
    let rest = match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => &rest[i..],
            None => "",
        },
        None => url,
    };
    if rest.contains('{') {
        // Server variables: we cannot know the value; use no prefix.
        return String::new();
    }
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi3_yaml_with_security() {
        let doc = r#"
openapi: 3.0.3
servers: [{url: "http://localhost:5000/api"}]
security: [{apiKey: []}]
paths:
  /health:
    get: {security: []}
  /notes/{id}:
    get: {}
    delete: {}
    parameters: []
"#;
        let eps = parse(doc).unwrap();
        let list: Vec<(String, String, Option<bool>)> = eps
            .into_iter()
            .map(|e| (e.method, e.path, e.protected))
            .collect();
        assert_eq!(
            list,
            vec![
                ("DELETE".into(), "/api/notes/{id}".into(), Some(true)),
                ("GET".into(), "/api/health".into(), Some(false)),
                ("GET".into(), "/api/notes/{id}".into(), Some(true)),
            ]
        );
    }

    #[test]
    fn swagger2_json() {
        let doc = r#"{"swagger":"2.0","basePath":"/v1","paths":{"/me":{"get":{"security":[{"key":[]}]},"post":{}}}}"#;
        let eps = parse(doc).unwrap();
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].path, "/v1/me");
        assert_eq!(
            eps.iter().find(|e| e.method == "GET").unwrap().protected,
            Some(true)
        );
        assert_eq!(
            eps.iter().find(|e| e.method == "POST").unwrap().protected,
            None
        );
        assert!(parse("{}").is_err());
        assert!(parse(": : :").is_err());
    }
}
