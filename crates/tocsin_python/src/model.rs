//! The app model: every route with its full rule, methods, view, guards, principal
//! sources and object references, and the module-level mutable state with the code
//! paths that mutate it. This is what `tocsin routes` prints and what rules query.

use ruff_python_ast::{Expr, Stmt, StmtClassDef, StmtFunctionDef};
use ruff_text_size::Ranged;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::facts::{
    is_container_value, AccessKind, Analyzer, Facts, Origin, ParamMode, Principal, RequestSource,
    StateRef, Write,
};
use crate::flask::{
    class_methods, decorator_name, discover, FlaskStructure, ObjKind, RouteDecl, ViewDecl,
};
use crate::index::{class_attribute, class_member, Binding, Index, Member, Resolved};
use crate::project::{ModuleId, Project};
use crate::source::Loc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathParam {
    pub name: String,
    pub converter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuardKind {
    /// A decorator defined in the project whose wrapper refuses requests.
    Decorator,
    /// A `before_request` hook of the app or one of the route's blueprints.
    BeforeRequest,
    /// A well-known decorator from an auth library (`login_required`, `jwt_required`).
    Library,
}

#[derive(Debug, Clone)]
pub struct Guard {
    pub name: String,
    pub kind: GuardKind,
    /// Where the guard is applied (the decorator) or defined (the hook).
    pub loc: Loc,
    pub principals: Vec<Principal>,
    /// The guard's own facts (its checks and what they read).
    pub facts: Facts,
}

#[derive(Debug, Clone)]
pub struct View<'a> {
    pub module: ModuleId,
    pub function: &'a StmtFunctionDef,
    pub class: Option<&'a StmtClassDef>,
    /// `module.function` or `module.Class.method`.
    pub qualname: String,
}

/// A request value that selects the object a data access reaches.
#[derive(Debug, Clone)]
pub struct ObjectRef {
    pub source: RequestSource,
    pub field: Option<String>,
    pub access: AccessKind,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct Route<'a> {
    pub methods: Vec<String>,
    pub rule: String,
    pub params: Vec<PathParam>,
    pub view: View<'a>,
    /// Where the route is declared (decorator, `add_url_rule`, `add_resource`).
    pub declared: Loc,
    pub guards: Vec<Guard>,
    /// The view's own facts: inline checks, accesses, reads and writes.
    pub facts: Facts,
    pub principals: Vec<Principal>,
    pub object_refs: Vec<ObjectRef>,
    /// The app or blueprint names the route is served under, outermost first.
    pub mounted_on: Vec<String>,
}

/// A code path that mutates shared state.
#[derive(Debug, Clone)]
pub struct Mutation {
    pub loc: Loc,
    pub kind: crate::facts::WriteKind,
    /// `module.function` that performs it, or `None` at import time.
    pub function: Option<String>,
    /// Routes (`METHOD rule`) whose requests reach it.
    pub routes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SharedState {
    pub state: StateRef,
    pub qualname: String,
    pub defined: Loc,
    pub mutations: Vec<Mutation>,
}

pub struct AppModel<'a> {
    pub routes: Vec<Route<'a>>,
    pub shared_state: Vec<SharedState>,
}

/// Parses `<int:id>`, `<path:p>`, `<id>` and `<any(a, b):x>` variables of a rule.
pub fn path_params(rule: &str) -> Vec<PathParam> {
    let mut out = Vec::new();
    let mut rest = rule;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let inner = &rest[start + 1..start + end];
        let (converter, name) = match inner.rfind(':') {
            Some(colon) => (&inner[..colon], &inner[colon + 1..]),
            None => ("default", inner),
        };
        let converter = converter.split('(').next().unwrap_or(converter).trim();
        out.push(PathParam {
            name: name.trim().to_string(),
            converter: converter.to_string(),
        });
        rest = &rest[start + end + 1..];
    }
    out
}

impl<'a> AppModel<'a> {
    pub fn build(project: &'a Project, index: &Index<'a>) -> AppModel<'a> {
        let structure = discover(index);
        let mut analyzer = Analyzer::new(index);
        let mut routes = Vec::new();
        for decl in &structure.routes {
            build_routes(index, &structure, &mut analyzer, decl, &mut routes);
        }
        routes.sort_by(|a, b| (&a.rule, &a.methods).cmp(&(&b.rule, &b.methods)));
        routes.dedup_by(|a, b| {
            a.rule == b.rule
                && a.methods == b.methods
                && a.view.module == b.view.module
                && a.view.qualname == b.view.qualname
        });
        let shared_state = shared_state(project, index, &mut analyzer, &routes);
        AppModel {
            routes,
            shared_state,
        }
    }
}

