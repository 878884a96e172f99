//! Flask's structure in the scanned tree: apps, blueprints, flask-restful and
//! flask-restx APIs and namespaces, how they are registered on each other, the routes
//! declared on them, and the `before_request` hooks.
//!
//! Objects are found in module scope and in the scope of any top-level function (app
//! factories), and are referred to across modules through the semantic index.

use ruff_python_ast::{self as ast, Expr, Stmt, StmtClassDef, StmtFunctionDef};
use ruff_text_size::{Ranged, TextRange};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::facts::{dotted, string_literal};
use crate::index::{class_attribute, Binding, Index, LocalImports, Resolved};
use crate::project::ModuleId;
use crate::source::Loc;

pub type ObjId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjKind {
    App,
    Blueprint,
    RestfulApi,
    RestxApi,
    Namespace,
}

#[derive(Debug, Clone)]
pub struct FlaskObject {
    pub kind: ObjKind,
    /// The variable it is bound to.
    pub var: String,
    /// The blueprint/namespace name given to the constructor.
    pub label: Option<String>,
    pub module: ModuleId,
    pub loc: Loc,
    /// `url_prefix=` of a blueprint, `prefix=` of an API, `path=` of a namespace.
    pub own_prefix: Option<String>,
    /// The app or blueprint an API is bound to.
    pub parent: Option<ObjId>,
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub parent: ObjId,
    pub child: ObjId,
    /// `url_prefix=` / `path=` given at registration, overriding the child's own.
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum ViewDecl<'a> {
    Function {
        module: ModuleId,
        function: &'a StmtFunctionDef,
    },
    Class {
        module: ModuleId,
        class: &'a StmtClassDef,
    },
}

#[derive(Debug, Clone)]
pub struct RouteDecl<'a> {
    pub owner: ObjId,
    pub rule: String,
    /// Explicit methods; `None` means Flask's default (GET, or the class's methods).
    pub methods: Option<Vec<String>>,
    pub view: ViewDecl<'a>,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct Hook<'a> {
    pub owner: ObjId,
    /// `before_app_request`: runs for every route of the app.
    pub app_wide: bool,
    pub module: ModuleId,
    pub function: &'a StmtFunctionDef,
}

#[derive(Default)]
pub struct FlaskStructure<'a> {
    pub objects: Vec<FlaskObject>,
    pub registrations: Vec<Registration>,
    pub routes: Vec<RouteDecl<'a>>,
    pub hooks: Vec<Hook<'a>>,
}

/// A scope: module level (`None`) or the body of a top-level function.
type ScopeKey = (ModuleId, Option<TextRange>);

struct Discovery<'i, 'a> {
    index: &'i Index<'a>,
    out: FlaskStructure<'a>,
    names: FxHashMap<(ScopeKey, String), ObjId>,
    /// Functions defined inside factories, by scope and name.
    local_functions: FxHashMap<(ScopeKey, String), &'a StmtFunctionDef>,
    /// `view = Cls.as_view("x")` bindings.
    as_view: FxHashMap<(ScopeKey, String), (ModuleId, &'a StmtClassDef)>,
    /// Imports made inside factory functions.
    local_imports: FxHashMap<ScopeKey, LocalImports<'a>>,
}

const HTTP_METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

pub fn discover<'a>(index: &Index<'a>) -> FlaskStructure<'a> {
    let mut discovery = Discovery {
        index,
        out: FlaskStructure::default(),
        names: FxHashMap::default(),
        local_functions: FxHashMap::default(),
        as_view: FxHashMap::default(),
        local_imports: FxHashMap::default(),
    };
    let scopes = discovery.scopes();
    // Objects first, so that registrations and routes in any module can refer to
    // objects created in any other; aliases (`app = create_app()`) need the factories.
    for pass in 0..2 {
        for (scope, body) in &scopes {
            for stmt in body {
                discovery.object_stmt(*scope, stmt, pass);
            }
        }
    }
    for (scope, body) in &scopes {
        for stmt in body {
            discovery.structure_stmt(*scope, stmt);
        }
    }
    discovery.out
}

fn keyword<'e>(call: &'e ast::ExprCall, name: &str) -> Option<&'e Expr> {
    call.arguments
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
        .map(|k| &k.value)
}

fn string_list(expr: &Expr) -> Option<Vec<String>> {
    let elts: &[Expr] = match expr {
        Expr::List(l) => &l.elts,
        Expr::Tuple(t) => &t.elts,
        Expr::Set(s) => &s.elts,
        _ => return None,
    };
    Some(
        elts.iter()
            .filter_map(string_literal)
            .map(|s| s.to_ascii_uppercase())
            .collect(),
    )
}

