//! SARIF 2.1.0, for code-scanning dashboards. One run; every rule that ran is a rule
//! descriptor (with its docs as help), every finding a result, every input error a
//! tool execution notification. `scripts/validate-sarif.sh` checks the output against
//! Microsoft's validator.

use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Map, Value};

use super::{url_path, Report};
use crate::{Finding, InputError, Location, RuleMeta, Severity, SourceSpan, Status};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const SRCROOT: &str = "%SRCROOT%";
const INFORMATION_URI: &str = env!("CARGO_PKG_REPOSITORY");

pub(super) fn render(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = report.rules.iter().map(rule_descriptor).collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| result(report, finding))
        .collect();
    let notifications: Vec<Value> = report.errors.iter().map(notification).collect();

    let mut invocation = Map::new();
    // Unreadable inputs do not make the run fail: the findings for the other inputs
    // stand, and the errors are listed beside them.
    invocation.insert("executionSuccessful".into(), Value::Bool(true));
    if !notifications.is_empty() {
        invocation.insert(
            "toolExecutionNotifications".into(),
            Value::Array(notifications),
        );
    }

    let mut driver = json!({
        "name": "tocsin",
        "version": report.tool_version,
        "semanticVersion": report.tool_version,
        "rules": rules,
    });
    // Comes from the workspace's `repository`; an empty one would not be a valid URI.
    if !INFORMATION_URI.is_empty() {
        driver["informationUri"] = json!(INFORMATION_URI);
    }

    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": driver },
            "invocations": [invocation],
            "originalUriBaseIds": {
                SRCROOT: {
                    "description": {
                        "text": "The directory tocsin was run in; result paths are relative to it."
                    }
                }
            },
            // Positions count characters, not UTF-16 units (see `Position`).
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

fn rule_descriptor(rule: &RuleMeta) -> Value {
    json!({
        "id": rule.code,
        "name": pascal_case(rule.name),
        "shortDescription": { "text": rule.summary },
        "fullDescription": { "text": what_it_does(rule.docs).unwrap_or_else(|| rule.summary.to_owned()) },
        "help": { "text": rule.docs, "markdown": rule.docs },
        "defaultConfiguration": { "level": rule.severity.sarif_level() },
        "properties": {
            "tags": ["security"],
            "security-severity": security_severity(rule.severity),
        }
    })
}

/// GitHub code scanning buckets `security-severity` scores (a number in a string):
/// 9.0 and above is critical, 7.0 high, 4.0 medium, below that low.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

fn result(report: &Report<'_>, finding: &Finding) -> Value {
    let mut result = Map::new();
    result.insert("ruleId".into(), json!(finding.code));
    if let Some(index) = report
        .rules
        .iter()
        .position(|rule| rule.code == finding.code)
    {
        result.insert("ruleIndex".into(), json!(index));
    }
    result.insert("level".into(), json!(finding.severity.sarif_level()));
    result.insert("message".into(), json!({ "text": finding.message }));
    result.insert("locations".into(), json!([location(&finding.location)]));
    if !finding.related.is_empty() {
        let related: Vec<Value> = finding
            .related
            .iter()
            .enumerate()
            .map(|(id, related)| {
                let mut value = location(&related.location);
                if let Value::Object(map) = &mut value {
                    map.insert("id".into(), json!(id));
                    map.insert("message".into(), json!({ "text": related.message }));
                }
                value
            })
            .collect();
        result.insert("relatedLocations".into(), Value::Array(related));
    }
    if let Some(fingerprint) = &finding.fingerprint {
        result.insert(
            "partialFingerprints".into(),
            json!({ "tocsinFingerprint/v1": fingerprint }),
        );
    }

    let mut properties = Map::new();
    properties.insert("severity".into(), json!(finding.severity.as_str()));
    if let Some(fix) = &finding.fix {
        properties.insert("fix".into(), json!(fix));
    }
    if let Some(status) = &finding.status {
        // The same token as in the JSON format (`not-tested`, not the label's space).
        let token = match status {
            Status::Confirmed => "confirmed",
            Status::Refuted => "refuted",
            Status::NotTested { .. } => "not-tested",
        };
        properties.insert("status".into(), json!(token));
        if let Status::NotTested { reason } = status {
            properties.insert("statusReason".into(), json!(reason));
        }
    }
    if let Location::Http(http) = &finding.location {
        // The logical location keeps only the path, so keep the full (redacted) URL.
        properties.insert(
            "request".into(),
            json!({ "method": http.method, "url": http.url }),
        );
    }
    if !finding.evidence.is_empty() {
        properties.insert("evidence".into(), json!(finding.evidence));
    }
    result.insert("properties".into(), Value::Object(properties));
    Value::Object(result)
}

