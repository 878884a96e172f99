//! `--fix`, `--diff` and `--unsafe-fixes` as a user runs them: the fixed code parses
//! and the rule is then silent on it.

mod common;

use std::fs;

use common::{stdout, tocsin_in};

const KEY001_APP: &str = r#"import os

from flask import Flask, abort, request

app = Flask(__name__)
API_KEY = os.environ["API_KEY"]


@app.get("/reports")
def reports():
    presented = request.headers.get("X-API-Key", "")
    if presented != API_KEY:
        abort(401)
    return {"ok": True}


def admin_ok() -> bool:
    return request.headers.get("X-Admin-Key", "") == os.environ["ADMIN_KEY"]
"#;

const JWT001_APP: &str = r#"import os

import jwt
from flask import Flask, request

app = Flask(__name__)
SECRET = os.environ["SECRET"]


def issue(user: str) -> str:
    return jwt.encode({"sub": user, "exp": 300}, SECRET, algorithm="HS384")


@app.get("/me")
def me():
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    claims = jwt.decode(token, SECRET)
    return {"sub": claims["sub"]}
"#;

fn codes(dir: &std::path::Path, file: &str) -> Vec<String> {
    let output = tocsin_in(dir, &["check", "--isolated", "--format", "json", file]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect()
}

#[test]
fn key001_fix_uses_compare_digest_and_adds_the_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("app.py"), KEY001_APP).expect("write");
    assert_eq!(codes(dir.path(), "app.py"), ["KEY001", "KEY001"]);

    let diff = tocsin_in(dir.path(), &["check", "--isolated", "--diff", "app.py"]);
    assert_eq!(diff.status.code(), Some(1));
    let text = stdout(&diff);
    assert!(
        text.contains("+import hmac")
            && text.contains("not hmac.compare_digest(presented, API_KEY)"),
        "{text}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("app.py")).expect("read"),
        KEY001_APP,
        "--diff writes nothing"
    );

    let fixed = tocsin_in(dir.path(), &["check", "--isolated", "--fix", "app.py"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", stdout(&fixed));
    let source = fs::read_to_string(dir.path().join("app.py")).expect("read");
    assert_eq!(source.matches("import hmac").count(), 1, "{source}");
    assert!(source.contains("hmac.compare_digest(request.headers.get(\"X-Admin-Key\", \"\"), os.environ[\"ADMIN_KEY\"])"));
    assert!(ruff_python_parser::parse_module(&source).is_ok());
    assert!(
        codes(dir.path(), "app.py").is_empty(),
        "the rule is silent on the fixed code"
    );
}

#[test]
fn jwt001_fix_pins_the_algorithm_the_project_encodes_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("app.py"), JWT001_APP).expect("write");
    assert_eq!(codes(dir.path(), "app.py"), ["JWT001"]);
    let fixed = tocsin_in(dir.path(), &["check", "--isolated", "--fix", "app.py"]);
    assert_eq!(fixed.status.code(), Some(0), "{}", stdout(&fixed));
    let source = fs::read_to_string(dir.path().join("app.py")).expect("read");
    assert!(
        source.contains(r#"jwt.decode(token, SECRET, algorithms=["HS384"])"#),
        "{source}"
    );
    assert!(codes(dir.path(), "app.py").is_empty());
}

#[test]
fn a_guessed_algorithm_is_an_unsafe_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No encoder in the project: the algorithm is a guess.
    let app = JWT001_APP.replace(r#", algorithm="HS384""#, "");
    fs::write(dir.path().join("app.py"), &app).expect("write");
    let safe_only = tocsin_in(dir.path(), &["check", "--isolated", "--fix", "app.py"]);
    assert_eq!(safe_only.status.code(), Some(1));
    assert_eq!(
        fs::read_to_string(dir.path().join("app.py")).expect("read"),
        app
    );
    let unsafe_too = tocsin_in(
        dir.path(),
        &["check", "--isolated", "--fix", "--unsafe-fixes", "app.py"],
    );
    assert_eq!(unsafe_too.status.code(), Some(0), "{}", stdout(&unsafe_too));
    let source = fs::read_to_string(dir.path().join("app.py")).expect("read");
    assert!(source.contains(r#"algorithms=["HS256"]"#), "{source}");
}
