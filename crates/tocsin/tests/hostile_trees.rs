//! Hostile trees (issue 5): inputs built to break a scanner. Each test runs the real
//! binary and asserts that the run finishes, that every problem is reported as an
//! input error (`E00x` in `--format json`) naming its path, and that the rest of the
//! tree is still analysed (a planted finding is reported). No timing thresholds:
//! `scripts/bench-hostile.sh` measures time and memory.
//!
//! Trees are generated in temporary directories (deleted on drop).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// One KEY001 finding on line 11: proof that a file was analysed.
const PLANTED: &str = r#"import os

from flask import Flask, abort, request

app = Flask(__name__)
API_KEY = os.environ["API_KEY"]


@app.route("/items")
def items():
    if request.headers.get("X-API-Key") != API_KEY:
        abort(403)
    return "ok"
"#;

struct Run {
    code: i32,
    json: Value,
}

impl Run {
    /// (code, path) of every input error.
    fn errors(&self) -> Vec<(String, PathBuf)> {
        self.json["errors"]
            .as_array()
            .expect("errors array")
            .iter()
            .map(|e| {
                (
                    e["code"].as_str().expect("code").to_string(),
                    PathBuf::from(e["location"]["path"].as_str().expect("error path")),
                )
            })
            .collect()
    }

    fn errors_with(&self, code: &str) -> Vec<PathBuf> {
        self.errors()
            .into_iter()
            .filter(|(c, _)| c == code)
            .map(|(_, p)| p)
            .collect()
    }

    /// Paths of the findings with this code.
    fn findings(&self, code: &str) -> Vec<PathBuf> {
        self.json["findings"]
            .as_array()
            .expect("findings array")
            .iter()
            .filter(|f| f["code"] == code)
            .map(|f| PathBuf::from(f["location"]["path"].as_str().expect("finding path")))
            .collect()
    }
}

/// `tocsin check --isolated --format json ARGS`, from `dir`. The run must finish with
/// a JSON report and exit 0, 1 or 2: never a crash or a signal.
fn check(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["check", "--isolated", "--format", "json"])
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("running tocsin");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output
        .status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {:?}\n{stderr}", output.status));
    assert!(matches!(code, 0..=2), "exit code {code}\nstderr:\n{stderr}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}); stdout starts {:?}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&output.stdout[..output.stdout.len().min(500)])
        )
    });
    Run { code, json }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tocsin-hostile-")
        .tempdir()
        .expect("tempdir")
}

fn write(path: &Path, text: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, text).expect("write");
}

#[test]
fn hundred_thousand_small_files() {
    let dir = tempdir();
    let root = dir.path();
    // 1000 packages of 100 files: `__init__.py` and 99 modules importing each other.
    for d in 0..1000 {
        let package = root.join(format!("pkg{d:03}"));
        fs::create_dir(&package).expect("mkdir");
        fs::write(package.join("__init__.py"), "").expect("write");
        for f in 0..99 {
            let text = format!(
                "from . import m{:02}\nVALUE_{f} = {f}\n\n\ndef f{f}(x):\n    return x + VALUE_{f}\n",
                (f + 1) % 99
            );
            fs::write(package.join(format!("m{f:02}.py")), text).expect("write");
        }
    }
    let planted = root.join("pkg500/m42.py");
    fs::write(&planted, PLANTED).expect("write");

    let run = check(root, &["."]);
    assert_eq!(run.errors(), vec![]);
    assert_eq!(
        run.findings("KEY001"),
        vec![PathBuf::from("./pkg500/m42.py")]
    );
    assert_eq!(run.code, 1);
}

#[test]
fn symlink_loops() {
    let dir = tempdir();
    let root = dir.path();
    write(&root.join("app/planted.py"), PLANTED);
    let app = root.join("app");
    // A directory link to an ancestor, a link to itself, two links to each other, a
    // link out to `/`: links inside a walked tree are not followed, so none of them
    // can make the walk loop or leave the tree.
    std::os::unix::fs::symlink(root, app.join("up")).expect("symlink");
    std::os::unix::fs::symlink("self.py", app.join("self.py")).expect("symlink");
    std::os::unix::fs::symlink("b.py", app.join("a.py")).expect("symlink");
    std::os::unix::fs::symlink("a.py", app.join("b.py")).expect("symlink");
    std::os::unix::fs::symlink("/", app.join("root")).expect("symlink");

    let run = check(root, &["app"]);
    assert_eq!(run.errors(), vec![]);
    assert_eq!(
        run.findings("KEY001"),
        vec![PathBuf::from("app/planted.py")]
    );

    // Named on the command line, a looping link is an error naming it.
    let run = check(root, &["app/self.py", "app/a.py", "app/planted.py"]);
    let mut errors = run.errors();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            ("E002".to_string(), PathBuf::from("app/a.py")),
            ("E002".to_string(), PathBuf::from("app/self.py")),
        ]
    );
    assert_eq!(
        run.findings("KEY001"),
        vec![PathBuf::from("app/planted.py")]
    );

    // A named link to an ancestor directory is walked once.
    let run = check(root, &["app/up"]);
    assert_eq!(run.errors(), vec![]);
    assert_eq!(
        run.findings("KEY001"),
        vec![PathBuf::from("app/up/app/planted.py")]
    );
}