fn qualname(
    index: &Index<'_>,
    module: ModuleId,
    class: Option<&StmtClassDef>,
    function: &StmtFunctionDef,
) -> String {
    let module_name = index.project.module_name(module);
    match class {
        Some(class) => format!(
            "{module_name}.{}.{}",
            class.name.as_str(),
            function.name.as_str()
        ),
        None => format!("{module_name}.{}", function.name.as_str()),
    }
}

/// One handler of a route: (methods, module, function, class, the decorator
/// expressions that apply to it).
type Handler<'a> = (
    Vec<String>,
    ModuleId,
    &'a StmtFunctionDef,
    Option<&'a StmtClassDef>,
    Vec<&'a Expr>,
);

fn build_routes<'a>(
    index: &Index<'a>,
    structure: &FlaskStructure<'a>,
    analyzer: &mut Analyzer<'a, '_>,
    decl: &RouteDecl<'a>,
    out: &mut Vec<Route<'a>>,
) {
    let mut targets: Vec<Handler<'a>> = Vec::new();
    match decl.view {
        ViewDecl::Function { module, function } => {
            let methods = decl
                .methods
                .clone()
                .unwrap_or_else(|| vec!["GET".to_string()]);
            let decorators = function
                .decorator_list
                .iter()
                .map(|d| &d.expression)
                .collect();
            targets.push((methods, module, function, None, decorators));
        }
        ViewDecl::Class { module, class } => {
            let methods = decl
                .methods
                .clone()
                .unwrap_or_else(|| class_methods(index, module, class));
            let class_decorators: Vec<&'a Expr> = class_attribute(class, "decorators")
                .map(list_elements)
                .unwrap_or_default();
            let method_decorators = class_attribute(class, "method_decorators");
            for method in methods {
                let lower = method.to_ascii_lowercase();
                let (handler_module, handler_class, handler) =
                    match find_method(index, module, class, &lower)
                        .or_else(|| find_method(index, module, class, "dispatch_request"))
                    {
                        Some(found) => found,
                        None => continue,
                    };
                let mut decorators: Vec<&'a Expr> = class_decorators.clone();
                match method_decorators {
                    Some(Expr::Dict(dict)) => {
                        for item in &dict.items {
                            if item.key.as_ref().and_then(crate::facts::string_literal)
                                == Some(lower.as_str())
                            {
                                decorators.extend(list_elements(&item.value));
                            }
                        }
                    }
                    Some(other) => decorators.extend(list_elements(other)),
                    None => {}
                }
                decorators.extend(handler.decorator_list.iter().map(|d| &d.expression));
                targets.push((
                    vec![method],
                    handler_module,
                    handler,
                    Some(handler_class),
                    decorators,
                ));
            }
        }
    }
    let mounts = structure.mounts(decl.owner);
    for (prefix, chain) in mounts {
        let rule = crate::flask::join_rule(&prefix, &decl.rule);
        let rule = if rule.is_empty() {
            "/".to_string()
        } else {
            rule
        };
        let mounted_on: Vec<String> = chain
            .iter()
            .rev()
            .map(|&id| {
                let o = &structure.objects[id];
                o.label.clone().unwrap_or_else(|| o.var.clone())
            })
            .collect();
        // Hooks of every object in the chain, and app-wide hooks.
        let hooks: Vec<_> = structure
            .hooks
            .iter()
            .filter(|h| h.app_wide || chain.contains(&h.owner))
            .collect();
        for (methods, module, function, class, decorators) in &targets {
            let mut guards = Vec::new();
            for hook in &hooks {
                let facts = analyzer.summary(hook.module, hook.function, None);
                if facts.refuses {
                    guards.push(Guard {
                        name: hook.function.name.as_str().to_string(),
                        kind: GuardKind::BeforeRequest,
                        loc: index.loc(hook.module, &hook.function.name),
                        principals: unique_principals(&facts),
                        facts,
                    });
                }
            }
            for decorator in decorators {
                if let Some(guard) = decorator_guard(index, analyzer, *module, decorator) {
                    guards.push(guard);
                }
            }
            let facts = analyzer.facts(*module, function, *class, ParamMode::View);
            let mut methods = methods.clone();
            methods.sort();
            let view = View {
                module: *module,
                function,
                class: *class,
                qualname: qualname(index, *module, *class, function),
            };
            let make = |methods: Vec<String>, facts: Facts, guards: Vec<Guard>| {
                route_of(
                    methods,
                    &rule,
                    view.clone(),
                    decl.loc,
                    guards,
                    facts,
                    &mounted_on,
                )
            };
            // A view (or a guard) that branches on `request.method` makes one route per
            // method: what GET checks does not protect what PUT does, and a guard that
            // lets reads through does not guard them.
            let branches =
                facts.branches_on_method() || guards.iter().any(|g| g.facts.branches_on_method());
            if methods.len() > 1 && branches {
                for method in &methods {
                    out.push(make(
                        vec![method.clone()],
                        facts.for_method(method),
                        guards_for(&guards, method),
                    ));
                }
            } else {
                let guards = match methods.as_slice() {
                    [only] => guards_for(&guards, only),
                    _ => guards,
                };
                out.push(make(methods, facts, guards));
            }
        }
    }
    let _ = ObjKind::App;
}

