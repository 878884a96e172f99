//! One analysis run shared by `check` and `routes`: discover, load and parse the
//! inputs, and build the project. Per-file problems become input errors.

use std::path::PathBuf;

use anyhow::Result;
use globset::GlobSet;
use tocsin_diagnostics::{InputError, Location, Position, SourceSpan};
use tocsin_python::Project;

use crate::args::InputArgs;
use crate::config::{self, FileConfig};
use crate::discovery;

pub struct Loaded {
    pub project: Project,
    pub errors: Vec<InputError>,
    pub config: FileConfig,
}

pub fn load(input: &InputArgs) -> Result<Loaded> {
    let (config, _) = config::load(input.config.as_deref(), input.isolated)?;
    let mut excludes = config.exclude.clone();
    excludes.extend(input.exclude.iter().cloned());
    let exclude: GlobSet = discovery::build_globset(&excludes)?;
    let paths: Vec<PathBuf> = input.paths.clone();
    let (files, mut errors) = discovery::discover(&paths, &exclude);
    let (sources, load_errors) = discovery::load(files);
    errors.extend(load_errors);
    for source in &sources {
        if let Some(syntax) = &source.syntax_error {
            let start = source.line_col(syntax.range.start());
            let end = source.line_col(syntax.range.end());
            errors.push(InputError {
                code: "E001".to_string(),
                location: Location::Source(SourceSpan {
                    path: source.path.clone(),
                    start: Position {
                        line: start.line,
                        column: start.column,
                    },
                    end: Position {
                        line: end.line,
                        column: end.column,
                    },
                }),
                message: format!("syntax error: {}", syntax.message),
            });
        }
    }
    Ok(Loaded {
        project: Project::new(sources),
        errors,
        config,
    })
}

/// Rule settings from the configuration: placeholders, token lifetime, public
/// routes, and which files are tests.
pub fn settings(loaded: &Loaded) -> Result<tocsin_rules::Settings> {
    let config = &loaded.config;
    let test_globs: Vec<String> = config.test_paths.clone().unwrap_or_else(|| {
        config::DEFAULT_TEST_PATHS
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    let test_set = discovery::build_globset(&test_globs)?;
    let mut settings = tocsin_rules::Settings::default();
    if let Some(placeholders) = &config.placeholders {
        settings.placeholders = placeholders.clone();
    }
    settings.public_routes = config.public_routes.clone();
    if let Some(max) = config.max_token_lifetime {
        settings.max_token_lifetime_seconds = max;
    }
    settings.test_files = loaded
        .project
        .files()
        .iter()
        .enumerate()
        .filter(|(_, f)| test_set.is_match(&f.path))
        .map(|(i, _)| i)
        .collect();
    Ok(settings)
}

/// Modules whose rules stopped on an internal error, as `E005` input errors: the rest
/// of the run, and the findings of every other module, are kept.
pub fn rule_failures(
    project: &Project,
    failures: Vec<tocsin_rules::RuleFailure>,
) -> Vec<InputError> {
    failures
        .into_iter()
        .map(|failure| {
            let path = &project.file(project.module(failure.module).file).path;
            discovery::path_error(
                path,
                "E005",
                format!(
                    "internal error while checking {} (a bug in tocsin; its findings are missing): {}",
                    path.display(),
                    failure.message
                ),
            )
        })
        .collect()
}
