//! TOC006: a file-system check, then a use of the same path.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use tocsin_diagnostics::{Finding, RuleMeta, Severity};
use tocsin_python::facts::last_name;
use tocsin_python::project::ModuleId;

use crate::Context;

pub static META: RuleMeta = RuleMeta {
    code: "TOC006",
    name: "filesystem-check-then-use",
    summary: "File-system check followed by a use of the same path",
    severity: Severity::Medium,
    docs: r#"## What it does
Flags `os.path.exists/isfile/isdir/islink/access` or `Path.exists/is_file/is_dir`
on a path, followed in the same function by `open`, `os.remove`, `os.rename`,
`os.chmod`, `shutil` operations, `send_file` or `Path.open/unlink/read_text/…` of
the same path.

## Why is this bad?
Between the check and the use the file can be replaced, for example by a symlink
to a file the check would have refused, or removed, turning a checked path into an
unchecked one. Directory creation after an existence check is not reported.

## Example
```python
if os.path.isfile(path):
    return send_file(path)
abort(404)
```

## Use instead
```python
try:
    return send_file(path)
except FileNotFoundError:
    abort(404)
```
or `os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)` to create exclusively.
"#,
};

const FIX: &str = "Skip the pre-check: do the operation and handle the exception (FileNotFoundError, FileExistsError), or open with O_CREAT | O_EXCL.";

const CHECKS: &[&str] = &[
    "os.path.exists",
    "os.path.isfile",
    "os.path.isdir",
    "os.path.islink",
    "os.path.lexists",
    "os.access",
];
const USES: &[&str] = &[
    "builtins.open",
    "io.open",
    "os.remove",
    "os.unlink",
    "os.rename",
    "os.replace",
    "os.chmod",
    "os.chown",
    "os.rmdir",
    "shutil.copy",
    "shutil.copy2",
    "shutil.copyfile",
    "shutil.move",
    "shutil.rmtree",
    "flask.send_file",
];
const PATH_CHECKS: &[&str] = &["exists", "is_file", "is_dir", "is_symlink"];
const PATH_USES: &[&str] = &[
    "open",
    "unlink",
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "chmod",
    "rename",
    "rmdir",
];

pub fn check(ctx: &Context<'_>, module: ModuleId, out: &mut Vec<Finding>) {
    if !ctx.is_flask_project() {
        return;
    }
    let info = ctx.project.module(module);
    if ctx.settings.test_files.contains(&info.file) {
        return;
    }
    let file = ctx.project.file(info.file);
    let Some(ast) = file.module() else { return };
    // Cheap filter: no file-system check, nothing to do.
    if !file.text.contains("exists")
        && !file.text.contains("is_file")
        && !file.text.contains("isfile")
        && !file.text.contains("isdir")
        && !file.text.contains("access(")
        && !file.text.contains("is_dir")
    {
        return;
    }
    let mut finder = Finder {
        ctx,
        module,
        text: &file.text,
        functions: Vec::new(),
        stack: Vec::new(),
        depth: 0,
    };
    finder.visit_body(&ast.body);
    for function in finder.functions {
        for (path, use_range) in &function.uses {
            if let Some((_, check_range)) = function
                .checks
                .iter()
                .find(|(checked, at)| checked == path && at.start() < use_range.start())
            {
                let loc = tocsin_python::Loc {
                    file: info.file,
                    range: *use_range,
                };
                let check_loc = tocsin_python::Loc {
                    file: info.file,
                    range: *check_range,
                };
                let finding = ctx
                    .finding(
                        &META,
                        loc,
                        format!(
                            "`{}` is checked on the file system, then used: the file can change in between",
                            path.trim_start_matches("path:")
                        ),
                    )
                    .with_fix(FIX)
                    .with_related(ctx.location(check_loc), "checked here");
                out.push(finding);
            }
        }
    }
}

#[derive(Default)]
struct FunctionScan {
    checks: Vec<(String, TextRange)>,
    uses: Vec<(String, TextRange)>,
}

struct Finder<'c, 'a> {
    ctx: &'c Context<'a>,
    module: ModuleId,
    text: &'c str,
    functions: Vec<FunctionScan>,
    /// Indices into `functions` of the functions we are inside, innermost last.
    stack: Vec<usize>,
    depth: usize,
}

impl Finder<'_, '_> {
    fn slice(&self, expr: &Expr) -> String {
        self.text
            .get(usize::from(expr.start())..usize::from(expr.end()))
            .unwrap_or("")
            .to_string()
    }
}

impl<'a> Visitor<'a> for Finder<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.depth > 200 {
            return;
        }
        self.depth += 1;
        if let Stmt::FunctionDef(f) = stmt {
            self.functions.push(FunctionScan::default());
            self.stack.push(self.functions.len() - 1);
            self.visit_body(&f.body);
            self.stack.pop();
        } else {
            visitor::walk_stmt(self, stmt);
        }
        self.depth -= 1;
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.depth > 200 {
            return;
        }
        self.depth += 1;
        let relevant = match expr {
            Expr::Call(call) => last_name(&call.func).is_some_and(|name| {
                CHECKS
                    .iter()
                    .chain(USES.iter())
                    .any(|q| q.rsplit('.').next() == Some(name))
                    || PATH_CHECKS.contains(&name)
                    || PATH_USES.contains(&name)
            }),
            _ => false,
        };
        if let (true, Expr::Call(call), Some(&current)) = (relevant, expr, self.stack.last()) {
            let qualified = self.ctx.index.qualified(self.module, &call.func);
            let first = call.arguments.args.first().map(|a| self.slice(a));
            let (mut check, mut usage) = (None, None);
            if let Some(q) = qualified.as_deref() {
                if CHECKS.contains(&q) {
                    check = first.clone();
                } else if USES.contains(&q) {
                    usage = first.clone();
                }
            }
            if let Expr::Attribute(attr) = &*call.func {
                let method = attr.attr.as_str();
                let receiver_is_os = qualified
                    .as_deref()
                    .is_some_and(|q| q.starts_with("os.") || q.starts_with("shutil."));
                // `Path.exists()` takes no argument; `storage.exists(name)` is another
                // API whose receiver is not a path.
                let no_args = call.arguments.args.is_empty();
                if !receiver_is_os && no_args && PATH_CHECKS.contains(&method) {
                    check = Some(format!("path:{}", path_text(self, &attr.value)));
                } else if !receiver_is_os && PATH_USES.contains(&method) && qualified.is_none() {
                    usage = Some(format!("path:{}", path_text(self, &attr.value)));
                }
            }
            if let Some(function) = self.functions.get_mut(current) {
                if let Some(path) = check.filter(|p| !p.is_empty()) {
                    function.checks.push((path, expr.range()));
                }
                if let Some(path) = usage.filter(|p| !p.is_empty()) {
                    function.uses.push((path, expr.range()));
                }
            }
        }
        visitor::walk_expr(self, expr);
        self.depth -= 1;
    }
}

/// `Path(p)` and `p` name the same path: compare what is inside `Path(...)`.
fn path_text(finder: &Finder<'_, '_>, expr: &Expr) -> String {
    if let Expr::Call(call) = expr {
        if finder
            .ctx
            .index
            .qualified(finder.module, &call.func)
            .is_some_and(|q| q.ends_with("Path"))
        {
            if let Some(arg) = call.arguments.args.first() {
                return finder.slice(arg);
            }
        }
    }
    finder.slice(expr)
}
