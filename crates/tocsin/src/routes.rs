//! `tocsin routes`: the app model, route by route, as a table or JSON.

use std::io::Write;

use anyhow::{Context as _, Result};
use serde::Serialize;
use tocsin_python::facts::{Principal, RequestSource};
use tocsin_python::model::{GuardKind, PathParam};
use tocsin_python::{AppModel, Index, Loc, Project};

use crate::analysis;
use crate::args::{RoutesArgs, TableFormat};
use crate::output::Output;
use crate::ExitStatus;

#[derive(Serialize)]
struct Place {
    path: String,
    line: u32,
    column: u32,
}

#[derive(Serialize)]
struct GuardOut {
    name: String,
    kind: GuardKind,
    at: Place,
    principals: Vec<String>,
}

#[derive(Serialize)]
struct ObjectRefOut {
    source: RequestSource,
    field: Option<String>,
    access: String,
    at: Place,
}

#[derive(Serialize)]
struct CheckOut {
    at: Place,
    reads: Vec<String>,
}

#[derive(Serialize)]
struct RouteOut {
    methods: Vec<String>,
    rule: String,
    params: Vec<PathParam>,
    view: String,
    at: Place,
    declared: Place,
    mounted_on: Vec<String>,
    guards: Vec<GuardOut>,
    inline_checks: Vec<CheckOut>,
    principals: Vec<String>,
    object_refs: Vec<ObjectRefOut>,
}

#[derive(Serialize)]
struct MutationOut {
    at: Place,
    function: Option<String>,
    routes: Vec<String>,
}

#[derive(Serialize)]
struct StateOut {
    name: String,
    defined: Place,
    mutations: Vec<MutationOut>,
}

#[derive(Serialize)]
struct ModelOut {
    routes: Vec<RouteOut>,
    shared_state: Vec<StateOut>,
}

fn place(project: &Project, loc: Loc) -> Place {
    let file = project.file(loc.file);
    let at = file.line_col(loc.range.start());
    Place {
        path: file.path.to_string_lossy().replace('\\', "/"),
        line: at.line,
        column: at.column,
    }
}

fn describe_reads(check: &tocsin_python::facts::Check) -> Vec<String> {
    use tocsin_python::facts::Origin;
    check
        .reads
        .iter()
        .filter_map(|o| match o {
            Origin::Request { source, field } => Some(format!(
                "{}{}",
                source.as_str(),
                field.as_ref().map(|f| format!("[{f}]")).unwrap_or_default()
            )),
            Origin::Principal(p) => Some(p.to_string()),
            Origin::Shared(s) => Some(format!("state {}", s.name)),
            Origin::Db(m) => Some(format!("db {m}")),
            Origin::DbField(m, f) => Some(format!("db {m}.{f}")),
            Origin::Cache(c) => Some(format!("cache {c}")),
            Origin::Param(_) => None,
        })
        .collect()
}

fn access_text(kind: &tocsin_python::facts::AccessKind) -> String {
    use tocsin_python::facts::AccessKind;
    match kind {
        AccessKind::Orm { model, method } => format!("{model}.{method}"),
        AccessKind::Sql => "sql".to_string(),
        AccessKind::Index { container } => format!("{container}[...]"),
        AccessKind::File { call } => format!("{call}()"),
        AccessKind::Helper { name } => format!("{name}()"),
    }
}

fn build(project: &Project, model: &AppModel<'_>) -> ModelOut {
    let routes = model
        .routes
        .iter()
        .map(|route| {
            let view_loc = Loc {
                file: project.module(route.view.module).file,
                range: route.view.function.name.range,
            };
            let mut object_refs: Vec<ObjectRefOut> = route
                .object_refs
                .iter()
                .map(|r| ObjectRefOut {
                    source: r.source,
                    field: r.field.clone(),
                    access: access_text(&r.access),
                    at: place(project, r.loc),
                })
                .collect();
            object_refs.dedup_by(|a, b| {
                a.field == b.field && a.access == b.access && a.at.line == b.at.line
            });
            RouteOut {
                methods: route.methods.clone(),
                rule: route.rule.clone(),
                params: route.params.clone(),
                view: route.view.qualname.clone(),
                at: place(project, view_loc),
                declared: place(project, route.declared),
                mounted_on: route.mounted_on.clone(),
                guards: route
                    .guards
                    .iter()
                    .map(|g| GuardOut {
                        name: g.name.clone(),
                        kind: g.kind,
                        at: place(project, g.loc),
                        principals: g.principals.iter().map(Principal::to_string).collect(),
                    })
                    .collect(),
                inline_checks: route
                    .facts
                    .checks
                    .iter()
                    .map(|c| CheckOut {
                        at: place(project, c.loc),
                        reads: describe_reads(c),
                    })
                    .collect(),
                principals: route.principals.iter().map(Principal::to_string).collect(),
                object_refs,
            }
        })
        .collect();
    let shared_state = model
        .shared_state
        .iter()
        .map(|s| StateOut {
            name: s.qualname.clone(),
            defined: place(project, s.defined),
            mutations: s
                .mutations
                .iter()
                .map(|m| MutationOut {
                    at: place(project, m.loc),
                    function: m.function.clone(),
                    routes: m.routes.clone(),
                })
                .collect(),
        })
        .collect();
    ModelOut {
        routes,
        shared_state,
    }
}

