//! Inputs found by `fuzz/` (target `model_and_rules`) that crashed the model builder,
//! reduced to what triggers each bug. Each must now build without panicking.

use std::path::PathBuf;

use tocsin_python::{AppModel, Index, Project, SourceFile};

/// Builds the project, index and model of `(path, source)` files, as `tocsin check`
/// does, and returns the number of routes.
fn build(files: &[(&str, &str)]) -> usize {
    let project = Project::new(
        files
            .iter()
            .map(|(path, text)| SourceFile::parse(PathBuf::from(path), text.to_string()))
            .collect(),
    );
    let index = Index::build(&project);
    let model = AppModel::build(&project, &index);
    model.routes.len()
}

/// A method whose first parameter is not `self`/`cls` (the fuzzer renamed `self` to
/// `hsetf`; a `@staticmethod` does the same): computing its parameter positions
/// subtracted the receiver that was not there (facts.rs, `Analyzer::facts`).
#[test]
fn method_without_self_parameter() {
    let routes = build(&[(
        "app.py",
        r#"
from flask import Flask
app = Flask(__name__)
STORE = {}

class Helper:
    def put(hsetf, name):
        STORE[name] = 1

    @staticmethod
    def drop(name):
        STORE.pop(name)

@app.route("/x/<name>")
def x(name):
    Helper.drop(name)
    return "ok"
"#,
    )]);
    assert_eq!(routes, 1);
}
