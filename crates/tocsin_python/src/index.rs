//! The semantic index: module names, imports and top-level definitions, and the
//! resolution of a name or dotted expression to what it denotes, across the modules of
//! the scanned tree. Anything outside the tree resolves to its qualified name
//! (`flask.request.headers`), which is how Flask's API is recognised.

use ruff_python_ast::{Expr, Stmt, StmtClassDef, StmtFunctionDef};
use ruff_text_size::Ranged;
use rustc_hash::FxHashMap;

use crate::project::{ModuleId, Project};
use crate::source::Loc;

/// What a name refers to.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    Function(ModuleId, &'a StmtFunctionDef),
    Class(ModuleId, &'a StmtClassDef),
    /// A module-level variable with the value it was last assigned at module level.
    Variable(ModuleId, &'a str, &'a Expr),
    Module(ModuleId),
}

/// The result of resolving an expression.
#[derive(Debug, Clone)]
pub enum Resolved<'a> {
    Project(Binding<'a>),
    /// A name from outside the tree, fully qualified: `flask.request.args.get`.
    External(String),
}

impl Resolved<'_> {
    pub fn external(&self) -> Option<&str> {
        match self {
            Resolved::External(name) => Some(name),
            Resolved::Project(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Import {
    /// `import a.b` binds `a` to module `a`; `import a.b as x` binds `x` to `a.b`.
    Module(String),
    /// `from a.b import c [as x]`.
    Member(String, String),
}

pub struct ModuleIndex<'a> {
    pub id: ModuleId,
    imports: FxHashMap<&'a str, Import>,
    pub functions: FxHashMap<&'a str, &'a StmtFunctionDef>,
    pub classes: FxHashMap<&'a str, &'a StmtClassDef>,
    pub variables: FxHashMap<&'a str, &'a Expr>,
    /// Every module-level statement, flattened out of `if`/`try`/`with` blocks.
    pub top_level: Vec<&'a Stmt>,
}

pub struct Index<'a> {
    pub project: &'a Project,
    pub modules: Vec<ModuleIndex<'a>>,
}

/// Module-level statements, looking inside `if`, `try` and `with` (conditional imports
/// and definitions are still definitions).
pub(crate) fn flatten_body<'a>(body: &'a [Stmt], out: &mut Vec<&'a Stmt>, depth: usize) {
    if depth > 16 {
        return;
    }
    for stmt in body {
        out.push(stmt);
        match stmt {
            Stmt::If(s) => {
                flatten_body(&s.body, out, depth + 1);
                for clause in &s.elif_else_clauses {
                    flatten_body(&clause.body, out, depth + 1);
                }
            }
            Stmt::Try(s) => {
                flatten_body(&s.body, out, depth + 1);
                for handler in &s.handlers {
                    let ruff_python_ast::ExceptHandler::ExceptHandler(h) = handler;
                    flatten_body(&h.body, out, depth + 1);
                }
                flatten_body(&s.orelse, out, depth + 1);
                flatten_body(&s.finalbody, out, depth + 1);
            }
            Stmt::With(s) => flatten_body(&s.body, out, depth + 1),
            _ => {}
        }
    }
}

impl<'a> Index<'a> {
    pub fn build(project: &'a Project) -> Index<'a> {
        let modules = project
            .modules()
            .map(|(id, module)| {
                let mut index = ModuleIndex {
                    id,
                    imports: FxHashMap::default(),
                    functions: FxHashMap::default(),
                    classes: FxHashMap::default(),
                    variables: FxHashMap::default(),
                    top_level: Vec::new(),
                };
                if let Some(ast) = project.file(module.file).module() {
                    flatten_body(&ast.body, &mut index.top_level, 0);
                }
                for stmt in index.top_level.clone() {
                    index.add_definition(project, id, stmt);
                }
                index
            })
            .collect();
        Index { project, modules }
    }

    pub fn module(&self, id: ModuleId) -> &ModuleIndex<'a> {
        &self.modules[id]
    }