fn notification(error: &InputError) -> Value {
    json!({
        "level": "error",
        "descriptor": { "id": error.code },
        "message": { "text": error.message },
        "locations": [location(&error.location)],
    })
}

/// A SARIF `location`: a file region, or for an HTTP route a logical location named
/// `METHOD /path` (SARIF has no notion of a URL location).
fn location(location: &Location) -> Value {
    match location {
        Location::Source(span) => json!({ "physicalLocation": physical_location(span) }),
        Location::Http(http) => json!({
            "logicalLocations": [{
                "fullyQualifiedName": format!("{} {}", http.method, url_path(&http.url)),
                "kind": "resource",
            }]
        }),
    }
}

fn physical_location(span: &SourceSpan) -> Value {
    let (uri, relative) = path_uri(&span.path);
    let mut artifact = Map::new();
    artifact.insert("uri".into(), json!(uri));
    if relative {
        artifact.insert("uriBaseId".into(), json!(SRCROOT));
    }
    json!({
        "artifactLocation": artifact,
        "region": {
            "startLine": span.start.line.max(1),
            "startColumn": span.start.column.max(1),
            "endLine": span.end.line.max(span.start.line).max(1),
            "endColumn": span.end.column.max(1),
        }
    })
}

/// The path as a URI reference: forward slashes, percent-encoded, relative (to
/// `%SRCROOT%`) when the user gave a relative path, else a `file:` URI. Returns whether
/// it is relative.
fn path_uri(path: &Path) -> (String, bool) {
    let mut text = path.to_string_lossy().replace('\\', "/");
    while let Some(rest) = text.strip_prefix("./") {
        text = rest.to_owned();
    }
    let bytes = text.as_bytes();
    let windows_drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if windows_drive {
        let encoded = format!("{}:{}", &text[..1], percent_encode(&text[2..]));
        (format!("file:///{encoded}"), false)
    } else if text.starts_with('/') {
        (format!("file://{}", percent_encode(&text)), false)
    } else {
        (percent_encode(&text), true)
    }
}

/// Percent-encodes all but unreserved characters and `/`. `:` is encoded too, since in
/// a relative reference's first segment it would read as a scheme.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `non-constant-time-key-comparison` gives `NonConstantTimeKeyComparison`.
fn pascal_case(kebab: &str) -> String {
    kebab
        .split(['-', '_'])
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The first paragraph under the docs' `What it does` heading, as plain text, or `None`
/// when the docs have no such section.
fn what_it_does(docs: &str) -> Option<String> {
    let mut lines = docs.lines().skip_while(|line| {
        !(line.starts_with('#')
            && line
                .trim_start_matches('#')
                .trim()
                .eq_ignore_ascii_case("what it does"))
    });
    lines.next()?;
    let paragraph: Vec<&str> = lines
        .map(str::trim)
        .skip_while(|line| line.is_empty())
        .take_while(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    (!paragraph.is_empty()).then(|| paragraph.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_encoded_and_forward_slashed() {
        assert_eq!(
            path_uri(Path::new("./app/my views.py")),
            ("app/my%20views.py".to_owned(), true)
        );
        assert_eq!(
            path_uri(Path::new("app\\ü:x.py")),
            ("app/%C3%BC%3Ax.py".to_owned(), true)
        );
        assert_eq!(
            path_uri(Path::new("/srv/app.py")),
            ("file:///srv/app.py".to_owned(), false)
        );
        assert_eq!(
            path_uri(Path::new("C:\\src\\app.py")),
            ("file:///C:/src/app.py".to_owned(), false)
        );
    }

    #[test]
    fn names_and_descriptions() {
        assert_eq!(
            pascal_case("non-constant-time-key-comparison"),
            "NonConstantTimeKeyComparison"
        );
        let docs = "## What it does\nChecks a thing\nacross lines.\n\n## Why is this bad?\nBad.";
        assert_eq!(
            what_it_does(docs).as_deref(),
            Some("Checks a thing across lines.")
        );
        assert_eq!(what_it_does("no headings"), None);
    }
}
