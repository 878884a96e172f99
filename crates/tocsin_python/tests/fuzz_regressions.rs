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

/// Hostile trees: a generated chain of 20k method calls. Every link used to resolve
/// the whole chain below it (quadratic; 100k links took 68 s). Chains longer than
/// `MAX_CHAIN` now resolve to nothing, and shorter ones still resolve.
#[test]
fn long_attribute_chain() {
    use ruff_python_ast::{Expr, Stmt};
    use tocsin_python::facts::root_name;
    use tocsin_python::index::{Resolved, MAX_CHAIN};

    let chain = |links: usize| format!("request.args{}", ".get('a')".repeat(links));
    let text = format!(
        "from flask import Flask, request\napp = Flask(__name__)\n\
         short = {}\nlong = {}\n\n\
         @app.route('/x')\ndef x():\n    return {}\n",
        chain(MAX_CHAIN / 2 - 1),
        chain(MAX_CHAIN),
        chain(20_000),
    );
    let project = Project::new(vec![SourceFile::parse(PathBuf::from("app.py"), text)]);
    let index = Index::build(&project);
    let model = AppModel::build(&project, &index);
    assert_eq!(model.routes.len(), 1);

    let module = project.files()[0].module().expect("parses");
    let value = |i: usize| match &module.body[i] {
        Stmt::Assign(assign) => &*assign.value,
        other => panic!("not an assignment: {other:?}"),
    };
    let (short, long): (&Expr, &Expr) = (value(2), value(3));
    assert_eq!(root_name(short), Some("request"));
    assert!(matches!(
        index.resolve_expr(0, short),
        Some(Resolved::External(name)) if name.starts_with("flask.request.args.get()")
    ));
    assert_eq!(root_name(long), None);
    assert!(index.resolve_expr(0, long).is_none());
}
