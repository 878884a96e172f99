//! Small helpers shared by the route rules: labels and related locations.

use tocsin_diagnostics::Finding;
use tocsin_python::model::Route;
use tocsin_python::Loc;

use crate::Context;

pub fn label(route: &Route<'_>) -> String {
    format!("{} {}", route.methods.join(","), route.rule)
}

pub fn line(ctx: &Context<'_>, loc: Loc) -> u32 {
    ctx.project.file(loc.file).line_col(loc.range.start()).line
}

pub fn with_related(
    ctx: &Context<'_>,
    finding: Finding,
    loc: Loc,
    message: impl Into<String>,
) -> Finding {
    finding.with_related(ctx.location(loc), message)
}

/// Routes whose view lives in `module` (each rule reports a route once, from the
/// module of its view).
pub fn routes_in<'m, 'a>(
    ctx: &'m Context<'a>,
    module: usize,
) -> impl Iterator<Item = &'m Route<'a>> {
    ctx.model
        .routes
        .iter()
        .filter(move |r| r.view.module == module)
}