fn list_elements(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::List(l) => l.elts.iter().collect(),
        Expr::Tuple(t) => t.elts.iter().collect(),
        _ => Vec::new(),
    }
}

fn find_method<'a>(
    index: &Index<'a>,
    module: ModuleId,
    class: &'a StmtClassDef,
    name: &str,
) -> Option<(ModuleId, &'a StmtClassDef, &'a StmtFunctionDef)> {
    if let Some(Member::Function(f)) = class_member(class, name) {
        return Some((module, class, f));
    }
    for base in index.class_ancestry(module, class) {
        if let Resolved::Project(Binding::Class(m, c)) = base {
            if let Some(Member::Function(f)) = class_member(c, name) {
                return Some((m, c, f));
            }
        }
    }
    None
}

fn route_of<'a>(
    methods: Vec<String>,
    rule: &str,
    view: View<'a>,
    declared: Loc,
    guards: Vec<Guard>,
    facts: Facts,
    mounted_on: &[String],
) -> Route<'a> {
    let mut principals: Vec<Principal> = guards
        .iter()
        .flat_map(|g| g.principals.iter().cloned())
        .collect();
    principals.extend(unique_principals(&facts));
    principals.sort();
    principals.dedup();
    let mut object_refs = Vec::new();
    for access in &facts.accesses {
        for origin in access.args.iter() {
            if let Origin::Request { source, field } = origin {
                object_refs.push(ObjectRef {
                    source: *source,
                    field: field.clone(),
                    access: access.kind.clone(),
                    loc: access.loc,
                });
            }
        }
    }
    Route {
        methods,
        rule: rule.to_string(),
        params: path_params(rule),
        view,
        declared,
        guards,
        facts,
        principals,
        object_refs,
        mounted_on: mounted_on.to_vec(),
    }
}

/// The guards that run for `method`: one that branches on the method keeps the facts
/// of that method only, and is no guard at all for a method it lets through unchecked.
fn guards_for(guards: &[Guard], method: &str) -> Vec<Guard> {
    guards
        .iter()
        .filter_map(|guard| {
            if !guard.facts.branches_on_method() {
                return Some(guard.clone());
            }
            let facts = guard.facts.for_method(method);
            if facts.checks.is_empty() {
                return None;
            }
            Some(Guard {
                principals: unique_principals(&facts),
                facts,
                ..guard.clone()
            })
        })
        .collect()
}

fn unique_principals(facts: &Facts) -> Vec<Principal> {
    let mut out: Vec<Principal> = facts.principals.iter().map(|(p, _)| p.clone()).collect();
    out.sort();
    out.dedup();
    out
}

/// Well-known guard decorators of auth libraries, by the last part of their name.
fn library_guard(qualified: &str) -> Option<Principal> {
    let last = qualified
        .trim_end_matches("()")
        .rsplit('.')
        .next()
        .unwrap_or("");
    match last {
        "login_required"
        | "fresh_login_required"
        | "roles_required"
        | "roles_accepted"
        | "permissions_required"
        | "auth_required" => Some(Principal::CurrentUser),
        "jwt_required" | "fresh_jwt_required" | "jwt_optional" | "verify_jwt_in_request" => {
            Some(Principal::JwtIdentity)
        }
        _ => None,
    }
}

