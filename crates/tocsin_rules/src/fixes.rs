//! Building blocks of mechanical fixes: byte-range edits, and adding an import.

use ruff_python_ast::{Expr, Stmt};
use ruff_text_size::Ranged;
use tocsin_diagnostics::Edit;
use tocsin_python::project::ModuleId;

use crate::Context;

pub fn edit(
    ctx: &Context<'_>,
    module: ModuleId,
    start: usize,
    end: usize,
    replacement: impl Into<String>,
) -> Edit {
    let file = ctx.project.file(ctx.project.module(module).file);
    Edit {
        path: file.path.clone(),
        start,
        end,
        replacement: replacement.into(),
    }
}

/// How code in `module` can call `module_name.function` (e.g. `hmac.compare_digest`):
/// the expression to use and, when the module lacks the import, the edit adding it.
pub fn import_for(
    ctx: &Context<'_>,
    module: ModuleId,
    module_name: &str,
    function: &str,
) -> (String, Option<Edit>) {
    let qualified = format!("{module_name}.{function}");
    let index = ctx.index.module(module);
    // Already importable under some name?
    for stmt in &index.top_level {
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    if alias.name.as_str() == module_name {
                        let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                        return (format!("{bound}.{function}"), None);
                    }
                }
            }
            Stmt::ImportFrom(import)
                if import.level == 0
                    && import
                        .module
                        .as_ref()
                        .is_some_and(|m| m.as_str() == module_name) =>
            {
                for alias in &import.names {
                    if alias.name.as_str() == function {
                        let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                        return (bound.to_string(), None);
                    }
                }
            }
            _ => {}
        }
    }
    // Insert `import X` before the first import that is not `from __future__`, or
    // after the module docstring, or at the top.
    let file = ctx.project.file(ctx.project.module(module).file);
    let Some(ast) = file.module() else {
        return (qualified, None);
    };
    let anchor = ast.body.iter().find(|s| match s {
        Stmt::Import(_) => true,
        Stmt::ImportFrom(i) => i.module.as_ref().is_none_or(|m| m.as_str() != "__future__"),
        _ => false,
    });
    let insertion = match anchor {
        Some(stmt) => edit(
            ctx,
            module,
            usize::from(stmt.start()),
            usize::from(stmt.start()),
            format!("import {module_name}\n"),
        ),
        None => {
            let after_docstring = ast.body.first().and_then(|s| match s {
                Stmt::Expr(e) if matches!(&*e.value, Expr::StringLiteral(_)) => {
                    Some(usize::from(s.end()))
                }
                _ => None,
            });
            match after_docstring {
                Some(end) => edit(ctx, module, end, end, format!("\nimport {module_name}")),
                None => edit(ctx, module, 0, 0, format!("import {module_name}\n")),
            }
        }
    };
    (qualified, Some(insertion))
}
