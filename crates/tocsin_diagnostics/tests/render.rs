//! Snapshot tests of every output format over one hand-built report, plus checks of the
//! properties a snapshot review could miss (escaping, structure, self-containment).

mod support;

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;
use tocsin_diagnostics::{render, Format, RenderOptions, Report};

fn rendered(format: Format, report: &Report<'_>, color: bool) -> String {
    let mut out = Vec::new();
    render(format, report, RenderOptions { color }, &mut out).expect("render to a Vec");
    String::from_utf8(out).expect("renderers write UTF-8")
}

fn sample_output(format: Format) -> String {
    let sample = support::sample();
    rendered(format, &sample.report(), false)
}

#[test]
fn text() {
    let output = sample_output(Format::Text);
    insta::assert_snapshot!("text", output);
}

#[test]
fn concise() {
    insta::assert_snapshot!("concise", sample_output(Format::Concise));
}

#[test]
fn json() {
    insta::assert_snapshot!("json", sample_output(Format::Json));
}

#[test]
fn sarif() {
    insta::assert_snapshot!("sarif", sample_output(Format::Sarif));
}

#[test]
fn github() {
    insta::assert_snapshot!("github", sample_output(Format::Github));
}

#[test]
fn html() {
    insta::assert_snapshot!("html", sample_output(Format::Html));
}

#[test]
fn empty_report() {
    let sources: HashMap<PathBuf, String> = HashMap::new();
    let report = Report {
        tool_version: "0.1.0",
        findings: &[],
        errors: &[],
        rules: &[],
        sources: &sources,
    };
    assert_eq!(rendered(Format::Text, &report, false), "No findings.\n");
    assert_eq!(rendered(Format::Concise, &report, false), "No findings.\n");
    assert_eq!(rendered(Format::Github, &report, false), "");
    let json: Value = serde_json::from_str(&rendered(Format::Json, &report, false)).unwrap();
    assert_eq!(json["summary"]["findings"], 0);
    let sarif: Value = serde_json::from_str(&rendered(Format::Sarif, &report, false)).unwrap();
    assert_eq!(sarif["runs"][0]["results"], Value::Array(vec![]));
}

#[test]
fn colour_only_when_asked() {
    let sample = support::sample();
    let report = sample.report();
    let plain = rendered(Format::Text, &report, false);
    let coloured = rendered(Format::Text, &report, true);
    assert!(!plain.contains('\u{1b}'));
    assert!(coloured.contains("\u{1b}[1;31mTOC001\u{1b}[0m"));
    // Stripping the colour gives the plain output back.
    let mut stripped = String::new();
    let mut rest = coloured.as_str();
    while let Some(start) = rest.find('\u{1b}') {
        stripped.push_str(&rest[..start]);
        let end = rest[start..].find('m').expect("SGR ends with m");
        rest = &rest[start + end + 1..];
    }
    stripped.push_str(rest);
    assert_eq!(stripped, plain);
}

#[test]
fn attacker_text_is_neutralised() {
    for format in Format::ALL {
        let output = sample_output(format);
        // A raw ESC would let a response body drive the reader's terminal.
        assert!(!output.contains('\u{1b}'), "{format:?} printed a raw ESC");
    }
    let github = sample_output(Format::Github);
    // A newline in a note must not start a workflow command of its own.
    assert!(github.lines().all(|line| line.starts_with("::error ")
        || line.starts_with("::warning ")
        || line.starts_with("::notice ")));
    assert!(!github.contains("\n::error::injected"));
    let html = sample_output(Format::Html);
    assert!(!html.contains("<script"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
}

#[test]
fn html_is_self_contained() {
    let html = sample_output(Format::Html);
    for needle in ["src=", "@import", "url(", "<link", "<script", "xmlns"] {
        assert!(!html.contains(needle), "HTML report contains {needle}");
    }
    // Links only point inside the page.
    for (index, _) in html.match_indices("href=\"") {
        assert_eq!(&html[index + 6..index + 7], "#");
    }
    assert_eq!(html.matches("<svg class=\"race-chart\"").count(), 1);
    // One row per exchange, each with a release marker and a response bar.
    assert_eq!(html.matches("<path class=\"release\"").count(), 3);
    assert_eq!(html.matches("<rect class=\"bar\"").count(), 3);
}

#[test]
fn json_round_trips_and_counts() {
    let sample = support::sample();
    let json: Value = serde_json::from_str(&sample_output(Format::Json)).unwrap();
    assert_eq!(json["version"], "0.1.0");
    let findings: Vec<tocsin_diagnostics::Finding> =
        serde_json::from_value(json["findings"].clone()).unwrap();
    assert_eq!(findings, sample.findings);
    assert_eq!(json["summary"]["findings"], 4);
    assert_eq!(json["summary"]["errors"], 1);
    assert_eq!(json["summary"]["by_severity"]["critical"], 1);
    assert_eq!(json["summary"]["by_severity"]["low"], 1);
}

#[test]
fn sarif_structure() {
    let sarif: Value = serde_json::from_str(&sample_output(Format::Sarif)).unwrap();
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for result in run["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
    let http = &run["results"][3];
    assert_eq!(http["ruleId"], "TOC101");
    assert!(http["locations"][0].get("physicalLocation").is_none());
    assert_eq!(
        http["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "POST /accounts/42/withdraw"
    );
    assert_eq!(http["properties"]["status"], "confirmed");
    let notification = &run["invocations"][0]["toolExecutionNotifications"][0];
    assert_eq!(notification["level"], "error");
    assert_eq!(notification["descriptor"]["id"], "E001");
}
