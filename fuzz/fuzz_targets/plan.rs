//! Arbitrary text → the probe's input parsers: the plan file (TOML), the OpenAPI /
//! Swagger reader, the `--identity`, `--object` and `--endpoint` flags, and raw request
//! files (`tocsin race --raw`).
//!
//! NUL separates the parts: plan, OpenAPI document, flag lines, raw request. Parsed
//! plans are also queried the way experiments query them (skip, shared and protected
//! patterns against a few routes). Every input must end in a value or an error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tocsin_probe::cli::parse_raw_request;
use tocsin_probe::engine::Url;
use tocsin_probe::plan::{self, openapi, Plan};

fn env(name: &str) -> Option<String> {
    // Any TOCSIN_* variable is set, so plans naming one reach past the lookup.
    match name.strip_prefix("TOCSIN_") {
        Some(rest) if rest.ends_with('B') => Some("X-Api-Key: fuzz-key-b".into()),
        Some(_) => Some("Bearer fuzz-key-a".into()),
        None => None,
    }
}

const ROUTES: [(&str, &str); 4] = [
    ("GET", "/items/1"),
    ("DELETE", "/items/1"),
    ("POST", "/admin/keys/user/revoke"),
    ("GET", "/"),
];

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.splitn(4, |&b| b == 0).collect();
    let text = |i: usize| parts.get(i).and_then(|p| std::str::from_utf8(p).ok());
    if let Some(text) = text(0) {
        if let Ok(plan) = Plan::from_toml(text, Path::new("plan.toml"), &env) {
            for (method, path) in ROUTES {
                let _ = plan.is_skipped(method, path);
                let _ = plan.is_shared(path);
                let _ = plan.is_declared_protected(method, path);
            }
        }
    }
    if let Some(text) = text(1) {
        if let Ok(endpoints) = openapi::parse(text) {
            for endpoint in endpoints {
                let _ = endpoint.is_template();
                for (_, path) in ROUTES {
                    let _ = plan::template_matches(&endpoint.path, path);
                }
            }
        }
    }
    if let Some(text) = text(2) {
        for line in text.lines() {
            let _ = plan::parse_identity(line, &env);
            let _ = plan::parse_object(line);
            let _ = plan::parse_endpoint(line);
            for (method, path) in ROUTES {
                let _ = plan::pattern_matches(line, method, path);
            }
        }
    }
    if let Some(raw) = parts.get(3) {
        if let Ok(base) = Url::parse("http://127.0.0.1:8080/api/") {
            let _ = parse_raw_request(raw, &base);
        }
    }
});
