//! The finding model: what every half of tocsin (static rules, live probes, scan) reports.
//!
//! A finding is located either in source code or at an HTTP route, carries related
//! locations (the check, the use, the mutating code, or the exchanges) and, once a live
//! experiment has run, a status.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// SARIF `level` for this severity.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Low => "note",
            Severity::Medium => "warning",
            Severity::High | Severity::Critical => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 1-based line/column position; columns count characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// A span in a source file. `path` is as the user named it (relative when they gave a
/// relative path), so reports stay portable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourceSpan {
    pub path: PathBuf,
    pub start: Position,
    pub end: Position,
}

/// An HTTP route, as a probe saw it. The URL is already redacted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HttpLocation {
    pub method: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Location {
    Source(SourceSpan),
    Http(HttpLocation),
}

impl Location {
    pub fn source(&self) -> Option<&SourceSpan> {
        match self {
            Location::Source(span) => Some(span),
            Location::Http(_) => None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Source(span) => write!(
                f,
                "{}:{}:{}",
                span.path.display(),
                span.start.line,
                span.start.column
            ),
            Location::Http(http) => write!(f, "{} {}", http.method, http.url),
        }
    }
}

/// A further place that explains a finding: the check, the use, the code that mutates
/// the state, or an HTTP exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Related {
    pub location: Location,
    pub message: String,
}

/// One request/response pair recorded by a live experiment, already redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeEvidence {
    /// Who sent it (identity name, never the key).
    pub identity: Option<String>,
    pub method: String,
    pub url: String,
    pub status: Option<u16>,
    /// Milliseconds from the batch's first release to this request's final byte.
    pub release_offset_ms: Option<f64>,
    /// Milliseconds from the final byte to the first response byte.
    pub response_ms: Option<f64>,
    pub body_sha256: Option<String>,
    pub note: Option<String>,
}

/// What a live experiment made of a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    Confirmed,
    Refuted,
    NotTested { reason: String },
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Confirmed => "confirmed",
            Status::Refuted => "refuted",
            Status::NotTested { .. } => "not tested",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Rule code, e.g. `KEY001`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
    /// How to fix it, in one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<ExchangeEvidence>,
    /// Stable identity of the finding across unrelated edits (rule, file and a hash of
    /// the flagged code), for baselines and SARIF `partialFingerprints`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// A mechanical fix, when the rule knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit: Option<Fix>,
    /// For static findings about a route: its methods (comma-separated) and URL
    /// rule, so a live experiment can target it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<HttpLocation>,
}

impl Finding {
    pub fn new(
        code: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
        location: Location,
    ) -> Self {
        Finding {
            code: code.into(),
            severity,
            message: message.into(),
            location,
            related: Vec::new(),
            fix: None,
            status: None,
            evidence: Vec::new(),
            fingerprint: None,
            edit: None,
            route: None,
        }
    }

    pub fn with_edit(mut self, fix: Fix) -> Self {
        self.edit = Some(fix);
        self
    }

    pub fn with_route(mut self, methods: &[String], rule: &str) -> Self {
        self.route = Some(HttpLocation {
            method: methods.join(","),
            url: rule.to_string(),
        });
        self
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn with_related(mut self, location: Location, message: impl Into<String>) -> Self {
        self.related.push(Related {
            location,
            message: message.into(),
        });
        self
    }

    /// Order used by every renderer: by location, then rule code.
    pub fn sort_key(&self) -> (&Location, &str) {
        (&self.location, &self.code)
    }
}

/// A rule's metadata, as renderers need it (SARIF rule descriptors, `tocsin rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleMeta {
    pub code: &'static str,
    /// kebab-case name, e.g. `non-constant-time-key-comparison`.
    pub name: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Full Markdown docs: What it does / Why is this bad? / Example / Use instead.
    pub docs: &'static str,
    pub severity: Severity,
}

/// A problem with one input that did not stop the run (unreadable file, syntax error,
/// a request that failed). Reported, counted, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputError {
    /// `E001` for syntax errors, `E002` for unreadable inputs, `E003` for oversized or
    /// binary inputs.
    pub code: String,
    pub location: Location,
    pub message: String,
}

/// The text of a panic's payload (`panic!("…")` carries a `&str` or a `String`), for
/// the `E005` errors and the panic hook that report a bug instead of crashing.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Whether a fix can be applied without review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Applicability {
    /// Keeps the program's behaviour for every input it handled correctly.
    Safe,
    /// Likely right, but may change behaviour (applied only with `--unsafe-fixes`).
    Unsafe,
}

/// A replacement of a byte range of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub path: PathBuf,
    pub start: usize,
    pub end: usize,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub applicability: Applicability,
    /// What the fix does, in a few words.
    pub title: String,
    pub edits: Vec<Edit>,
}
