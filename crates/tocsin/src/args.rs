//! Command-line arguments, as parsed; validated into settings by `config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "tocsin",
    version,
    about = "Finds and proves TOCTOU, broken object-level authorization and API-key flaws in Flask APIs.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse Python sources (no execution) and report findings.
    Check(CheckArgs),
    /// Print the app model: every route with its methods, full rule, view, guards,
    /// principal source and object references.
    Routes(RoutesArgs),
    /// List all rules.
    Rules(RulesArgs),
    /// Print one rule's documentation.
    Rule {
        /// Rule code, e.g. KEY001.
        code: String,
    },
    /// Print a shell completion script.
    ///
    /// For example: `tocsin completions bash > ~/.local/share/bash-completion/completions/tocsin`,
    /// `tocsin completions zsh > ~/.zfunc/_tocsin`, `tocsin completions fish >
    /// ~/.config/fish/completions/tocsin.fish`.
    Completions {
        /// Shell to generate completions for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Static candidates confirmed or refuted against the running app: `--run "CMD"`
    /// starts it on a free loopback port (and always stops it), `--url` uses one that
    /// is already running.
    Scan(crate::scan::ScanArgs),
    /// Run live authorization experiments against an API you own: auth matrix,
    /// cross-identity object access, revoked keys, and synchronized races.
    Probe(crate::probe::ProbeCommand),
    /// Release N copies of one request together (last-byte sync on HTTP/1.1,
    /// single-packet on HTTP/2) and print the outcome groups and the release spread.
    Race(tocsin_probe::cli::RaceArgs),
    /// Print the man page (roff) generated from the command-line definition.
    Man {
        /// A subcommand's page instead of the main one, e.g. `check`.
        command: Option<String>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Files or directories to analyse.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Exclude paths matching this glob (repeatable), in addition to .gitignore.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Configuration file (default: tocsin.toml or [tool.tocsin] in pyproject.toml,
    /// searched from the current directory upwards).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Ignore configuration files.
    #[arg(long)]
    pub isolated: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Concise,
    Json,
    Sarif,
    Github,
    /// GitLab code-quality report (JSON).
    Gitlab,
}

/// Minimum severity that makes `check` exit 1 (`--fail-on`).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only these rule codes (or prefixes such as KEY), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "CODES")]
    pub select: Vec<String>,
    /// Skip these rule codes (or prefixes), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "CODES")]
    pub ignore: Vec<String>,
    /// Exit 0 even when there are findings.
    #[arg(long)]
    pub exit_zero: bool,
    /// Apply the safe mechanical fixes (KEY001 → hmac.compare_digest, JWT001 →
    /// pinned algorithms) and report what is left.
    #[arg(long)]
    pub fix: bool,
    /// Print the fixes as a unified diff instead of applying them.
    #[arg(long)]
    pub diff: bool,
    /// Also apply fixes that may change behaviour (with --fix or --diff).
    #[arg(long)]
    pub unsafe_fixes: bool,
    /// Exit 1 only if some finding is at least this severe (others are still reported).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,
    /// Drop findings recorded in this baseline file (matched on rule, path and
    /// fingerprint, so line shifts do not matter); report only new ones.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Record every current finding in FILE (JSON) as the accepted baseline; exits 0
    /// unless nothing could be analysed.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Accepted for symmetry with other linters; tocsin keeps no cache.
    #[arg(long, hide = true)]
    pub no_cache: bool,
    /// Colour: auto, always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Table,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct RoutesArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Write to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesFormat {
    Table,
    Json,
    /// The full rule reference (every rule's documentation), as in docs/rules.md.
    Markdown,
}

#[derive(Args, Debug, Clone)]
pub struct RulesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = RulesFormat::Table)]
    pub format: RulesFormat,
}