impl<'a> Discovery<'_, 'a> {
    /// Every scope with its statements: module level (flattened) and the bodies of
    /// top-level functions (app factories), flattened the same way.
    fn scopes(&mut self) -> Vec<(ScopeKey, Vec<&'a Stmt>)> {
        let mut scopes = Vec::new();
        for module in &self.index.modules {
            scopes.push(((module.id, None), module.top_level.clone()));
            for stmt in &module.top_level {
                if let Stmt::FunctionDef(function) = stmt {
                    let mut body = Vec::new();
                    crate::index::flatten_body(&function.body, &mut body, 0);
                    let key = (module.id, Some(function.range));
                    for inner in &body {
                        if let Stmt::FunctionDef(f) = inner {
                            self.local_functions
                                .insert((key, f.name.as_str().to_string()), f);
                        }
                    }
                    let imports = self.index.local_imports(module.id, &body);
                    self.local_imports.insert(key, imports);
                    scopes.push((key, body));
                }
            }
        }
        scopes
    }

    fn loc(&self, module: ModuleId, node: &impl Ranged) -> Loc {
        self.index.loc(module, node)
    }

    fn constructor_kind(&self, module: ModuleId, call: &ast::ExprCall) -> Option<ObjKind> {
        let qualified = self.index.qualified(module, &call.func)?;
        Some(match qualified.as_str() {
            "flask.Flask" | "flask.app.Flask" | "quart.Quart" | "apiflask.APIFlask"
            | "connexion.FlaskApp" => ObjKind::App,
            "flask.Blueprint"
            | "flask.blueprints.Blueprint"
            | "flask_smorest.Blueprint"
            | "apiflask.APIBlueprint" => ObjKind::Blueprint,
            "flask_restful.Api" => ObjKind::RestfulApi,
            "flask_restx.Api" | "flask_restplus.Api" => ObjKind::RestxApi,
            "flask_restx.Namespace" | "flask_restplus.Namespace" => ObjKind::Namespace,
            _ => return None,
        })
    }

    fn object_stmt(&mut self, scope: ScopeKey, stmt: &'a Stmt, pass: usize) {
        let (targets, value): (Vec<&Expr>, &Expr) = match stmt {
            Stmt::Assign(a) => (a.targets.iter().collect(), &a.value),
            Stmt::AnnAssign(a) => match &a.value {
                Some(v) => (vec![&*a.target], v),
                None => return,
            },
            _ => return,
        };
        let Some(var) = targets.iter().find_map(|t| match t {
            Expr::Name(n) => Some(n.id.as_str().to_string()),
            _ => None,
        }) else {
            return;
        };
        let module = scope.0;
        if pass == 0 {
            let Expr::Call(call) = value else { return };
            let Some(kind) = self.constructor_kind(module, call) else {
                return;
            };
            let args = &call.arguments.args;
            let (label, own_prefix, parent_expr) = match kind {
                ObjKind::App => (None, None, None),
                ObjKind::Blueprint => (
                    args.first().and_then(string_literal).map(str::to_string),
                    keyword(call, "url_prefix")
                        .and_then(string_literal)
                        .map(str::to_string),
                    None,
                ),
                ObjKind::RestfulApi | ObjKind::RestxApi => (
                    None,
                    keyword(call, "prefix")
                        .and_then(string_literal)
                        .map(str::to_string),
                    args.first().or_else(|| keyword(call, "app")),
                ),
                ObjKind::Namespace => {
                    let label = args.first().and_then(string_literal).map(str::to_string);
                    let path = keyword(call, "path")
                        .and_then(string_literal)
                        .map(str::to_string)
                        .or_else(|| label.as_ref().map(|l| format!("/{l}")));
                    (label, path, None)
                }
            };
            let parent = parent_expr.and_then(|e| self.resolve_object(scope, e));
            let id = self.out.objects.len();
            self.out.objects.push(FlaskObject {
                kind,
                var: var.clone(),
                label,
                module,
                loc: self.loc(module, value),
                own_prefix,
                parent,
            });
            self.names.insert((scope, var), id);
        } else if !self.names.contains_key(&(scope, var.clone())) {
            // Aliases: `app = create_app()`, `app = other.app`.
            let target = match value {
                Expr::Call(call) => self.factory_result(scope, &call.func),
                other => self.resolve_object(scope, other),
            };
            if let Some(id) = target {
                self.names.insert((scope, var), id);
            }
        }
    }

    /// The Flask object a factory function returns.
    fn factory_result(&self, scope: ScopeKey, func: &Expr) -> Option<ObjId> {
        let Resolved::Project(Binding::Function(module, function)) =
            self.resolve_in(scope, func)?
        else {
            return None;
        };
        let inner: ScopeKey = (module, Some(function.range));
        let mut body = Vec::new();
        crate::index::flatten_body(&function.body, &mut body, 0);
        body.iter().rev().find_map(|stmt| match stmt {
            Stmt::Return(ret) => ret
                .value
                .as_deref()
                .and_then(|v| self.resolve_object(inner, v)),
            _ => None,
        })
    }

    fn resolve_object(&self, scope: ScopeKey, expr: &Expr) -> Option<ObjId> {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str().to_string();
                if scope.1.is_some() {
                    if let Some(obj) = self.names.get(&(scope, id.clone())) {
                        return Some(*obj);
                    }
                }
                if let Some(obj) = self.names.get(&((scope.0, None), id)) {
                    return Some(*obj);
                }
                self.resolve_through_index(scope, expr)
            }
            Expr::Attribute(_) => self.resolve_through_index(scope, expr),
            _ => None,
        }
    }

    fn resolve_in(&self, scope: ScopeKey, expr: &Expr) -> Option<Resolved<'a>> {
        match self.local_imports.get(&scope) {
            Some(locals) => self.index.resolve_expr_in(scope.0, locals, expr),
            None => self.index.resolve_expr(scope.0, expr),
        }
    }

    fn resolve_through_index(&self, scope: ScopeKey, expr: &Expr) -> Option<ObjId> {
        match self.resolve_in(scope, expr)? {
            Resolved::Project(Binding::Variable(m, name, _)) => {
                self.names.get(&((m, None), name.to_string())).copied()
            }
            _ => None,
        }
    }

    fn resolve_function(
        &self,
        scope: ScopeKey,
        expr: &Expr,
    ) -> Option<(ModuleId, &'a StmtFunctionDef)> {
        if let Expr::Name(name) = expr {
            if let Some(f) = self
                .local_functions
                .get(&(scope, name.id.as_str().to_string()))
            {
                return Some((scope.0, f));
            }
        }
        match self.resolve_in(scope, expr)? {
            Resolved::Project(Binding::Function(m, f)) => Some((m, f)),
            _ => None,
        }
    }

    fn resolve_class(&self, scope: ScopeKey, expr: &Expr) -> Option<(ModuleId, &'a StmtClassDef)> {
        match self.resolve_in(scope, expr)? {
            Resolved::Project(Binding::Class(m, c)) => Some((m, c)),
            _ => None,
        }
    }

    /// `view_func=` values: a function, `Cls.as_view(...)`, or a name bound to one.
    fn resolve_view(&self, scope: ScopeKey, expr: &Expr) -> Option<ViewDecl<'a>> {
        if let Expr::Call(call) = expr {
            if let Expr::Attribute(attr) = &*call.func {
                if attr.attr.as_str() == "as_view" {
                    let (module, class) = self.resolve_class(scope, &attr.value)?;
                    return Some(ViewDecl::Class { module, class });
                }
            }
            return None;
        }
        if let Expr::Name(name) = expr {
            for key in [
                (scope, name.id.as_str().to_string()),
                ((scope.0, None), name.id.as_str().to_string()),
            ] {
                if let Some((module, class)) = self.as_view.get(&key) {
                    return Some(ViewDecl::Class {
                        module: *module,
                        class,
                    });
                }
            }
        }
        if let Some((module, function)) = self.resolve_function(scope, expr) {
            return Some(ViewDecl::Function { module, function });
        }
        None
    }

    fn structure_stmt(&mut self, scope: ScopeKey, stmt: &'a Stmt) {
        let module = scope.0;
        match stmt {
            Stmt::Assign(assign) => {
                // view = Cls.as_view("name")
                if let (Some(Expr::Name(target)), Expr::Call(call)) =
                    (assign.targets.first(), &*assign.value)
                {
                    if let Expr::Attribute(attr) = &*call.func {
                        if attr.attr.as_str() == "as_view" {
                            if let Some(class) = self.resolve_class(scope, &attr.value) {
                                self.as_view
                                    .insert((scope, target.id.as_str().to_string()), class);
                            }
                        }
                    }
                }
                if let Expr::Call(call) = &*assign.value {
                    self.structure_call(scope, call);
                }
            }
            Stmt::Expr(expr) => {
                if let Expr::Call(call) = &*expr.value {
                    self.structure_call(scope, call);
                }
            }
            Stmt::FunctionDef(function) => {
                for decorator in &function.decorator_list {
                    self.function_decorator(scope, function, &decorator.expression);
                }
            }
            Stmt::ClassDef(class) => {
                for decorator in &class.decorator_list {
                    // @ns.route("/x") / @api.route("/x") (restx), @api.resource("/x") (restful)
                    let Expr::Call(call) = &decorator.expression else {
                        continue;
                    };
                    let Expr::Attribute(attr) = &*call.func else {
                        continue;
                    };
                    let Some(owner) = self.resolve_object(scope, &attr.value) else {
                        continue;
                    };
                    let kind = self.out.objects[owner].kind;
                    let is_route = (attr.attr.as_str() == "route"
                        && matches!(kind, ObjKind::Namespace | ObjKind::RestxApi))
                        || (attr.attr.as_str() == "resource" && kind == ObjKind::RestfulApi);
                    if !is_route {
                        continue;
                    }
                    for rule in call.arguments.args.iter().filter_map(string_literal) {
                        self.out.routes.push(RouteDecl {
                            owner,
                            rule: rule.to_string(),
                            methods: None,
                            view: ViewDecl::Class { module, class },
                            loc: self.loc(module, decorator),
                        });
                    }
                }
            }
            _ => {}
        }
    }

    fn function_decorator(
        &mut self,
        scope: ScopeKey,
        function: &'a StmtFunctionDef,
        decorator: &Expr,
    ) {
        let module = scope.0;
        let (call, attr) = match decorator {
            Expr::Call(call) => match &*call.func {
                Expr::Attribute(attr) => (Some(call), attr),
                _ => return,
            },
            Expr::Attribute(attr) => (None, attr),
            _ => return,
        };
        let Some(owner) = self.resolve_object(scope, &attr.value) else {
            return;
        };
        let method = attr.attr.as_str();
        match (method, call) {
            ("before_request" | "before_app_request", _) => {
                self.out.hooks.push(Hook {
                    owner,
                    app_wide: method == "before_app_request",
                    module,
                    function,
                });
            }
            ("route", Some(call)) => {
                let Some(rule) = call.arguments.args.first().and_then(string_literal) else {
                    return;
                };
                let methods = keyword(call, "methods").and_then(string_list);
                self.out.routes.push(RouteDecl {
                    owner,
                    rule: rule.to_string(),
                    methods,
                    view: ViewDecl::Function { module, function },
                    loc: self.loc(module, decorator),
                });
            }
            ("get" | "post" | "put" | "patch" | "delete", Some(call)) => {
                let Some(rule) = call.arguments.args.first().and_then(string_literal) else {
                    return;
                };
                self.out.routes.push(RouteDecl {
                    owner,
                    rule: rule.to_string(),
                    methods: Some(vec![method.to_ascii_uppercase()]),
                    view: ViewDecl::Function { module, function },
                    loc: self.loc(module, decorator),
                });
            }
            _ => {}
        }
    }

    fn structure_call(&mut self, scope: ScopeKey, call: &'a ast::ExprCall) {
        let module = scope.0;
        let Expr::Attribute(attr) = &*call.func else {
            return;
        };
        let Some(owner) = self.resolve_object(scope, &attr.value) else {
            return;
        };
        let args = &call.arguments.args;
        match attr.attr.as_str() {
            method @ ("register_blueprint" | "add_namespace") => {
                let Some(child) = args.first().and_then(|e| self.resolve_object(scope, e)) else {
                    return;
                };
                // `register_blueprint(bp, url_prefix=…)`, `add_namespace(ns, path)`.
                let prefix = if method == "register_blueprint" {
                    keyword(call, "url_prefix")
                } else {
                    keyword(call, "path").or_else(|| args.get(1))
                };
                self.out.registrations.push(Registration {
                    parent: owner,
                    child,
                    prefix: prefix.and_then(string_literal).map(str::to_string),
                });
            }
            "init_app" => {
                if let Some(parent) = args.first().and_then(|e| self.resolve_object(scope, e)) {
                    if matches!(
                        self.out.objects[owner].kind,
                        ObjKind::RestfulApi | ObjKind::RestxApi
                    ) {
                        self.out.objects[owner].parent = Some(parent);
                    }
                }
            }
            "before_request" | "before_app_request" => {
                if let Some((m, function)) =
                    args.first().and_then(|e| self.resolve_function(scope, e))
                {
                    self.out.hooks.push(Hook {
                        owner,
                        app_wide: attr.attr.as_str() == "before_app_request",
                        module: m,
                        function,
                    });
                }
            }
            "add_url_rule" => {
                let Some(rule) = args.first().and_then(string_literal) else {
                    return;
                };
                let view_expr = keyword(call, "view_func").or_else(|| args.get(2));
                let Some(view) = view_expr.and_then(|e| self.resolve_view(scope, e)) else {
                    return;
                };
                let methods = keyword(call, "methods").and_then(string_list);
                self.out.routes.push(RouteDecl {
                    owner,
                    rule: rule.to_string(),
                    methods,
                    view,
                    loc: self.loc(module, call),
                });
            }
            "add_resource" => {
                let Some((m, class)) = args.first().and_then(|e| self.resolve_class(scope, e))
                else {
                    return;
                };
                for rule in args.iter().skip(1).filter_map(string_literal) {
                    self.out.routes.push(RouteDecl {
                        owner,
                        rule: rule.to_string(),
                        methods: None,
                        view: ViewDecl::Class { module: m, class },
                        loc: self.loc(module, call),
                    });
                }
            }
            _ => {}
        }
    }
}