fn decorator_guard<'a>(
    index: &Index<'a>,
    analyzer: &mut Analyzer<'a, '_>,
    module: ModuleId,
    decorator: &Expr,
) -> Option<Guard> {
    let name = decorator_name(decorator);
    let callee = match decorator {
        Expr::Call(call) => &*call.func,
        other => other,
    };
    let loc = index.loc(module, decorator);
    match index.resolve_expr(module, callee) {
        Some(Resolved::Project(Binding::Function(m, function))) => {
            let facts = analyzer.summary(m, function, None);
            if facts.refuses || !facts.checks.is_empty() {
                return Some(Guard {
                    name,
                    kind: GuardKind::Decorator,
                    loc,
                    principals: unique_principals(&facts),
                    facts,
                });
            }
            None
        }
        Some(Resolved::External(qualified)) => library_guard(&qualified).map(|principal| Guard {
            name,
            kind: GuardKind::Library,
            loc,
            principals: vec![principal],
            facts: Facts::default(),
        }),
        // `auth.login_required` on a project-level flask-httpauth object.
        _ => {
            let last = crate::facts::last_name(callee)?;
            // Permission decorators of auth libraries on project objects:
            // flask-allows `allows.requires(...)`, flask-principal, Flask-AppBuilder.
            if matches!(
                last,
                "requires"
                    | "permission_required"
                    | "has_permission"
                    | "has_access"
                    | "has_access_api"
                    | "protect"
            ) {
                return Some(Guard {
                    name,
                    kind: GuardKind::Library,
                    loc,
                    principals: vec![Principal::CurrentUser],
                    facts: Facts::default(),
                });
            }
            if last == "login_required" {
                return Some(Guard {
                    name,
                    kind: GuardKind::Library,
                    loc,
                    principals: vec![Principal::Authorization],
                    facts: Facts::default(),
                });
            }
            None
        }
    }
}

fn shared_state<'a>(
    project: &'a Project,
    index: &Index<'a>,
    analyzer: &mut Analyzer<'a, '_>,
    routes: &[Route<'a>],
) -> Vec<SharedState> {
    // Only modules that take part in the app: those that define or import Flask code
    // or define state a route reads. A tree with no Flask code costs nothing here.
    let mut relevant: Vec<ModuleId> = Vec::new();
    for (id, module) in project.modules() {
        let text = &project.file(module.file).text;
        if text.contains("flask") || text.contains("Flask") {
            relevant.push(id);
        }
    }
    let mut writes: Vec<(Write, Option<String>, ModuleId)> = Vec::new();
    for &module in &relevant {
        let index_module = index.module(module);
        for stmt in &index_module.top_level {
            match stmt {
                Stmt::FunctionDef(f) => {
                    let facts = analyzer.summary(module, f, None);
                    let name = qualname(index, module, None, f);
                    writes.extend(
                        facts
                            .writes
                            .into_iter()
                            .map(|w| (w, Some(name.clone()), module)),
                    );
                }
                Stmt::ClassDef(c) => {
                    for inner in &c.body {
                        if let Stmt::FunctionDef(f) = inner {
                            let facts = analyzer.summary(module, f, Some(c));
                            let name = qualname(index, module, Some(c), f);
                            writes.extend(
                                facts
                                    .writes
                                    .into_iter()
                                    .map(|w| (w, Some(name.clone()), module)),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut states: FxHashMap<StateRef, SharedState> = FxHashMap::default();
    let ensure = |state: &StateRef, states: &mut FxHashMap<StateRef, SharedState>| {
        if states.contains_key(state) {
            return;
        }
        let Some(value) = index
            .module(state.module)
            .variables
            .get(state.name.as_str())
        else {
            return;
        };
        if !is_container_value(index, state.module, value) {
            return;
        }
        states.insert(
            state.clone(),
            SharedState {
                state: state.clone(),
                qualname: format!("{}.{}", project.module_name(state.module), state.name),
                defined: index.loc(state.module, *value),
                mutations: Vec::new(),
            },
        );
    };
    for route in routes {
        for (state, _) in &route.facts.shared_reads {
            ensure(state, &mut states);
        }
        for guard in &route.guards {
            for (state, _) in &guard.facts.shared_reads {
                ensure(state, &mut states);
            }
        }
    }
    for (write, function, function_module) in &writes {
        ensure(&write.state, &mut states);
        let Some(entry) = states.get_mut(&write.state) else {
            continue;
        };
        let routes_reaching: Vec<String> = routes
            .iter()
            .filter(|r| {
                r.view.module == *function_module && Some(&r.view.qualname) == function.as_ref()
            })
            .map(|r| format!("{} {}", r.methods.join(","), r.rule))
            .collect();
        if !entry.mutations.iter().any(|m| m.loc == write.loc) {
            entry.mutations.push(Mutation {
                loc: write.loc,
                kind: write.kind,
                function: function.clone(),
                routes: routes_reaching,
            });
        }
    }
    let mut out: Vec<SharedState> = states.into_values().collect();
    out.sort_by(|a, b| a.qualname.cmp(&b.qualname));
    for state in &mut out {
        state
            .mutations
            .sort_by_key(|m| (m.loc.file, m.loc.range.start()));
    }
    let _ = |e: &Expr| e.range();
    out
}
