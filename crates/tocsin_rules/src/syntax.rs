//! A syntax walk shared by the rules that look at expressions: visits every statement
//! and expression of a file with the local assignments of the enclosing function, so
//! a rule can ask where a name's value came from. Depth-bounded: deeply nested input
//! is skipped below the bound rather than overflowing the stack.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, ModModule, Stmt};
use std::cell::OnceCell;

use rustc_hash::FxHashMap;
use tocsin_python::project::ModuleId;

const MAX_DEPTH: usize = 400;

pub struct Scope<'a> {
    pub module: ModuleId,
    pub in_function: bool,
    /// The enclosing function's (or module's) statements.
    body: &'a [Stmt],
    /// Its assignments, collected on first use: most functions never need them.
    locals: OnceCell<Locals<'a>>,
    /// The body of the class a method belongs to (for `self.NAME` class constants).
    class_body: Option<&'a [Stmt]>,
}

impl<'a> Scope<'a> {
    fn new(module: ModuleId, body: &'a [Stmt], in_function: bool) -> Self {
        Scope {
            module,
            in_function,
            body,
            locals: OnceCell::new(),
            class_body: None,
        }
    }

    /// `NAME = <value>` at the top level of the enclosing class: what `self.NAME` and
    /// `cls.NAME` read when no instance attribute shadows it.
    pub fn class_constant(&self, name: &str) -> Option<&'a Expr> {
        self.class_body?.iter().rev().find_map(|stmt| match stmt {
            Stmt::Assign(a) => match a.targets.as_slice() {
                [Expr::Name(n)] if n.id.as_str() == name => Some(&*a.value),
                _ => None,
            },
            Stmt::AnnAssign(a) => match (&*a.target, a.value.as_deref()) {
                (Expr::Name(n), Some(v)) if n.id.as_str() == name => Some(v),
                _ => None,
            },
            _ => None,
        })
    }

    fn collected(&self) -> &Locals<'a> {
        self.locals.get_or_init(|| {
            let mut locals: Locals<'a> = Default::default();
            collect_assigns(self.body, &mut locals, 0);
            locals
        })
    }

    /// Last value assigned to each local name in the enclosing function (or module).
    pub fn locals(&self) -> &FxHashMap<&'a str, &'a Expr> {
        &self.collected().0
    }

    /// `name["field"] = ...` writes in the enclosing function, as `(name, field)`.
    pub fn item_writes(&self) -> &[(&'a str, &'a str)] {
        &self.collected().1
    }

    pub fn value_of(&self, name: &str) -> Option<&'a Expr> {
        self.locals().get(name).copied()
    }
}

pub trait SyntaxRule<'a> {
    fn expr(&mut self, _expr: &'a Expr, _scope: &Scope<'a>) {}
    fn stmt(&mut self, _stmt: &'a Stmt, _scope: &Scope<'a>) {}
    /// The findings made so far (the walk is over when this is called).
    fn take_findings(&mut self) -> Vec<tocsin_diagnostics::Finding>;
}

/// Several rules as one visitor: one traversal of the tree feeds them all.
pub struct Many<'r, 'a>(pub Vec<Box<dyn SyntaxRule<'a> + 'r>>);

impl<'a> SyntaxRule<'a> for Many<'_, 'a> {
    fn expr(&mut self, expr: &'a Expr, scope: &Scope<'a>) {
        for rule in &mut self.0 {
            rule.expr(expr, scope);
        }
    }
    fn stmt(&mut self, stmt: &'a Stmt, scope: &Scope<'a>) {
        for rule in &mut self.0 {
            rule.stmt(stmt, scope);
        }
    }
    fn take_findings(&mut self) -> Vec<tocsin_diagnostics::Finding> {
        self.0.iter_mut().flat_map(|r| r.take_findings()).collect()
    }
}

type Locals<'a> = (FxHashMap<&'a str, &'a Expr>, Vec<(&'a str, &'a str)>);

struct Walk<'r, 'a, R: ?Sized> {
    rule: &'r mut R,
    scopes: Vec<Scope<'a>>,
    depth: usize,
    /// The body of the class whose direct children are being walked.
    class_body: Option<&'a [Stmt]>,
}

