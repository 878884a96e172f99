//! The bundled examples: the seed scenario is reported as TOC001 naming the check,
//! the use and the admin routes that mutate the permission map; its fixed twin is
//! silent.

mod common;

use common::{stdout, tocsin};

#[test]
fn seed_scenario_is_toc001_and_the_fixed_twin_is_silent() {
    let output = tocsin(&["check", "--isolated", "--format", "json", "examples/"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding["code"], "TOC001");
    assert_eq!(finding["location"]["path"], "examples/seed_toctou/app.py");
    let related: Vec<&str> = finding["related"]
        .as_array()
        .expect("related")
        .iter()
        .map(|r| r["message"].as_str().expect("message"))
        .collect();
    assert!(
        related
            .iter()
            .any(|m| m.starts_with("check on `key_permissions`")),
        "{related:?}"
    );
    assert!(related.iter().any(|m| m.starts_with("use:")), "{related:?}");
    assert!(
        related
            .iter()
            .any(|m| m.contains("POST /admin/keys/<key_id>/revoke")),
        "{related:?}"
    );
    let fixed = tocsin(&["check", "--isolated", "examples/seed_fixed"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", stdout(&fixed));
}
