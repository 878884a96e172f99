//! A syntax walk shared by the rules that look at expressions: visits every statement
//! and expression of a file with the local assignments of the enclosing function, so
//! a rule can ask where a name's value came from. Depth-bounded: deeply nested input
//! is skipped below the bound rather than overflowing the stack.

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, ModModule, Stmt};
use rustc_hash::FxHashMap;
use tocsin_python::project::ModuleId;

const MAX_DEPTH: usize = 400;

pub struct Scope<'a> {
    pub module: ModuleId,
    /// Last value assigned to each local name in the enclosing function (or module).
    pub locals: FxHashMap<&'a str, &'a Expr>,
    /// `name["field"] = ...` writes in the enclosing function, as `(name, field)`.
    pub item_writes: Vec<(&'a str, &'a str)>,
    pub in_function: bool,
}

impl<'a> Scope<'a> {
    pub fn value_of(&self, name: &str) -> Option<&'a Expr> {
        self.locals.get(name).copied()
    }
}

pub trait SyntaxRule<'a> {
    fn expr(&mut self, _expr: &'a Expr, _scope: &Scope<'a>) {}
    fn stmt(&mut self, _stmt: &'a Stmt, _scope: &Scope<'a>) {}
}

type Locals<'a> = (FxHashMap<&'a str, &'a Expr>, Vec<(&'a str, &'a str)>);

struct Walk<'r, 'a, R> {
    rule: &'r mut R,
    scopes: Vec<Scope<'a>>,
    depth: usize,
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

impl<'a, R: SyntaxRule<'a>> Visitor<'a> for Walk<'_, 'a, R> {
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
            let mut locals: Locals<'a> = Default::default();
            collect_assigns(&function.body, &mut locals, 0);
            for decorator in &function.decorator_list {
                self.visit_expr(&decorator.expression);
            }
            self.scopes.push(Scope {
                module,
                locals: locals.0,
                item_writes: locals.1,
                in_function: true,
            });
            self.visit_body(&function.body);
            self.scopes.pop();
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

pub fn walk<'a, R: SyntaxRule<'a>>(ast: &'a ModModule, module: ModuleId, rule: &mut R) {
    let mut locals: Locals<'a> = Default::default();
    collect_assigns(&ast.body, &mut locals, 0);
    let mut walk = Walk {
        rule,
        scopes: vec![Scope {
            module,
            locals: locals.0,
            item_writes: locals.1,
            in_function: false,
        }],
        depth: 0,
    };
    walk.visit_body(&ast.body);
}
