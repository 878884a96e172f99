//! Configuration: `tocsin.toml`, or `[tool.tocsin]` in `pyproject.toml`, found from the
//! current directory upwards, merged with the command line (flags win).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub select: Vec<String>,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Glob → codes ignored in matching files.
    #[serde(default)]
    pub per_file_ignores: std::collections::BTreeMap<String, Vec<String>>,
    /// Globs of test files (KEY003 allows placeholders there).
    #[serde(default)]
    pub test_paths: Option<Vec<String>>,
    /// KEY003 placeholder words allowed in test files.
    #[serde(default)]
    pub placeholders: Option<Vec<String>>,
    /// Routes public by design (globs on the URL rule, optionally with a method):
    /// BOLA001 does not report them.
    #[serde(default)]
    pub public_routes: Vec<String>,
    /// JWT002 bound on token lifetime, in seconds.
    #[serde(default)]
    pub max_token_lifetime: Option<u64>,
}

#[derive(Deserialize)]
struct Pyproject {
    tool: Option<PyprojectTool>,
}

#[derive(Deserialize)]
struct PyprojectTool {
    tocsin: Option<toml::Value>,
}

pub const DEFAULT_TEST_PATHS: &[&str] = &[
    "**/tests/**",
    "**/test/**",
    "**/testing/**",
    "**/test_*.py",
    "**/*_test.py",
    "**/tests.py",
    "**/conftest.py",
];

/// Finds and reads the configuration. Returns the config and the file it came from.
pub fn load(explicit: Option<&Path>, isolated: bool) -> Result<(FileConfig, Option<PathBuf>)> {
    if isolated {
        return Ok((FileConfig::default(), None));
    }
    if let Some(path) = explicit {
        return Ok((read(path)?.unwrap_or_default(), Some(path.to_path_buf())));
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    for dir in cwd.ancestors() {
        for name in ["tocsin.toml", "pyproject.toml"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                if let Some(config) = read(&candidate)? {
                    return Ok((config, Some(candidate)));
                }
            }
        }
    }
    Ok((FileConfig::default(), None))
}

fn read(path: &Path) -> Result<Option<FileConfig>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
    if is_pyproject {
        let parsed: Pyproject =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let Some(value) = parsed.tool.and_then(|t| t.tocsin) else {
            return Ok(None);
        };
        let config: FileConfig = value
            .try_into()
            .with_context(|| format!("invalid [tool.tocsin] in {}", path.display()))?;
        return Ok(Some(config));
    }
    let config: FileConfig =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Some(config))
}

/// Does `code` match a selector (a full code or a prefix like `KEY`)?
pub fn matches_selector(code: &str, selector: &str) -> bool {
    let selector = selector.trim();
    !selector.is_empty()
        && (selector.eq_ignore_ascii_case("ALL")
            || code
                .to_ascii_uppercase()
                .starts_with(&selector.to_ascii_uppercase()))
}

/// Checks that every selector names at least one known rule.
pub fn validate_selectors(selectors: &[String], known: &[&str]) -> Result<()> {
    for selector in selectors {
        if !known.iter().any(|code| matches_selector(code, selector)) {
            bail!("unknown rule selector `{selector}` (see `tocsin rules`)");
        }
    }
    Ok(())
}