pub fn run(args: &RoutesArgs) -> Result<ExitStatus> {
    let loaded = analysis::load(&args.input)?;
    let project = &loaded.project;
    let index = Index::build(project);
    let model = AppModel::build(project, &index);
    let out = build(project, &model);
    let mut output = Output::open(args.output.as_deref())?;
    let w = output.writer();
    match args.format {
        TableFormat::Json => {
            serde_json::to_writer_pretty(&mut *w, &out).context("writing JSON")?;
            writeln!(w)?;
        }
        TableFormat::Table => write_table(w, &out)?,
    }
    for error in &loaded.errors {
        eprintln!("{}: {} {}", error.location, error.code, error.message);
    }
    output.commit()?;
    if project.files().is_empty() && !loaded.errors.is_empty() {
        return Ok(ExitStatus::Error);
    }
    Ok(ExitStatus::Clean)
}

fn write_table(w: &mut dyn Write, model: &ModelOut) -> Result<()> {
    if model.routes.is_empty() {
        writeln!(w, "No Flask routes found.")?;
    }
    let method_width = model
        .routes
        .iter()
        .map(|r| r.methods.join(",").len())
        .max()
        .unwrap_or(7)
        .max(7);
    let rule_width = model
        .routes
        .iter()
        .map(|r| r.rule.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    if !model.routes.is_empty() {
        writeln!(
            w,
            "{:method_width$}  {:rule_width$}  {:40}  GUARDS",
            "METHODS", "RULE", "VIEW"
        )?;
    }
    for route in &model.routes {
        let guards: Vec<String> = route.guards.iter().map(|g| g.name.clone()).collect();
        let guards = if guards.is_empty() {
            "-".to_string()
        } else {
            guards.join(", ")
        };
        let view = format!("{} ({}:{})", route.view, route.at.path, route.at.line);
        writeln!(
            w,
            "{:method_width$}  {:rule_width$}  {:40}  {guards}",
            route.methods.join(","),
            route.rule,
            view
        )?;
        if !route.principals.is_empty() {
            writeln!(
                w,
                "{:method_width$}  {:rule_width$}  principal: {}",
                "",
                "",
                route.principals.join(", ")
            )?;
        }
        for check in &route.inline_checks {
            writeln!(
                w,
                "{:method_width$}  {:rule_width$}  check at {}:{} on {}",
                "",
                "",
                check.at.path,
                check.at.line,
                if check.reads.is_empty() {
                    "-".to_string()
                } else {
                    check.reads.join(", ")
                }
            )?;
        }
        for r in &route.object_refs {
            writeln!(
                w,
                "{:method_width$}  {:rule_width$}  object: {}{} -> {} at {}:{}",
                "",
                "",
                r.source.as_str(),
                r.field
                    .as_ref()
                    .map(|f| format!("[{f}]"))
                    .unwrap_or_default(),
                r.access,
                r.at.path,
                r.at.line
            )?;
        }
    }
    if !model.shared_state.is_empty() {
        writeln!(w)?;
        writeln!(w, "SHARED STATE")?;
        for state in &model.shared_state {
            writeln!(
                w,
                "{} ({}:{})",
                state.name, state.defined.path, state.defined.line
            )?;
            for m in &state.mutations {
                let by = m
                    .function
                    .clone()
                    .unwrap_or_else(|| "<import time>".to_string());
                let routes = if m.routes.is_empty() {
                    String::new()
                } else {
                    format!(" via {}", m.routes.join("; "))
                };
                writeln!(
                    w,
                    "  mutated at {}:{} in {by}{routes}",
                    m.at.path, m.at.line
                )?;
            }
        }
    }
    Ok(())
}