    /// Resolves a bare name at module level of `module`.
    pub fn resolve_name(&self, module: ModuleId, name: &str) -> Option<Resolved<'a>> {
        self.resolve_name_depth(module, name, 0)
    }

    fn resolve_name_depth(
        &self,
        module: ModuleId,
        name: &str,
        depth: usize,
    ) -> Option<Resolved<'a>> {
        if depth > 24 {
            return None;
        }
        let index = self.modules.get(module)?;
        if let Some(function) = index.functions.get(name) {
            return Some(Resolved::Project(Binding::Function(module, function)));
        }
        if let Some(class) = index.classes.get(name) {
            return Some(Resolved::Project(Binding::Class(module, class)));
        }
        if let Some(import) = index.imports.get(name) {
            return self.resolve_import(module, import, depth);
        }
        if let Some((stored, value)) = index.variables.get_key_value(name) {
            return Some(Resolved::Project(Binding::Variable(module, stored, value)));
        }
        if is_builtin(name) {
            return Some(Resolved::External(format!("builtins.{name}")));
        }
        None
    }

    fn resolve_import(
        &self,
        module: ModuleId,
        import: &Import,
        depth: usize,
    ) -> Option<Resolved<'a>> {
        match import {
            Import::Module(target) => Some(match self.project.module_by_name(target, module) {
                Some(id) => Resolved::Project(Binding::Module(id)),
                None => Resolved::External(target.clone()),
            }),
            Import::Member(from, member) => {
                if let Some(from_id) = self.project.module_by_name(from, module) {
                    if let Some(resolved) = self.resolve_name_depth(from_id, member, depth + 1) {
                        return Some(resolved);
                    }
                    let submodule = format!("{from}.{member}");
                    if let Some(sub) = self.project.module_by_name(&submodule, module) {
                        return Some(Resolved::Project(Binding::Module(sub)));
                    }
                    None
                } else {
                    let submodule = format!("{from}.{member}");
                    match self.project.module_by_name(&submodule, module) {
                        Some(sub) => Some(Resolved::Project(Binding::Module(sub))),
                        None => Some(Resolved::External(submodule)),
                    }
                }
            }
        }
    }

    /// Imports made inside a function body (`from .blueprints import api` in an app
    /// factory), to resolve names of that scope.
    pub fn local_imports(&self, module: ModuleId, body: &[&'a Stmt]) -> LocalImports<'a> {
        let mut scratch = ModuleIndex {
            id: module,
            imports: FxHashMap::default(),
            functions: FxHashMap::default(),
            classes: FxHashMap::default(),
            variables: FxHashMap::default(),
            top_level: Vec::new(),
        };
        for stmt in body {
            if matches!(stmt, Stmt::Import(_) | Stmt::ImportFrom(_)) {
                scratch.add_definition(self.project, module, stmt);
            }
        }
        LocalImports(scratch.imports)
    }

    /// Like [`Index::resolve_expr`], with a scope's own imports shadowing the module's.
    pub fn resolve_expr_in(
        &self,
        module: ModuleId,
        locals: &LocalImports<'a>,
        expr: &Expr,
    ) -> Option<Resolved<'a>> {
        if locals.0.is_empty() {
            return self.resolve_expr(module, expr);
        }
        if chain_too_long(expr) {
            return None;
        }
        self.resolve_chain(module, expr, &|name| match locals.0.get(name) {
            Some(import) => self.resolve_import(module, import, 0),
            None => self.resolve_name(module, name),
        })
    }

    /// Resolves a name or dotted attribute chain.
    pub fn resolve_expr(&self, module: ModuleId, expr: &Expr) -> Option<Resolved<'a>> {
        if chain_too_long(expr) {
            return None;
        }
        self.resolve_chain(module, expr, &|name| self.resolve_name(module, name))
    }

    fn resolve_chain(
        &self,
        module: ModuleId,
        expr: &Expr,
        resolve_root: &dyn Fn(&str) -> Option<Resolved<'a>>,
    ) -> Option<Resolved<'a>> {
        match expr {
            Expr::Name(name) => resolve_root(name.id.as_str()),
            Expr::Attribute(attribute) => {
                let base = self.resolve_chain(module, &attribute.value, resolve_root)?;
                let attr = attribute.attr.as_str();
                match base {
                    Resolved::External(qualified) => {
                        Some(Resolved::External(format!("{qualified}.{attr}")))
                    }
                    Resolved::Project(Binding::Module(id)) => {
                        self.resolve_name(id, attr).or_else(|| {
                            let name = format!("{}.{attr}", self.project.module_name(id));
                            self.project
                                .module_by_name(&name, module)
                                .map(|sub| Resolved::Project(Binding::Module(sub)))
                        })
                    }
                    Resolved::Project(Binding::Class(id, class)) => {
                        class_member(class, attr).map(|stmt| match stmt {
                            Member::Function(f) => Resolved::Project(Binding::Function(id, f)),
                            Member::Class(c) => Resolved::Project(Binding::Class(id, c)),
                        })
                    }
                    Resolved::Project(_) => None,
                }
            }
            Expr::Call(call) => {
                // `x()` where x is external: the call result is still identified by the
                // callee (`flask.request.get_json()` is recognised by name).
                match self.resolve_chain(module, &call.func, resolve_root)? {
                    Resolved::External(qualified) => {
                        Some(Resolved::External(format!("{qualified}()")))
                    }
                    Resolved::Project(_) => None,
                }
            }
            _ => None,
        }
    }

    /// The qualified name of an external callee or attribute chain, e.g.
    /// `flask.request.headers.get`. `None` for project code and unknown names.
    pub fn qualified(&self, module: ModuleId, expr: &Expr) -> Option<String> {
        match self.resolve_expr(module, expr)? {
            Resolved::External(name) => Some(name),
            Resolved::Project(_) => None,
        }
    }

    pub fn loc(&self, module: ModuleId, node: &impl Ranged) -> Loc {
        Loc {
            file: self.project.module(module).file,
            range: node.range(),
        }
    }

    /// Base classes of a project class, resolved as far as possible, transitively
    /// (qualified names for external bases).
    pub fn class_ancestry(&self, module: ModuleId, class: &'a StmtClassDef) -> Vec<Resolved<'a>> {
        let mut out = Vec::new();
        let mut stack = vec![(module, class)];
        let mut seen = 0usize;
        while let Some((m, c)) = stack.pop() {
            seen += 1;
            if seen > 64 {
                break;
            }
            let Some(arguments) = c.arguments.as_deref() else {
                continue;
            };
            for base in arguments.args.iter() {
                if let Some(resolved) = self.resolve_expr(m, base) {
                    if let Resolved::Project(Binding::Class(bm, bc)) = &resolved {
                        stack.push((*bm, *bc));
                    }
                    out.push(resolved);
                }
            }
        }
        out
    }
}

