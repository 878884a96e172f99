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
