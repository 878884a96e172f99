//! Output formats. Each renderer is a function from a [`Report`] to a writer.
//!
//! Renderers print the findings in the order they are given (the caller sorts and
//! filters), never decide what is a finding, and only ever see redacted data. I/O errors
//! are returned as they are; what a broken pipe means is the caller's decision.

mod concise;
mod github;
mod html;
mod json;
mod sarif;
mod text;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::{Finding, InputError, RuleMeta, Severity};

/// Gives renderers the text of a source file, for code frames and fingerprints.
pub trait SourceLookup {
    fn source(&self, path: &Path) -> Option<&str>;
}

impl SourceLookup for HashMap<PathBuf, String> {
    fn source(&self, path: &Path) -> Option<&str> {
        self.get(path).map(String::as_str)
    }
}

/// Everything a renderer needs: the findings (already sorted and filtered), the
/// per-input errors, the metadata of every rule that ran, and the sources.
pub struct Report<'a> {
    pub tool_version: &'a str,
    pub findings: &'a [Finding],
    pub errors: &'a [InputError],
    pub rules: &'a [RuleMeta],
    pub sources: &'a dyn SourceLookup,
}

impl Report<'_> {
    /// The metadata of the rule with this code, if it ran.
    pub fn rule(&self, code: &str) -> Option<&RuleMeta> {
        self.rules.iter().find(|rule| rule.code == code)
    }

    /// How many findings there are of each severity.
    pub fn severity_counts(&self) -> SeverityCounts {
        let mut counts = SeverityCounts::default();
        for finding in self.findings {
            match finding.severity {
                Severity::Critical => counts.critical += 1,
                Severity::High => counts.high += 1,
                Severity::Medium => counts.medium += 1,
                Severity::Low => counts.low += 1,
            }
        }
        counts
    }
}

/// Findings per severity; field order is the order every renderer prints them in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
}

impl SeverityCounts {
    /// Most severe first, zero counts included.
    pub fn iter(&self) -> impl Iterator<Item = (Severity, usize)> {
        [
            (Severity::Critical, self.critical),
            (Severity::High, self.high),
            (Severity::Medium, self.medium),
            (Severity::Low, self.low),
        ]
        .into_iter()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Concise,
    Json,
    Sarif,
    Github,
    Html,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 6] = [
        Format::Text,
        Format::Concise,
        Format::Json,
        Format::Sarif,
        Format::Github,
        Format::Html,
    ];

    /// The name users type, e.g. `--output-format sarif`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Concise => "concise",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Github => "github",
            Format::Html => "html",
        }
    }

    pub fn parse(text: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(text))
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// ANSI colour; only the text format uses it.
    pub color: bool,
}

pub fn render(
    format: Format,
    report: &Report<'_>,
    options: RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => text::render(report, options, out),
        Format::Concise => concise::render(report, out),
        Format::Json => json::render(report, out),
        Format::Sarif => sarif::render(report, out),
        Format::Github => github::render(report, out),
        Format::Html => html::render(report, out),
    }
}

/// `Found 3 findings (1 high, 2 medium).` or `No findings.`
fn summary_line(report: &Report<'_>) -> String {
    let total = report.findings.len();
    if total == 0 {
        return "No findings.".to_owned();
    }
    let mut line = format!("Found {total} {}", plural(total, "finding", "findings"));
    let parts: Vec<String> = report
        .severity_counts()
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(severity, count)| format!("{count} {severity}"))
        .collect();
    let _ = write!(line, " ({}).", parts.join(", "));
    line
}

/// `2 inputs could not be analysed.`, or `None` when every input was.
fn errors_line(report: &Report<'_>) -> Option<String> {
    let count = report.errors.len();
    (count > 0).then(|| {
        format!(
            "{count} {} could not be analysed.",
            plural(count, "input", "inputs")
        )
    })
}

fn plural<'s>(count: usize, one: &'s str, many: &'s str) -> &'s str {
    if count == 1 {
        one
    } else {
        many
    }
}

/// Makes attacker-influenced text (messages, URLs, source lines) safe to print on a
/// terminal or in a log: control characters become visible symbols instead of being
/// interpreted (an ESC could rewrite the screen), and bidirectional overrides are
/// spelled out so they cannot disguise what is printed ("Trojan Source").
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_visible(&mut escaped, c);
    }
    std::borrow::Cow::Owned(escaped)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Appends `c`, or a visible stand-in when it is a control character.
fn push_visible(out: &mut String, c: char) {
    match c {
        // C0 controls have a "control picture" of their own (ESC shows as ␛).
        '\0'..='\u{1F}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}')),
        '\u{7F}' => out.push('\u{2421}'),
        c if c.is_control() || is_bidi_control(c) => {
            let _ = write!(out, "<U+{:04X}>", c as u32);
        }
        c => out.push(c),
    }
}

/// The path portion of a (redacted) URL: `https://host:8000/a/b?x=1` gives `/a/b`.
/// Used where a location must not depend on which host was probed.
fn url_path(url: &str) -> &str {
    let after_scheme = match url.find("://") {
        Some(index) => &url[index + 3..],
        None => return strip_query(url),
    };
    match after_scheme.find('/') {
        Some(index) => strip_query(&after_scheme[index..]),
        None => "/",
    }
}

fn strip_query(path: &str) -> &str {
    match path.find(['?', '#']) {
        Some(index) => &path[..index],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bidi() {
        assert_eq!(escape_controls("plain é"), "plain é");
        assert_eq!(escape_controls("a\u{1b}[31mb"), "a\u{241b}[31mb");
        assert_eq!(escape_controls("x\u{202E}y\u{85}"), "x<U+202E>y<U+0085>");
    }

    #[test]
    fn url_paths() {
        assert_eq!(url_path("http://127.0.0.1:5000/a/b?c=d"), "/a/b");
        assert_eq!(url_path("https://example.test"), "/");
        assert_eq!(url_path("/only/path#frag"), "/only/path");
    }

    #[test]
    fn formats_round_trip_through_their_names() {
        for format in Format::ALL {
            assert_eq!(Format::parse(format.name()), Some(format));
        }
        assert_eq!(Format::parse("SARIF"), Some(Format::Sarif));
        assert_eq!(Format::parse("xml"), None);
    }
}