/// Joins a prefix and a rule the way Flask does (exactly one slash between them).
pub fn join_rule(prefix: &str, rule: &str) -> String {
    if prefix.is_empty() {
        return rule.to_string();
    }
    if rule.is_empty() {
        return prefix.to_string();
    }
    format!(
        "{}/{}",
        prefix.trim_end_matches('/'),
        rule.trim_start_matches('/')
    )
}

impl FlaskStructure<'_> {
    /// Every URL prefix under which routes declared on `obj` are served, with the
    /// chain of objects (the object itself first) that leads to each app.
    pub fn mounts(&self, obj: ObjId) -> Vec<(String, Vec<ObjId>)> {
        self.mounts_depth(obj, 0)
    }

    fn mounts_depth(&self, obj: ObjId, depth: usize) -> Vec<(String, Vec<ObjId>)> {
        if depth > 16 {
            return Vec::new();
        }
        let object = &self.objects[obj];
        let with_self = |mut chain: Vec<ObjId>| {
            chain.insert(0, obj);
            chain
        };
        match object.kind {
            ObjKind::App => vec![(String::new(), vec![obj])],
            ObjKind::RestfulApi | ObjKind::RestxApi => {
                let prefix = object.own_prefix.clone().unwrap_or_default();
                match object.parent {
                    Some(parent) => self
                        .mounts_depth(parent, depth + 1)
                        .into_iter()
                        .map(|(p, chain)| (join_rule(&p, &prefix), with_self(chain)))
                        .collect(),
                    None => vec![(prefix, vec![obj])],
                }
            }
            ObjKind::Blueprint | ObjKind::Namespace => {
                let registrations: Vec<&Registration> = self
                    .registrations
                    .iter()
                    .filter(|r| r.child == obj)
                    .collect();
                if registrations.is_empty() {
                    return vec![(object.own_prefix.clone().unwrap_or_default(), vec![obj])];
                }
                let mut out = Vec::new();
                for registration in registrations {
                    let own = registration
                        .prefix
                        .clone()
                        .or_else(|| object.own_prefix.clone())
                        .unwrap_or_default();
                    for (parent_prefix, chain) in self.mounts_depth(registration.parent, depth + 1)
                    {
                        out.push((join_rule(&parent_prefix, &own), with_self(chain)));
                    }
                }
                out
            }
        }
    }
}

