//! The code table: every rule, by code. A rule is enabled by its code.

use tocsin_diagnostics::{panic_message, Finding, RuleMeta};

use rayon::prelude::*;
use tocsin_python::project::ModuleId;

use crate::rules;
use crate::syntax::{walk, Many, SyntaxRule};
use crate::Context;

/// A rule checks one module at a time (and may consult the whole model through the
/// context); modules are checked in parallel.
pub struct RuleEntry {
    pub meta: &'static RuleMeta,
    pub check: fn(&Context<'_>, ModuleId, &mut Vec<Finding>),
    /// Rules that visit syntax also offer themselves as a visitor, so that one walk
    /// of each tree serves all of them.
    pub syntax: Option<MakeSyntaxRule>,
}

pub type MakeSyntaxRule =
    for<'c, 'a> fn(&'c Context<'a>, ModuleId) -> Option<Box<dyn SyntaxRule<'a> + 'c>>;

pub static RULES: &[RuleEntry] = &[
    RuleEntry {
        meta: &rules::key001::META,
        check: rules::key001::check,
        syntax: Some(rules::key001::syntax_rule),
    },
    RuleEntry {
        meta: &rules::key002::META,
        check: rules::key002::check,
        syntax: Some(rules::key002::syntax_rule),
    },
    RuleEntry {
        meta: &rules::key003::META,
        check: rules::key003::check,
        syntax: Some(rules::key003::syntax_rule),
    },
    RuleEntry {
        meta: &rules::jwt001::META,
        check: rules::jwt001::check,
        syntax: Some(rules::jwt001::syntax_rule),
    },
    RuleEntry {
        meta: &rules::jwt002::META,
        check: rules::jwt002::check,
        syntax: Some(rules::jwt002::syntax_rule),
    },
    RuleEntry {
        meta: &rules::toc001::META,
        check: rules::toc001::check,
        syntax: None,
    },
    RuleEntry {
        meta: &rules::toc002::META,
        check: rules::toc002::check,
        syntax: None,
    },
    RuleEntry {
        meta: &rules::toc003::META,
        check: rules::toc003::check,
        syntax: None,
    },
    RuleEntry {
        meta: &rules::toc004::META,
        check: rules::toc004::check,
        syntax: None,
    },
    RuleEntry {
        meta: &rules::toc005::META,
        check: rules::toc005::check,
        syntax: None,
    },
    RuleEntry {
        meta: &rules::toc006::META,
        check: rules::toc006::check,
        syntax: None,
    },
    RuleEntry {
        meta: &rules::bola001::META,
        check: rules::bola001::check,
        syntax: None,
    },
    RuleEntry {
        meta: &rules::bola002::META,
        check: rules::bola002::check,
        syntax: None,
    },
];

/// Rules whose findings are made outside the rule engine (by the driver), listed so
/// that they are documented, selectable and described in SARIF.
pub static DRIVER_RULES: &[&RuleMeta] = &[&rules::sup001::META];

pub fn rule_by_code(code: &str) -> Option<&'static RuleMeta> {
    all_rule_meta()
        .into_iter()
        .find(|m| m.code.eq_ignore_ascii_case(code))
}

pub fn all_rule_meta() -> Vec<&'static RuleMeta> {
    RULES
        .iter()
        .map(|r| r.meta)
        .chain(DRIVER_RULES.iter().copied())
        .collect()
}

/// Runs every rule `enabled` says yes to.
pub fn check_all(ctx: &Context<'_>, enabled: &(dyn Fn(&str) -> bool + Sync)) -> Vec<Finding> {
    let rules: Vec<&RuleEntry> = RULES.iter().filter(|r| enabled(r.meta.code)).collect();
    let modules: Vec<ModuleId> = ctx.project.modules().map(|(id, _)| id).collect();
    modules
        .par_iter()
        .flat_map_iter(|&module| check_module(ctx, &rules, module))
        .collect()
}

/// A module whose rules stopped on an internal error (a bug in tocsin).
#[derive(Debug, Clone)]
pub struct RuleFailure {
    pub module: ModuleId,
    pub message: String,
}