fn collect_assigns<'a>(body: &'a [Stmt], out: &mut Locals<'a>, depth: usize) {
    if depth > 32 {
        return;
    }
    for stmt in body {
        match stmt {
            Stmt::Assign(a) => {
                for target in &a.targets {
                    match target {
                        Expr::Name(n) => {
                            out.0.insert(n.id.as_str(), &a.value);
                        }
                        // `scheme, _, token = header.partition(" ")`: each name
                        // holds a part of the value.
                        Expr::Tuple(t) => {
                            for elt in &t.elts {
                                if let Expr::Name(n) = elt {
                                    out.0.insert(n.id.as_str(), &a.value);
                                }
                            }
                        }
                        Expr::Subscript(sub) => {
                            if let (Expr::Name(n), Expr::StringLiteral(field)) =
                                (&*sub.value, &*sub.slice)
                            {
                                out.1.push((n.id.as_str(), field.value.to_str()));
                            }
                        }
                        _ => {}
                    }
                }
            }
            Stmt::AnnAssign(a) => {
                if let (Expr::Name(n), Some(v)) = (&*a.target, a.value.as_deref()) {
                    out.0.insert(n.id.as_str(), v);
                }
            }
            Stmt::If(s) => {
                collect_assigns(&s.body, out, depth + 1);
                for c in &s.elif_else_clauses {
                    collect_assigns(&c.body, out, depth + 1);
                }
            }
            Stmt::For(s) => collect_assigns(&s.body, out, depth + 1),
            Stmt::While(s) => collect_assigns(&s.body, out, depth + 1),
            Stmt::With(s) => collect_assigns(&s.body, out, depth + 1),
            Stmt::Try(s) => {
                collect_assigns(&s.body, out, depth + 1);
                for h in &s.handlers {
                    let ruff_python_ast::ExceptHandler::ExceptHandler(h) = h;
                    collect_assigns(&h.body, out, depth + 1);
                }
                collect_assigns(&s.orelse, out, depth + 1);
                collect_assigns(&s.finalbody, out, depth + 1);
            }
            _ => {}
        }
    }
}

impl<'a, R: SyntaxRule<'a> + ?Sized> Visitor<'a> for Walk<'_, 'a, R> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.depth > MAX_DEPTH {
            return;
        }
        self.depth += 1;
        if let Some(scope) = self.scopes.last() {
            self.rule.stmt(stmt, scope);
        }
        if let Stmt::FunctionDef(function) = stmt {
            let module = self.scopes.last().map_or(0, |s| s.module);
            for decorator in &function.decorator_list {
                self.visit_expr(&decorator.expression);
            }
            let mut scope = Scope::new(module, &function.body, true);
            // A method sees its class; a function nested in a method keeps it.
            scope.class_body = self
                .class_body
                .take()
                .or_else(|| self.scopes.last().and_then(|s| s.class_body));
            self.scopes.push(scope);
            self.visit_body(&function.body);
            self.scopes.pop();
        } else if let Stmt::ClassDef(class) = stmt {
            for decorator in &class.decorator_list {
                self.visit_expr(&decorator.expression);
            }
            if let Some(arguments) = &class.arguments {
                for arg in arguments.args.iter() {
                    self.visit_expr(arg);
                }
                for keyword in arguments.keywords.iter() {
                    self.visit_expr(&keyword.value);
                }
            }
            for child in &class.body {
                self.class_body = Some(&class.body);
                self.visit_stmt(child);
            }
            self.class_body = None;
        } else {
            visitor::walk_stmt(self, stmt);
        }
        self.depth -= 1;
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.depth > MAX_DEPTH {
            return;
        }
        self.depth += 1;
        if let Some(scope) = self.scopes.last() {
            self.rule.expr(expr, scope);
        }
        visitor::walk_expr(self, expr);
        self.depth -= 1;
    }
}

pub fn walk<'a, R: SyntaxRule<'a> + ?Sized>(ast: &'a ModModule, module: ModuleId, rule: &mut R) {
    let mut walk = Walk {
        rule,
        scopes: vec![Scope::new(module, &ast.body, false)],
        depth: 0,
        class_body: None,
    };
    walk.visit_body(&ast.body);
}

/// Runs one syntax rule on its own over a module (the registry normally runs all of
/// them in one walk; this serves callers that want a single rule).
pub fn check_one<'c, 'a>(
    ctx: &'c crate::Context<'a>,
    module: ModuleId,
    out: &mut Vec<tocsin_diagnostics::Finding>,
    rule: Option<Box<dyn SyntaxRule<'a> + 'c>>,
) {
    let Some(ast) = ctx.project.file(ctx.project.module(module).file).module() else {
        return;
    };
    if let Some(mut rule) = rule {
        walk(ast, module, &mut *rule);
        out.extend(rule.take_findings());
    }
}
