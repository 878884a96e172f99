//! Arbitrary text → the configuration parser, then everything the run does with the
//! parsed values before analysing anything.
//!
//! The binary's config types are private to it, so this target compiles the binary's
//! own `config.rs` and `discovery.rs` in (`#[path]` modules: nothing moved, nothing
//! mirrored except the three-line `[tool.tocsin]` wrapper, which is private to
//! `config.rs`). Each input is parsed both as `tocsin.toml` and as `pyproject.toml`;
//! a parsed config then has its selectors validated and matched against every rule
//! code, its globs (`exclude`, `test-paths`, `per-file-ignores`) compiled with
//! `build_globset` and matched, and its `public-routes` matched against the routes of
//! a small fixed Flask app, as BOLA001 does.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use tocsin_python::{AppModel, Index, Project, SourceFile};

#[allow(dead_code)]
#[path = "../../crates/tocsin/src/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../../crates/tocsin/src/discovery.rs"]
mod discovery;

use config::FileConfig;

/// Mirrors the private wrapper in config.rs.
#[derive(Deserialize)]
struct Pyproject {
    tool: Option<PyprojectTool>,
}

#[derive(Deserialize)]
struct PyprojectTool {
    tocsin: Option<toml::Value>,
}

const APP: &str = r#"
from flask import Flask, jsonify
app = Flask(__name__)

@app.route("/health")
def health():
    return "ok"

@app.route("/public/<slug>", methods=["GET", "POST"])
def public(slug):
    return jsonify(slug=slug)

@app.get("/api/items/<int:item_id>")
def item(item_id):
    return jsonify(id=item_id)
"#;

const PATHS: &[&str] = &[
    "app.py",
    "src/app/__init__.py",
    "tests/test_views.py",
    "build/gen/module.py",
    "./a/b/../c.py",
    "/abs/path/x.py",
    "é/ü.py",
];

/// The fixed app's model. It borrows the project and the index, so all three are
/// built once and leaked.
fn model() -> &'static AppModel<'static> {
    static MODEL: OnceLock<&'static AppModel<'static>> = OnceLock::new();
    MODEL.get_or_init(|| {
        let project: &'static Project = Box::leak(Box::new(Project::new(vec![SourceFile::parse(
            "app.py".into(),
            APP.to_string(),
        )])));
        let index: &'static Index<'static> = Box::leak(Box::new(Index::build(project)));
        let model = Box::leak(Box::new(AppModel::build(project, index)));
        assert!(!model.routes.is_empty(), "the fixed app has routes");
        model
    })
}

fn exercise(config: &FileConfig) {
    let known: Vec<&str> = tocsin_rules::all_rule_meta()
        .iter()
        .map(|m| m.code)
        .collect();
    let _ = config::validate_selectors(&config.select, &known);
    let _ = config::validate_selectors(&config.ignore, &known);
    for selector in config.select.iter().chain(&config.ignore) {
        for code in &known {
            let _ = config::matches_selector(code, selector);
        }
    }
    let mut globs = vec![config.exclude.clone()];
    globs.extend(config.test_paths.clone());
    for (glob, codes) in &config.per_file_ignores {
        globs.push(vec![glob.clone()]);
        let _ = config::validate_selectors(codes, &known);
    }
    for patterns in &globs {
        if let Ok(set) = discovery::build_globset(patterns) {
            for path in PATHS {
                let _ = set.is_match(Path::new(path));
            }
        }
    }
    // BOLA001's public-routes check (authz::is_public) on each route.
    for route in &model().routes {
        let _ = tocsin_rules::authz::is_public(route, &config.public_routes);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = toml::from_str::<FileConfig>(text) {
        exercise(&config);
    }
    if let Ok(pyproject) = toml::from_str::<Pyproject>(text) {
        if let Some(value) = pyproject.tool.and_then(|t| t.tocsin) {
            if let Ok(config) = value.try_into::<FileConfig>() {
                exercise(&config);
            }
        }
    }
});