/// [`check_all`] for the command line: a panic while checking one module costs that
/// module's findings only. It comes back as a failure and every other module is still
/// checked. (The fuzz targets call [`check_all`], where a panic must surface.)
pub fn check_all_guarded(
    ctx: &Context<'_>,
    enabled: &(dyn Fn(&str) -> bool + Sync),
) -> (Vec<Finding>, Vec<RuleFailure>) {
    let rules: Vec<&RuleEntry> = RULES.iter().filter(|r| enabled(r.meta.code)).collect();
    let modules: Vec<ModuleId> = ctx.project.modules().map(|(id, _)| id).collect();
    guarded(&modules, |module| check_module(ctx, &rules, module))
}

/// Runs `check` on every module in parallel; a module whose check panics becomes a
/// failure instead of taking the run down.
fn guarded(
    modules: &[ModuleId],
    check: impl Fn(ModuleId) -> Vec<Finding> + Sync,
) -> (Vec<Finding>, Vec<RuleFailure>) {
    let outcomes: Vec<Result<Vec<Finding>, RuleFailure>> = modules
        .par_iter()
        .map(|&module| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(module))).map_err(
                |payload| RuleFailure {
                    module,
                    message: panic_message(payload.as_ref())
                        .unwrap_or("panic")
                        .to_string(),
                },
            )
        })
        .collect();
    let mut findings = Vec::new();
    let mut failures = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(found) => findings.extend(found),
            Err(failure) => failures.push(failure),
        }
    }
    (findings, failures)
}

fn check_module(ctx: &Context<'_>, rules: &[&RuleEntry], module: ModuleId) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut visitors = Vec::new();
    for rule in rules {
        match rule.syntax {
            Some(make) => visitors.extend(make(ctx, module)),
            None => (rule.check)(ctx, module, &mut out),
        }
    }
    if !visitors.is_empty() {
        if let Some(ast) = ctx.project.file(ctx.project.module(module).file).module() {
            let mut many = Many(visitors);
            walk(ast, module, &mut many);
            out.extend(many.take_findings());
        }
    }
    merge_method_splits(out)
}

/// A view that branches on the request method is one route per method in the model
/// (`tocsin_python::model`); a flaw several of those methods share is one finding
/// naming them all (`PUT,DELETE /notes/<int:id>`), not one per method.
fn merge_method_splits(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for finding in findings {
        let Some(route) = finding.route.clone() else {
            out.push(finding);
            continue;
        };
        let label = format!("{} {}", route.method, route.url);
        let shape = finding.message.replace(&label, "\u{0}");
        let twin = out.iter_mut().find(|prev| {
            prev.code == finding.code
                && prev.location == finding.location
                && prev.route.as_ref().is_some_and(|r| {
                    r.url == route.url
                        && r.method != route.method
                        && prev
                            .message
                            .replace(&format!("{} {}", r.method, r.url), "\u{0}")
                            == shape
                })
        });
        let Some(prev) = twin else {
            out.push(finding);
            continue;
        };
        if let Some(prev_route) = prev.route.as_mut() {
            let old_label = format!("{} {}", prev_route.method, prev_route.url);
            let mut methods: Vec<&str> = prev_route
                .method
                .split(',')
                .chain(route.method.split(','))
                .collect();
            methods.sort_unstable();
            methods.dedup();
            prev_route.method = methods.join(",");
            let new_label = format!("{} {}", prev_route.method, prev_route.url);
            prev.message = prev.message.replace(&old_label, &new_label);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_diagnostics::{Location, Position, Severity, SourceSpan};

    #[test]
    fn a_panicking_module_costs_only_its_own_findings() {
        let finding = |module: ModuleId| {
            Finding::new(
                "KEY001",
                Severity::Medium,
                format!("module {module}"),
                Location::Source(SourceSpan {
                    path: format!("m{module}.py").into(),
                    start: Position { line: 1, column: 1 },
                    end: Position { line: 1, column: 1 },
                }),
            )
        };
        let modules: Vec<ModuleId> = (0..8).collect();
        let (findings, failures) = guarded(&modules, |module| {
            if module == 3 {
                panic!("rule bug in module {module}");
            }
            vec![finding(module)]
        });
        assert_eq!(findings.len(), 7);
        assert!(findings.iter().all(|f| f.message != "module 3"));
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].module, 3);
        assert_eq!(failures[0].message, "rule bug in module 3");
    }
}