/// Names imported inside a function body.
#[derive(Default)]
pub struct LocalImports<'a>(FxHashMap<&'a str, Import>);

pub enum Member<'a> {
    Function(&'a StmtFunctionDef),
    Class(&'a StmtClassDef),
}

/// A method or nested class defined directly in a class body.
pub fn class_member<'a>(class: &'a StmtClassDef, name: &str) -> Option<Member<'a>> {
    class.body.iter().rev().find_map(|stmt| match stmt {
        Stmt::FunctionDef(f) if f.name.as_str() == name => Some(Member::Function(f)),
        Stmt::ClassDef(c) if c.name.as_str() == name => Some(Member::Class(c)),
        _ => None,
    })
}

/// A class-level attribute assignment (`methods = [...]`, `decorators = [...]`).
pub fn class_attribute<'a>(class: &'a StmtClassDef, name: &str) -> Option<&'a Expr> {
    class.body.iter().rev().find_map(|stmt| match stmt {
        Stmt::Assign(a)
            if a.targets
                .iter()
                .any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == name)) =>
        {
            Some(&*a.value)
        }
        Stmt::AnnAssign(a) if matches!(&*a.target, Expr::Name(n) if n.id.as_str() == name) => {
            a.value.as_deref()
        }
        _ => None,
    })
}

impl<'a> ModuleIndex<'a> {
    fn add_definition(&mut self, project: &Project, id: ModuleId, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(f) => {
                self.functions.insert(f.name.as_str(), f);
            }
            Stmt::ClassDef(c) => {
                self.classes.insert(c.name.as_str(), c);
            }
            Stmt::Assign(a) => {
                for target in &a.targets {
                    if let Expr::Name(name) = target {
                        self.variables.insert(name.id.as_str(), &a.value);
                    }
                }
            }
            Stmt::AnnAssign(a) => {
                if let (Expr::Name(name), Some(value)) = (&*a.target, a.value.as_deref()) {
                    self.variables.insert(name.id.as_str(), value);
                }
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let full = alias.name.as_str();
                    match &alias.asname {
                        Some(asname) => {
                            self.imports
                                .insert(asname.as_str(), Import::Module(full.to_string()));
                        }
                        None => {
                            let head = full.split('.').next().unwrap_or(full);
                            self.imports.insert(
                                // The bound name is the first component.
                                &alias.name.as_str()[..head.len()],
                                Import::Module(head.to_string()),
                            );
                        }
                    }
                }
            }
            Stmt::ImportFrom(import) => {
                let base = project.absolute_import(
                    id,
                    import.module.as_ref().map(|m| m.as_str()),
                    import.level,
                );
                let Some(base) = base else { return };
                for alias in &import.names {
                    if alias.name.as_str() == "*" {
                        continue;
                    }
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                    self.imports.insert(
                        bound,
                        Import::Member(base.clone(), alias.name.as_str().to_string()),
                    );
                }
            }
            _ => {}
        }
    }
}

fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "open"
            | "int"
            | "str"
            | "len"
            | "dict"
            | "list"
            | "set"
            | "tuple"
            | "frozenset"
            | "float"
            | "bool"
            | "print"
            | "getattr"
            | "setattr"
            | "hasattr"
            | "isinstance"
            | "sorted"
            | "any"
            | "all"
            | "min"
            | "max"
            | "sum"
            | "abs"
            | "bytes"
            | "repr"
            | "iter"
            | "next"
            | "range"
            | "enumerate"
            | "zip"
            | "map"
            | "filter"
            | "super"
            | "type"
            | "object"
            | "Exception"
            | "PermissionError"
            | "ValueError"
            | "KeyError"
    )
}

/// Longest attribute/call chain (`a.b().c`) that resolution and [`crate::facts::root_name`]
/// follow. Hostile trees: the walkers resolve every link of a chain, and each
/// resolution walked the whole chain below it, so a generated `x.get("a").get("a")…`
/// of 100k links took 68 s (quadratic). No real chain is this long; longer ones
/// resolve to nothing.
pub const MAX_CHAIN: usize = 64;

/// Is `expr` a chain of more than [`MAX_CHAIN`] attribute/call links? Looks at no more
/// than that many links.
fn chain_too_long(mut expr: &Expr) -> bool {
    for _ in 0..=MAX_CHAIN {
        expr = match expr {
            Expr::Attribute(attribute) => &attribute.value,
            Expr::Call(call) => &call.func,
            _ => return false,
        };
    }
    true
}
