//! `tocsin routes` on a fixture app with an app factory, blueprints with prefixes
//! (overridden and nested), MethodView, flask-restful, flask-restx and guards defined
//! in another module lists every route with the right full rule, methods and guards.
//! The oracle, expected.json, was written by hand and checked against Flask's own
//! url_map by scripts/check_routes_fixture.py.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{repo_root, stdout, tocsin};

type Table = BTreeMap<(String, String), BTreeSet<String>>;

#[test]
fn routes_match_the_hand_written_oracle() {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/routes/expected.json"))
            .expect("oracle"),
    )
    .expect("oracle json");
    let mut want: Table = BTreeMap::new();
    for route in expected.as_array().expect("list") {
        for method in route["methods"].as_array().expect("methods") {
            let guards = route["guards"]
                .as_array()
                .expect("guards")
                .iter()
                .map(|g| g.as_str().expect("guard").to_string());
            want.entry((
                route["rule"].as_str().expect("rule").to_string(),
                method.as_str().expect("method").to_string(),
            ))
            .or_default()
            .extend(guards);
        }
    }
    let output = tocsin(&[
        "routes",
        "--isolated",
        "--format",
        "json",
        "tests/fixtures/routes",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let model: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("model json");
    let mut got: Table = BTreeMap::new();
    for route in model["routes"].as_array().expect("routes") {
        for method in route["methods"].as_array().expect("methods") {
            let guards = route["guards"]
                .as_array()
                .expect("guards")
                .iter()
                .map(|g| g["name"].as_str().expect("name").to_string());
            got.entry((
                route["rule"].as_str().expect("rule").to_string(),
                method.as_str().expect("method").to_string(),
            ))
            .or_default()
            .extend(guards);
        }
    }
    // The oracle lists guards per URL rule; per method ours may be a subset of the
    // rule's (method-specific decorators), never a superset, and each rule's union
    // must match exactly.
    let keys_want: BTreeSet<_> = want.keys().collect();
    let keys_got: BTreeSet<_> = got.keys().collect();
    assert_eq!(keys_got, keys_want, "routes (rule, method) differ");
    let mut union_want: BTreeMap<&str, BTreeSet<&String>> = BTreeMap::new();
    let mut union_got: BTreeMap<&str, BTreeSet<&String>> = BTreeMap::new();
    for ((rule, _), guards) in &want {
        union_want.entry(rule).or_default().extend(guards);
    }
    for ((rule, _), guards) in &got {
        union_got.entry(rule).or_default().extend(guards);
    }
    assert_eq!(union_got, union_want, "guards per rule differ");
}

#[test]
fn routes_report_principals_object_references_and_shared_state() {
    let output = tocsin(&[
        "routes",
        "--isolated",
        "--format",
        "json",
        "examples/seed_toctou",
    ]);
    let model: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("model json");
    let routes = model["routes"].as_array().expect("routes");
    let profile = routes
        .iter()
        .find(|r| r["rule"] == "/users/<int:user_id>/profile")
        .expect("the profile route");
    assert_eq!(profile["params"][0]["converter"], "int");
    assert!(
        profile["principals"]
            .as_array()
            .expect("principals")
            .iter()
            .any(|p| p == "header X-API-Key"),
        "{profile}"
    );
    assert!(
        !profile["inline_checks"]
            .as_array()
            .expect("checks")
            .is_empty(),
        "{profile}"
    );
    let state = model["shared_state"].as_array().expect("state");
    let permissions = state
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("key_permissions"))
        })
        .expect("key_permissions");
    let mutated_by_routes: Vec<&serde_json::Value> = permissions["mutations"]
        .as_array()
        .expect("mutations")
        .iter()
        .filter(|m| !m["routes"].as_array().expect("routes").is_empty())
        .collect();
    assert!(
        !mutated_by_routes.is_empty(),
        "the admin routes mutate key_permissions at runtime: {permissions}"
    );
}

/// A blueprint hook that lets reads through guards only the other methods, and a view
/// serving GET and PUT is one route per method. The model's (method, rule) -> guarded
/// table must match what Flask does: each route is requested without a key through
/// Flask's test client, and exactly the guarded ones are refused.
#[test]
fn guards_that_branch_on_the_method_guard_only_those_methods() {
    let output = tocsin(&[
        "routes",
        "--isolated",
        "--format",
        "json",
        "tests/fixtures/routes_methods",
    ]);
    let model: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("model json");
    let mut guarded: BTreeMap<(String, String), bool> = BTreeMap::new();
    for route in model["routes"].as_array().expect("routes") {
        let rule = route["rule"].as_str().expect("rule").to_string();
        let has_guard = !route["guards"].as_array().expect("guards").is_empty();
        for method in route["methods"].as_array().expect("methods") {
            let method = method.as_str().expect("method").to_string();
            guarded.insert((method, rule.clone()), has_guard);
        }
    }
    let want: BTreeMap<(String, String), bool> = [
        ("GET", "/items/", false),
        ("POST", "/items/", true),
        ("GET", "/items/<int:item_id>", false),
        ("PUT", "/items/<int:item_id>", true),
    ]
    .into_iter()
    .map(|(m, r, g)| ((m.to_string(), r.to_string()), g))
    .collect();
    assert_eq!(guarded, want);

    // Flask's own answer, when the test venv is there.
    let python = repo_root().join(".venv/bin/python");
    if !python.exists() {
        eprintln!("SKIPPED the Flask cross-check: no .venv (run scripts/setup-python.sh)");
        return;
    }
    let script = r#"
import json, sys
sys.path.insert(0, "tests/fixtures/routes_methods")
from app import app
client = app.test_client()
out = {}
for method, rule in json.loads(sys.argv[1]):
    url = rule.replace("<int:item_id>", "1")
    status = client.open(url, method=method, json={"name": "x"}).status_code
    out[method + " " + rule] = status in (401, 403)
print(json.dumps(out))
"#;
    let pairs: Vec<(&str, &str)> = want.keys().map(|(m, r)| (m.as_str(), r.as_str())).collect();
    let flask = std::process::Command::new(&python)
        .current_dir(repo_root())
        .args(["-c", script])
        .arg(serde_json::to_string(&pairs).expect("pairs"))
        .output()
        .expect("running python");
    assert!(
        flask.status.success(),
        "{}",
        String::from_utf8_lossy(&flask.stderr)
    );
    let refused: BTreeMap<String, bool> =
        serde_json::from_slice(&flask.stdout).expect("flask's answers");
    for ((method, rule), has_guard) in &want {
        assert_eq!(
            refused[&format!("{method} {rule}")],
            *has_guard,
            "{method} {rule}: Flask refuses without a key iff the model guards it"
        );
    }
}