/// The HTTP methods a class-based view answers: its (and its project bases')
/// method functions, or an explicit `methods = [...]`.
pub fn class_methods(index: &Index<'_>, module: ModuleId, class: &StmtClassDef) -> Vec<String> {
    if let Some(methods) = class_attribute(class, "methods").and_then(string_list) {
        return methods;
    }
    let mut out: Vec<String> = Vec::new();
    let mut classes = vec![(module, class)];
    for base in index.class_ancestry(module, class) {
        if let Resolved::Project(Binding::Class(m, c)) = base {
            classes.push((m, c));
        }
    }
    for (_, c) in classes {
        for stmt in &c.body {
            if let Stmt::FunctionDef(f) = stmt {
                let name = f.name.as_str();
                if HTTP_METHODS.contains(&name) && name != "head" && name != "options" {
                    let upper = name.to_ascii_uppercase();
                    if !out.contains(&upper) {
                        out.push(upper);
                    }
                }
            }
        }
    }
    out
}

/// Text of a decorator for display (`require_scope("admin")` → `require_scope`).
pub fn decorator_name(expr: &Expr) -> String {
    match expr {
        Expr::Call(call) => decorator_name(&call.func),
        other => dotted(other).unwrap_or_else(|| "<decorator>".to_string()),
    }
}
