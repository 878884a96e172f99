//! A self-contained HTML report: one file with inline CSS and inline SVG, nothing
//! fetched, no script. Every string from the report is escaped (messages, URLs and
//! notes can hold attacker-controlled text), and a Content-Security-Policy forbids
//! scripts and remote loads in case anything ever slips through.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{errors_line, escape_controls, summary_line, text, Report};
use crate::{ExchangeEvidence, Finding, Location, Status};

const STYLE: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --border: #d1d9e0; --bg-soft: #f6f8fa;
  --critical: #8250df; --high: #cf222e; --medium: #9a6700; --low: #0969da; --ok: #1a7f37; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
h1 { margin-bottom: 0; } .meta { color: var(--muted); margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid var(--border); padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: var(--bg-soft); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--bg-soft); border: 1px solid var(--border); padding: 0.6rem; overflow-x: auto; }
section.finding { border: 1px solid var(--border); border-left-width: 6px; border-radius: 6px;
  padding: 0.2rem 1rem 0.6rem; margin: 1.2rem 0; }
section.sev-critical { border-left-color: var(--critical); }
section.sev-high { border-left-color: var(--high); }
section.sev-medium { border-left-color: var(--medium); }
section.sev-low { border-left-color: var(--low); }
.badge { display: inline-block; border-radius: 1em; padding: 0 0.6em; color: #fff; font-size: 0.8em; white-space: nowrap;
  font-weight: 600; vertical-align: middle; }
.badge.sev-critical { background: var(--critical); } .badge.sev-high { background: var(--high); }
.badge.sev-medium { background: var(--medium); } .badge.sev-low { background: var(--low); }
.badge.status-confirmed { background: var(--high); } .badge.status-refuted { background: var(--ok); }
.badge.status-not-tested { background: var(--muted); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; }
.race-chart { max-width: 100%; height: auto; font: 12px system-ui, sans-serif; }
.race-chart .axis { stroke: var(--muted); } .race-chart .grid { stroke: var(--border); }
.race-chart .bar { fill: var(--low); opacity: 0.75; } .race-chart .release { fill: var(--high); }
.race-chart text { fill: var(--fg); } .race-chart .tick { fill: var(--muted); }
"#;

pub(super) fn render(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut html = String::new();
    html.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>tocsin report</title>\n<style>",
    );
    html.push_str(STYLE);
    html.push_str("</style>\n</head>\n<body>\n");
    let _ = writeln!(
        html,
        "<h1>tocsin report</h1>\n<p class=\"meta\">tocsin {}</p>",
        esc(report.tool_version)
    );
    write_summary(&mut html, report);
    for (index, finding) in report.findings.iter().enumerate() {
        write_finding(&mut html, report, index + 1, finding);
    }
    if !report.errors.is_empty() {
        html.push_str("<section id=\"errors\">\n<h2>Input errors</h2>\n<table>\n");
        html.push_str("<tr><th>Location</th><th>Code</th><th>Message</th></tr>\n");
        for error in report.errors {
            let _ = writeln!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&error.location.to_string()),
                esc(&error.code),
                esc(&error.message)
            );
        }
        html.push_str("</table>\n</section>\n");
    }
    html.push_str("</body>\n</html>\n");
    out.write_all(html.as_bytes())
}