/// Writes a generated module of about `bytes` bytes (data rows, as code generators
/// emit them) with the planted app at its end.
fn generated_module(path: &Path, bytes: usize) {
    use std::io::Write as _;
    let file = fs::File::create(path).expect("create");
    let mut out = std::io::BufWriter::new(file);
    let mut written = 0;
    let mut row = 0;
    while written < bytes {
        let line = format!(
            "ROW_{row:07} = {{\"id\": {row}, \"name\": \"row-{row}\", \"tags\": [\"a\", \"b\"], \"ok\": True}}\n"
        );
        out.write_all(line.as_bytes()).expect("write");
        written += line.len();
        row += 1;
    }
    out.write_all(PLANTED.as_bytes()).expect("write");
    out.flush().expect("flush");
}

#[test]
fn fifty_megabyte_module_is_analysed() {
    let dir = tempdir();
    let root = dir.path();
    generated_module(&root.join("generated.py"), 50 * 1000 * 1000);
    let run = check(root, &["."]);
    assert_eq!(run.errors(), vec![]);
    assert_eq!(
        run.findings("KEY001"),
        vec![PathBuf::from("./generated.py")]
    );
}

#[test]
fn module_above_the_size_limit_is_reported() {
    let dir = tempdir();
    let root = dir.path();
    // 70 MB, above the 64 MiB limit; sparse, so it costs no disk or time.
    let big = fs::File::create(root.join("huge.py")).expect("create");
    big.set_len(70 * 1000 * 1000).expect("set_len");
    write(&root.join("planted.py"), PLANTED);
    let run = check(root, &["."]);
    assert_eq!(
        run.errors(),
        vec![("E003".to_string(), PathBuf::from("./huge.py"))]
    );
    assert_eq!(run.findings("KEY001"), vec![PathBuf::from("./planted.py")]);
    assert_eq!(run.code, 1);
}

