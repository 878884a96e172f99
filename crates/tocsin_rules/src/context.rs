//! What a rule sees: the project, its semantic index, the app model and the settings.

use std::path::PathBuf;

use rustc_hash::FxHashSet;
use tocsin_diagnostics::{Finding, Location, Position, RuleMeta, SourceSpan};
use tocsin_python::{AppModel, Index, Loc, Project};

/// Rule options, from `[tool.tocsin]` / `tocsin.toml`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// KEY003: literals containing one of these words are placeholders in test files.
    pub placeholders: Vec<String>,
    /// JWT002: longest acceptable token lifetime, in seconds.
    pub max_token_lifetime_seconds: u64,
    /// Files the user's configuration marks as tests (KEY003 placeholders).
    pub test_files: FxHashSet<usize>,
    /// Routes public by design (`"/public/*"`, `"GET /health"`): BOLA001 skips them.
    pub public_routes: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            placeholders: [
                "changeme",
                "change-me",
                "change_me",
                "placeholder",
                "dummy",
                "example",
                "fake",
                "test",
                "testing",
                "xxx",
                "not-a-secret",
                "secret",
                "dev",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            max_token_lifetime_seconds: 3600,
            test_files: FxHashSet::default(),
            public_routes: Vec::new(),
        }
    }
}

pub struct Context<'a> {
    pub project: &'a Project,
    pub index: &'a Index<'a>,
    pub model: &'a AppModel<'a>,
    pub settings: &'a Settings,
    /// Resources that belong to someone (computed once, on first use).
    pub owned: std::sync::OnceLock<FxHashSet<String>>,
    /// Whether any scanned file uses Flask: the request-flow rules have nothing to
    /// say about a tree without it (computed once, on first use).
    flask: std::sync::OnceLock<bool>,
}

impl<'a> Context<'a> {
    pub fn new(
        project: &'a Project,
        index: &'a Index<'a>,
        model: &'a AppModel<'a>,
        settings: &'a Settings,
    ) -> Self {
        Context {
            project,
            index,
            model,
            settings,
            owned: std::sync::OnceLock::new(),
            flask: std::sync::OnceLock::new(),
        }
    }

    pub fn is_flask_project(&self) -> bool {
        *self.flask.get_or_init(|| {
            !self.model.routes.is_empty()
                || self
                    .project
                    .files()
                    .iter()
                    .any(|f| f.text.contains("import flask") || f.text.contains("from flask"))
        })
    }
}

impl Context<'_> {
    pub fn path(&self, file: usize) -> PathBuf {
        self.project.file(file).path.clone()
    }

    pub fn location(&self, loc: Loc) -> Location {
        let file = self.project.file(loc.file);
        let start = file.line_col(loc.range.start());
        let end = file.line_col(loc.range.end());
        Location::Source(SourceSpan {
            path: file.path.clone(),
            start: Position {
                line: start.line,
                column: start.column,
            },
            end: Position {
                line: end.line,
                column: end.column,
            },
        })
    }

    pub fn finding(&self, meta: &RuleMeta, loc: Loc, message: impl Into<String>) -> Finding {
        Finding::new(meta.code, meta.severity, message, self.location(loc))
    }

    pub fn text(&self, loc: Loc) -> &str {
        self.project.file(loc.file).slice(loc.range)
    }
}