fn write_summary(html: &mut String, report: &Report<'_>) {
    html.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
    let _ = writeln!(html, "<p>{}", esc(&summary_line(report)));
    if let Some(line) = errors_line(report) {
        let _ = write!(html, " {}", esc(&line));
    }
    html.push_str("</p>\n<table class=\"counts\">\n<tr><th>Severity</th><th>Findings</th></tr>\n");
    for (severity, count) in report.severity_counts().iter() {
        let _ = writeln!(
            html,
            "<tr><td><span class=\"badge sev-{severity}\">{severity}</span></td>\
             <td class=\"num\">{count}</td></tr>"
        );
    }
    let _ = writeln!(
        html,
        "<tr><td>input errors</td><td class=\"num\">{}</td></tr>\n</table>",
        report.errors.len()
    );
    if !report.findings.is_empty() {
        html.push_str(
            "<table class=\"findings\">\n<tr><th>#</th><th>Code</th><th>Severity</th>\
             <th>Location</th><th>Message</th><th>Status</th></tr>\n",
        );
        for (index, finding) in report.findings.iter().enumerate() {
            let number = index + 1;
            let _ = writeln!(
                html,
                "<tr><td><a href=\"#finding-{number}\">{number}</a></td><td>{}</td>\
                 <td><span class=\"badge sev-{sev}\">{sev}</span></td><td><code>{}</code></td>\
                 <td>{}</td><td>{}</td></tr>",
                esc(&finding.code),
                esc(&finding.location.to_string()),
                esc(&finding.message),
                finding.status.as_ref().map_or(String::new(), status_badge),
                sev = finding.severity,
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str("</section>\n");
}

fn write_finding(html: &mut String, report: &Report<'_>, number: usize, finding: &Finding) {
    let severity = finding.severity;
    let _ = writeln!(
        html,
        "<section id=\"finding-{number}\" class=\"finding sev-{severity}\">\n\
         <h2>{number}. {} <span class=\"badge sev-{severity}\">{severity}</span></h2>\n\
         <p class=\"message\">{}</p>\n<dl>",
        esc(&finding.code),
        esc(&finding.message)
    );
    if let Some(rule) = report.rule(&finding.code) {
        let _ = writeln!(
            html,
            "<dt>Rule</dt><dd><code>{}</code>: {}</dd>",
            esc(rule.name),
            esc(rule.summary)
        );
    }
    let _ = writeln!(
        html,
        "<dt>Location</dt><dd><code>{}</code></dd>",
        esc(&finding.location.to_string())
    );
    if let Some(fix) = &finding.fix {
        let _ = writeln!(html, "<dt>Fix</dt><dd>{}</dd>", esc(fix));
    }
    if let Some(status) = &finding.status {
        let reason = match status {
            Status::NotTested { reason } => format!(" {}", esc(reason)),
            _ => String::new(),
        };
        let _ = writeln!(
            html,
            "<dt>Status</dt><dd>{}{reason}</dd>",
            status_badge(status)
        );
    }
    if let Some(fingerprint) = &finding.fingerprint {
        let _ = writeln!(
            html,
            "<dt>Fingerprint</dt><dd><code>{}</code></dd>",
            esc(fingerprint)
        );
    }
    html.push_str("</dl>\n");
    if let Location::Source(span) = &finding.location {
        let frame = report
            .sources
            .source(&span.path)
            .and_then(|source| text::plain_frame(source, span));
        if let Some(frame) = frame {
            // The frame is already free of control characters; only markup needs escaping.
            let _ = writeln!(html, "<pre class=\"frame\">{}</pre>", escape_html(&frame));
        }
    }
    if !finding.related.is_empty() {
        html.push_str("<h3>Related locations</h3>\n<ul class=\"related\">\n");
        for related in &finding.related {
            let _ = writeln!(
                html,
                "<li><code>{}</code>: {}</li>",
                esc(&related.location.to_string()),
                esc(&related.message)
            );
        }
        html.push_str("</ul>\n");
    }
    if !finding.evidence.is_empty() {
        write_evidence(html, &finding.evidence);
        write_race_chart(html, number, &finding.evidence);
    }
    html.push_str("</section>\n");
}

fn status_badge(status: &Status) -> String {
    let class = match status {
        Status::Confirmed => "confirmed",
        Status::Refuted => "refuted",
        Status::NotTested { .. } => "not-tested",
    };
    format!(
        "<span class=\"badge status-{class}\">{}</span>",
        status.label()
    )
}

fn write_evidence(html: &mut String, evidence: &[ExchangeEvidence]) {
    html.push_str(
        "<h3>Evidence</h3>\n<table class=\"evidence\">\n<tr><th>Identity</th><th>Request</th>\
         <th>Status</th><th>Released at (ms)</th><th>Response (ms)</th><th>Body SHA-256</th>\
         <th>Note</th></tr>\n",
    );
    for exchange in evidence {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td><code>{} {}</code></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td>\
             <td>{}</td></tr>",
            esc(exchange.identity.as_deref().unwrap_or("anonymous")),
            esc(&exchange.method),
            esc(&exchange.url),
            exchange.status.map_or(String::new(), |s| s.to_string()),
            finite(exchange.release_offset_ms).map_or(String::new(), |ms| format!("{ms:.1}")),
            finite(exchange.response_ms).map_or(String::new(), |ms| format!("{ms:.1}")),
            esc(exchange.body_sha256.as_deref().unwrap_or("")),
            esc(exchange.note.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</table>\n");
}

const CHART_WIDTH: f64 = 760.0;
const LABEL_WIDTH: f64 = 220.0;
const RIGHT_MARGIN: f64 = 24.0;
const TOP_MARGIN: f64 = 12.0;
const ROW_HEIGHT: f64 = 26.0;
const AXIS_HEIGHT: f64 = 40.0;

/// One row per exchange: a diamond where its final byte was released and a bar for how
/// long the answer took, on a shared millisecond axis, so a reader sees at once how
/// tightly the requests were synchronised and whether their handling overlapped.
fn write_race_chart(html: &mut String, number: usize, evidence: &[ExchangeEvidence]) {
    let timed = evidence.iter().any(|exchange| {
        finite(exchange.release_offset_ms).is_some() || finite(exchange.response_ms).is_some()
    });
    if !timed {
        return;
    }
    let max_ms = evidence
        .iter()
        .map(|exchange| {
            finite(exchange.release_offset_ms).unwrap_or(0.0)
                + finite(exchange.response_ms).unwrap_or(0.0)
        })
        .fold(0.0_f64, f64::max);
    let step = nice_step(max_ms / 5.0);
    let axis_max = ((max_ms / step).ceil() * step).max(step);
    let plot_width = CHART_WIDTH - LABEL_WIDTH - RIGHT_MARGIN;
    let x = |ms: f64| LABEL_WIDTH + ms / axis_max * plot_width;
    let plot_bottom = TOP_MARGIN + ROW_HEIGHT * evidence.len() as f64;
    let height = plot_bottom + AXIS_HEIGHT;

    let _ = writeln!(
        html,
        "<h3>Timing</h3>\n<svg class=\"race-chart\" id=\"race-chart-{number}\" role=\"img\" \
         viewBox=\"0 0 {CHART_WIDTH} {height}\" width=\"{CHART_WIDTH}\" height=\"{height}\" \
         aria-label=\"Release offset and response time of each request, in milliseconds\">"
    );
    // Grid and tick labels first, so the rows draw over them.
    let ticks = (axis_max / step).round() as usize;
    for index in 0..=ticks {
        // Multiplying, not accumulating, keeps labels like 0.3 free of float drift.
        let tick = step * index as f64;
        let tx = x(tick);
        let _ = writeln!(
            html,
            "<line class=\"grid\" x1=\"{tx:.1}\" y1=\"{TOP_MARGIN}\" x2=\"{tx:.1}\" y2=\"{plot_bottom}\"/>\
             <text class=\"tick\" x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            plot_bottom + 16.0,
            format_ms(tick)
        );
    }
    let _ = writeln!(
        html,
        "<line class=\"axis\" x1=\"{LABEL_WIDTH}\" y1=\"{plot_bottom}\" x2=\"{:.1}\" y2=\"{plot_bottom}\"/>\
         <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">ms since the first release</text>",
        LABEL_WIDTH + plot_width,
        LABEL_WIDTH + plot_width / 2.0,
        plot_bottom + 34.0
    );
    for (row, exchange) in evidence.iter().enumerate() {
        let y = TOP_MARGIN + ROW_HEIGHT * row as f64 + ROW_HEIGHT / 2.0;
        let release = finite(exchange.release_offset_ms);
        let response = finite(exchange.response_ms);
        let status = exchange
            .status
            .map_or_else(|| "no response".to_owned(), |status| status.to_string());
        let label = format!(
            "{} {}",
            exchange.identity.as_deref().unwrap_or("anonymous"),
            status
        );
        let mut tooltip = format!(
            "{label}: {} {}",
            exchange.method,
            super::url_path(&exchange.url)
        );
        if let Some(ms) = release {
            let _ = write!(tooltip, ", released at +{ms:.1} ms");
        }
        if let Some(ms) = response {
            let _ = write!(tooltip, ", response {ms:.1} ms");
        }
        let _ = writeln!(
            html,
            "<g class=\"row\"><title>{}</title>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            esc(&tooltip),
            LABEL_WIDTH - 8.0,
            y + 4.0,
            esc(&truncate(&label, 30))
        );
        if let Some(ms) = response {
            let start = x(release.unwrap_or(0.0));
            let width = (x(release.unwrap_or(0.0) + ms) - start).max(1.0);
            let _ = writeln!(
                html,
                "<rect class=\"bar\" x=\"{start:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"10\"/>",
                y - 5.0
            );
        }
        if let Some(ms) = release {
            let mx = x(ms);
            let _ = writeln!(
                html,
                "<path class=\"release\" d=\"M {mx:.1} {:.1} l 6 6 l -6 6 l -6 -6 z\"/>",
                y - 6.0
            );
        }
        html.push_str("</g>\n");
    }
    html.push_str("</svg>\n");
    // Sub-millisecond release spreads do not show at the chart's scale; say them.
    let releases: Vec<f64> = evidence
        .iter()
        .filter_map(|exchange| finite(exchange.release_offset_ms))
        .collect();
    let responses: Vec<f64> = evidence
        .iter()
        .filter_map(|exchange| finite(exchange.response_ms))
        .collect();
    let mut notes = Vec::new();
    if releases.len() > 1 {
        let spread = releases.iter().fold(f64::MIN, |a, &b| a.max(b))
            - releases.iter().fold(f64::MAX, |a, &b| a.min(b));
        notes.push(format!(
            "{} requests released within {spread:.2} ms of each other",
            releases.len()
        ));
    }
    if let (Some(min), Some(max)) = (
        responses.iter().copied().reduce(f64::min),
        responses.iter().copied().reduce(f64::max),
    ) {
        notes.push(format!("responses took {min:.1} to {max:.1} ms"));
    }
    if !notes.is_empty() {
        let _ = writeln!(html, "<p class=\"chart-note\">{}.</p>", notes.join("; "));
    }
}

/// A round step (1, 2 or 5 times a power of ten) at least `raw`, for axis ticks.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn format_ms(ms: f64) -> String {
    let text = format!("{ms:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Timings that can be drawn: finite and not negative.
fn finite(ms: Option<f64>) -> Option<f64> {
    ms.filter(|ms| ms.is_finite()).map(|ms| ms.max(0.0))
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max_chars - 1).collect();
    short.push('…');
    short
}

/// Escapes report text for HTML text and double-quoted attributes, after making
/// control and bidi characters visible.
fn esc(text: &str) -> String {
    escape_html(&escape_controls(text))
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("a\u{202E}b"), "a&lt;U+202E&gt;b");
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(12.0), 20.0);
        assert!((nice_step(0.07) - 0.1).abs() < 1e-12);
        assert_eq!(format_ms(2.50), "2.5");
        assert_eq!(format_ms(40.0), "40");
    }
}