#[test]
fn binary_and_special_files_named_py() {
    let dir = tempdir();
    let root = dir.path();
    write(&root.join("nul.py"), b"import os\0\0\0\x7fELF");
    write(&root.join("png.py"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    write(&root.join("latin1.py"), b"name = '\xe9t\xe9'\n");
    // UTF-16 with a BOM: NUL bytes.
    let utf16: Vec<u8> = "x = 1\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    write(&root.join("utf16.py"), [&[0xff, 0xfe][..], &utf16].concat());
    write(&root.join("truncated_utf8.py"), b"x = '\xe2\x82'\n");
    // A FIFO must not be opened (that blocks until a writer appears).
    let status = Command::new("mkfifo")
        .arg(root.join("pipe.py"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    // A directory named like a module is walked, not read.
    write(&root.join("dir.py/inner.py"), "x = 1\n");
    write(&root.join("planted.py"), PLANTED);

    let run = check(root, &["."]);
    let mut e003 = run.errors_with("E003");
    e003.sort();
    assert_eq!(
        e003,
        [
            "latin1.py",
            "nul.py",
            "png.py",
            "truncated_utf8.py",
            "utf16.py"
        ]
        .iter()
        .map(|name| Path::new(".").join(name))
        .collect::<Vec<_>>()
    );
    assert_eq!(run.errors().len(), 5, "{:?}", run.errors());
    assert_eq!(run.findings("KEY001"), vec![PathBuf::from("./planted.py")]);

    // Named explicitly, the FIFO is reported rather than opened.
    let run = check(root, &["pipe.py", "nul.py"]);
    let mut errors = run.errors();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            ("E003".to_string(), PathBuf::from("nul.py")),
            ("E003".to_string(), PathBuf::from("pipe.py")),
        ]
    );
    // Nothing could be analysed: exit 2.
    assert_eq!(run.code, 2);
}

#[test]
fn directories_two_hundred_deep() {
    let dir = tempdir();
    let root = dir.path();
    // 200 nested packages (module names are capped at 64 components).
    let mut deep = root.join("tree");
    for i in 0..200 {
        deep.push(format!("p{i}"));
    }
    fs::create_dir_all(&deep).expect("mkdir");
    let mut package = deep.clone();
    while package != root.join("tree") {
        fs::write(package.join("__init__.py"), "").expect("write");
        package.pop();
    }
    fs::write(deep.join("planted.py"), PLANTED).expect("write");
    let run = check(root, &["tree"]);
    assert_eq!(run.errors(), vec![]);
    let found = run.findings("KEY001");
    assert_eq!(found.len(), 1);
    assert!(found[0].ends_with("p198/p199/planted.py"), "{found:?}");

    // 200 levels of 40-character names: deeper than PATH_MAX (4096), so the walk
    // cannot open the bottom directories by path. Built with relative paths.
    let name = "d".repeat(40);
    let script = format!(
        "mkdir long && cd long && for i in $(seq 200); do mkdir {name} && cd -P {name} || exit 1; \
         if [ $i = 50 ]; then cp \"$PLANTED\" .; fi; done; echo 'x = 1' > leaf.py"
    );
    fs::write(root.join("planted.py"), PLANTED).expect("write");
    let status = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("PLANTED", root.join("planted.py"))
        .current_dir(root)
        .status()
        .expect("sh");
    assert!(status.success());
    let run = check(root, &["long"]);
    let errors = run.errors();
    assert!(!errors.is_empty());
    for (code, path) in &errors {
        assert_eq!(code, "E002");
        assert!(path.starts_with("long"), "{path:?}");
    }
    // The path is in the message once (the walker's own error repeats it: kilobytes).
    for error in run.json["errors"].as_array().expect("errors") {
        let path = error["location"]["path"].as_str().expect("path");
        let message = error["message"].as_str().expect("message");
        assert_eq!(message.matches(path).count(), 1, "{message}");
    }
    let found = run.findings("KEY001");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with("planted.py"));
}

#[test]
fn code_nested_five_thousand_deep() {
    const N: usize = 5000;
    let dir = tempdir();
    let root = dir.path();
    let leaf = r#"request.args["id"]"#;
    let header = "from flask import Flask, abort, request\nfrom db import DB\n\
                  app = Flask(__name__)\n\n\n@app.route(\"/x/<int:id>\")\ndef x(id):\n";
    let expressions = [
        (
            "parens",
            format!("{}{leaf}{}", "(".repeat(N), ")".repeat(N)),
        ),
        (
            "calls",
            format!("{}{leaf}{}", "f(".repeat(N), ")".repeat(N)),
        ),
        ("lists", format!("{}{leaf}{}", "[".repeat(N), "]".repeat(N))),
        (
            "dicts",
            format!("{}{leaf}{}", "{\"a\": ".repeat(N), "}".repeat(N)),
        ),
        ("unary", format!("{}{leaf}", "-".repeat(N))),
        ("lambdas", format!("{}{leaf}", "lambda: ".repeat(N))),
        ("binop", vec![leaf; N].join(" + ")),
        ("boolop", vec![leaf; N].join(" and ")),
        ("compare", vec![leaf; N].join(" < ")),
        (
            "ternary",
            format!("{}{leaf}", format!("{leaf} if x else ").repeat(N)),
        ),
        ("attributes", format!("{leaf}{}", ".b".repeat(N))),
        ("methods", format!("{leaf}{}", ".get(\"a\")".repeat(N))),
        ("subscripts", format!("{leaf}{}", "[0]".repeat(N))),
        (
            "fstrings",
            format!("{}{leaf}{}", "f'{".repeat(N), "}'".repeat(N)),
        ),
    ];
    for (name, expr) in &expressions {
        let text = format!("{header}    v = {expr}\n    DB[v] = 1\n    return DB.get(v)\n");
        write(&root.join(format!("expr_{name}.py")), text);
    }
    let blocks = [
        ("if", "if request.args.get(\"a\"):"),
        ("for", "for a in request.args:"),
        ("while", "while request.args:"),
        ("with", "with lock:"),
        ("def", "def inner(x):"),
        ("class", "class Inner:"),
        ("try", "try:"),
    ];
    for (name, opener) in &blocks {
        let mut text = header.to_string();
        for depth in 0..N {
            text.push_str(&" ".repeat(4 + depth));
            text.push_str(opener);
            text.push('\n');
        }
        text.push_str(&" ".repeat(4 + N));
        text.push_str("DB[request.args[\"id\"]] = 1\n");
        if *name == "try" {
            for depth in (0..N).rev() {
                text.push_str(&" ".repeat(4 + depth));
                text.push_str("finally:\n");
                text.push_str(&" ".repeat(5 + depth));
                text.push_str("pass\n");
            }
        }
        text.push_str("    return \"ok\"\n");
        write(&root.join(format!("block_{name}.py")), text);
    }
    write(&root.join("planted.py"), PLANTED);

    let run = check(root, &["."]);
    // The parser may refuse some of these (E001, with the path); nothing else.
    for (code, path) in run.errors() {
        assert_eq!(code, "E001", "{path:?}");
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(name.starts_with("expr_") || name.starts_with("block_"));
    }
    assert_eq!(run.findings("KEY001"), vec![PathBuf::from("./planted.py")]);
}

#[test]
fn files_vanishing_mid_scan() {
    let dir = tempdir();
    let root = dir.path();
    write(&root.join("planted.py"), PLANTED);
    // A dangling link named on the command line: the file vanished before the run.
    std::os::unix::fs::symlink("gone.py", root.join("dangling.py")).expect("symlink");
    let run = check(root, &["dangling.py", "planted.py"]);
    assert_eq!(
        run.errors(),
        vec![("E002".to_string(), PathBuf::from("dangling.py"))]
    );
    assert_eq!(run.findings("KEY001"), vec![PathBuf::from("planted.py")]);

    // Files deleted while the run lists and reads them. Which ones the run still sees
    // depends on timing, but the outcome is fixed: every error is an E002 naming a
    // deleted file, no finding is lost from the files that stay, and the run ends.
    // (Deletion between listing and reading, exactly, is the unit test
    // `discovery::tests::files_vanishing_between_listing_and_reading`.)
    let tree = root.join("tree");
    let mut doomed = Vec::new();
    for d in 0..100 {
        for f in 0..100 {
            let path = tree.join(format!("d{d:02}/m{f:02}.py"));
            if f % 2 == 0 {
                doomed.push(path.clone());
                write(&path, "x = 1\n");
            } else {
                write(&path, PLANTED);
            }
        }
    }
    let deleter = std::thread::spawn({
        let doomed = doomed.clone();
        move || {
            for path in doomed {
                let _ = fs::remove_file(path);
            }
        }
    });
    let run = check(root, &["tree"]);
    deleter.join().expect("deleter");
    for (code, path) in run.errors() {
        assert_eq!(code, "E002", "{path:?}");
        assert!(doomed.contains(&root.join(&path)), "{path:?}");
    }
    assert_eq!(run.findings("KEY001").len(), 5000);
}

#[test]
fn unreadable_files() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempdir();
    let root = dir.path();
    write(&root.join("planted.py"), PLANTED);
    write(&root.join("secret.py"), "x = 1\n");
    write(&root.join("closed/inner.py"), "x = 1\n");
    fs::set_permissions(root.join("secret.py"), fs::Permissions::from_mode(0o000)).expect("chmod");
    fs::set_permissions(root.join("closed"), fs::Permissions::from_mode(0o000)).expect("chmod");
    // Mode 000 stops only unprivileged users: as root (CI containers) everything stays
    // readable, so the permission half is checked only when it can hold.
    let privileged = fs::read(root.join("secret.py")).is_ok();
    let run = check(root, &["."]);
    fs::set_permissions(root.join("closed"), fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(run.findings("KEY001"), vec![PathBuf::from("./planted.py")]);
    if privileged {
        assert_eq!(run.errors(), vec![]);
    } else {
        let mut errors = run.errors();
        errors.sort();
        assert_eq!(
            errors,
            vec![
                ("E002".to_string(), PathBuf::from("./closed")),
                ("E002".to_string(), PathBuf::from("./secret.py")),
            ]
        );
    }

    // A file that cannot be read whatever the privileges: reading /proc/self/mem from
    // offset 0 fails (EIO, the page is unmapped). Named explicitly, it is an E002.
    let run = check(root, &["/proc/self/mem", "planted.py"]);
    assert_eq!(
        run.errors(),
        vec![("E002".to_string(), PathBuf::from("/proc/self/mem"))]
    );
    assert_eq!(run.findings("KEY001"), vec![PathBuf::from("planted.py")]);
}
