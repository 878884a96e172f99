//! The terminal format, after ruff's: a header per finding, a code frame with a line
//! gutter and a `^^^` underline, then notes, help, status and the evidence exchanges.

use std::io::{self, Write};

use unicode_width::UnicodeWidthChar;

use super::{errors_line, escape_controls, push_visible, summary_line, RenderOptions, Report};
use crate::{ExchangeEvidence, Finding, Location, Severity, SourceSpan, Status};

/// Lines of context above and below the flagged lines.
const CONTEXT_LINES: u32 = 2;
/// Spans longer than this many lines show their head and tail with `...` between.
const MAX_SPAN_LINES: u32 = 6;
const TAB_WIDTH: usize = 4;

pub(super) fn render(
    report: &Report<'_>,
    options: RenderOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let paint = Paint {
        enabled: options.color,
    };
    for finding in report.findings {
        write_finding(out, report, finding, paint)?;
        writeln!(out)?;
    }
    for error in report.errors {
        writeln!(
            out,
            "{}: {} {}",
            paint.bold(&escape_controls(&error.location.to_string())),
            paint.apply(RED_BOLD, &error.code),
            escape_controls(&error.message)
        )?;
    }
    writeln!(out, "{}", summary_line(report))?;
    if let Some(line) = errors_line(report) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn write_finding(
    out: &mut dyn Write,
    report: &Report<'_>,
    finding: &Finding,
    paint: Paint,
) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} {} {}",
        paint.bold(&escape_controls(&finding.location.to_string())),
        paint.apply(RED_BOLD, &finding.code),
        paint.apply(
            severity_style(finding.severity),
            &format!("[{}]", finding.severity)
        ),
        escape_controls(&finding.message)
    )?;
    if let Location::Source(span) = &finding.location {
        if let Some(source) = report.sources.source(&span.path) {
            write_frame(out, paint, source, span, FrameKind::Full)?;
        }
    }
    for related in &finding.related {
        writeln!(
            out,
            "  {} {}: {}",
            paint.bold("= note:"),
            escape_controls(&related.location.to_string()),
            escape_controls(&related.message)
        )?;
        if let Location::Source(span) = &related.location {
            if let Some(source) = report.sources.source(&span.path) {
                write_frame(out, paint, source, span, FrameKind::OneLine)?;
            }
        }
    }
    if let Some(fix) = &finding.fix {
        writeln!(
            out,
            "  {} {}",
            paint.apply(CYAN_BOLD, "= help:"),
            escape_controls(fix)
        )?;
    }
    if let Some(status) = &finding.status {
        let (style, text) = match status {
            Status::Confirmed => (RED_BOLD, "confirmed".to_owned()),
            Status::Refuted => (GREEN_BOLD, "refuted".to_owned()),
            Status::NotTested { reason } => {
                (YELLOW, format!("not tested: {}", escape_controls(reason)))
            }
        };
        writeln!(
            out,
            "  {} {}",
            paint.bold("= status:"),
            paint.apply(style, &text)
        )?;
    }
    for exchange in &finding.evidence {
        writeln!(
            out,
            "  {} {}",
            paint.bold("= evidence:"),
            evidence_summary(exchange)
        )?;
    }
    Ok(())
}

/// `alice POST http://host/transfer -> 200 (released at +0.4 ms, response 12.3 ms)`
fn evidence_summary(exchange: &ExchangeEvidence) -> String {
    let identity = exchange.identity.as_deref().unwrap_or("anonymous");
    let status = exchange
        .status
        .map_or_else(|| "no response".to_owned(), |status| status.to_string());
    let mut details = Vec::new();
    if let Some(offset) = exchange.release_offset_ms.filter(|ms| ms.is_finite()) {
        details.push(format!("released at +{offset:.1} ms"));
    }
    if let Some(response) = exchange.response_ms.filter(|ms| ms.is_finite()) {
        details.push(format!("response {response:.1} ms"));
    }
    if let Some(note) = &exchange.note {
        details.push(note.clone());
    }
    let mut line = format!(
        "{identity} {} {} -> {status}",
        exchange.method, exchange.url
    );
    if !details.is_empty() {
        line.push_str(&format!(" ({})", details.join("; ")));
    }
    escape_controls(&line).into_owned()
}

/// The uncoloured code frame of `span`, for other formats that show source (HTML);
/// `None` when the span does not fit the source.
pub(super) fn plain_frame(source: &str, span: &SourceSpan) -> Option<String> {
    let mut buffer = Vec::new();
    write_frame(
        &mut buffer,
        Paint { enabled: false },
        source,
        span,
        FrameKind::Full,
    )
    .ok()?;
    let frame = String::from_utf8(buffer).ok()?;
    (!frame.is_empty()).then_some(frame)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    /// The finding's own span, with context lines and the whole span underlined.
    Full,
    /// A related location: its first line only, indented under the note.
    OneLine,
}

/// Prints the lines around `span` with a gutter and an underline. Prints nothing when
/// the span does not fit the source (a stale source or a bad position): a missing
/// frame is better than a wrong one.
fn write_frame(
    out: &mut dyn Write,
    paint: Paint,
    source: &str,
    span: &SourceSpan,
    kind: FrameKind,
) -> io::Result<()> {
    let lines: Vec<&str> = source
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    let line_count = lines.len() as u32;
    let Some((start, end)) = normalize(span, &lines) else {
        return Ok(());
    };
    let (start_line, start_col) = start;
    let (end_line, end_col) = end;
    let line_text = |number: u32| lines[(number - 1) as usize];

    // Which lines to print; `None` stands for the `...` that elides the middle of a
    // long span.
    let mut shown: Vec<Option<u32>> = Vec::new();
    let indent;
    match kind {
        FrameKind::OneLine => {
            indent = "    ";
            shown.push(Some(start_line));
        }
        FrameKind::Full => {
            indent = "";
            let mut first = start_line.saturating_sub(CONTEXT_LINES).max(1);
            let mut last = (end_line + CONTEXT_LINES).min(line_count);
            // Blank context says nothing; ruff trims it too.
            while first < start_line && line_text(first).trim().is_empty() {
                first += 1;
            }
            while last > end_line && line_text(last).trim().is_empty() {
                last -= 1;
            }
            for number in first..=last {
                let in_elided_middle = end_line - start_line + 1 > MAX_SPAN_LINES
                    && number > start_line + 2
                    && number + 2 < end_line;
                if !in_elided_middle {
                    shown.push(Some(number));
                } else if shown.last() != Some(&None) {
                    shown.push(None);
                }
            }
        }
    }

    let last_number = shown.iter().flatten().copied().max().unwrap_or(start_line);
    let width = last_number.to_string().len();
    let blank_gutter = format!("{indent}{:width$} {}", "", paint.apply(BLUE_BOLD, "|"));
    if kind == FrameKind::Full {
        writeln!(out, "{blank_gutter}")?;
    }
    for entry in shown {
        let Some(number) = entry else {
            writeln!(out, "{indent}{}", paint.apply(BLUE_BOLD, "..."))?;
            continue;
        };
        let rendered = RenderedLine::new(line_text(number));
        let gutter = paint.apply(BLUE_BOLD, &format!("{number:>width$} |"));
        if rendered.text.is_empty() {
            writeln!(out, "{indent}{gutter}")?;
        } else {
            writeln!(out, "{indent}{gutter} {}", rendered.text)?;
        }
        if number < start_line || number > end_line {
            continue;
        }
        // Underline from the span start (or the first non-blank character on later
        // lines) to the span end (or the end of the line on earlier lines).
        let chars = rendered.columns.len() - 1;
        let from = if number == start_line {
            start_col
        } else {
            rendered.first_non_blank
        };
        let mut to = if number == end_line { end_col } else { chars };
        if to <= from {
            if number != start_line {
                continue;
            }
            to = from + 1;
        }
        let from_width = rendered.columns[from.min(chars)];
        let to_width = rendered.columns[to.min(chars)];
        let carets = to_width.saturating_sub(from_width).max(1);
        writeln!(
            out,
            "{blank_gutter} {}{}",
            " ".repeat(from_width),
            paint.apply(RED_BOLD, &"^".repeat(carets))
        )?;
    }
    if kind == FrameKind::Full {
        writeln!(out, "{blank_gutter}")?;
    }
    Ok(())
}

/// Turns the span's 1-based character positions into 0-based character indexes, or
/// `None` when the start is not in the source. An end before the start becomes an
/// empty span at the start; an end at column 1 belongs to the line above (the span
/// stopped at a newline), so it is moved there to avoid underlining nothing.
fn normalize(span: &SourceSpan, lines: &[&str]) -> Option<((u32, usize), (u32, usize))> {
    let line_count = lines.len() as u32;
    let chars_in = |line: u32| lines[(line - 1) as usize].chars().count();
    let start_line = span.start.line;
    if start_line == 0 || start_line > line_count {
        return None;
    }
    let start_col = (span.start.column.max(1) - 1) as usize;
    if start_col > chars_in(start_line) {
        return None;
    }
    let mut end_line = span.end.line.min(line_count);
    let mut end_col = if span.end.line > line_count {
        chars_in(end_line)
    } else {
        (span.end.column.max(1) - 1) as usize
    };
    if (end_line, end_col) < (start_line, start_col) {
        end_line = start_line;
        end_col = start_col;
    }
    if end_line > start_line && end_col == 0 {
        end_line -= 1;
        end_col = chars_in(end_line);
    }
    Some((
        (start_line, start_col),
        (end_line, end_col.min(chars_in(end_line))),
    ))
}

/// A source line as printed: tabs expanded, control characters made visible, and the
/// display column where each character starts (wide CJK characters take two columns,
/// combining marks none), so the underline lands under the right characters.
struct RenderedLine {
    text: String,
    /// `columns[i]` is where character `i` starts; the last entry is the total width.
    columns: Vec<usize>,
    first_non_blank: usize,
}

impl RenderedLine {
    fn new(line: &str) -> RenderedLine {
        let mut text = String::with_capacity(line.len());
        let mut columns = Vec::with_capacity(line.len() + 1);
        let mut column = 0;
        for c in line.chars() {
            columns.push(column);
            if c == '\t' {
                let next = (column / TAB_WIDTH + 1) * TAB_WIDTH;
                text.extend(std::iter::repeat_n(' ', next - column));
                column = next;
                continue;
            }
            let before = text.len();
            push_visible(&mut text, c);
            column += text[before..]
                .chars()
                .map(|shown| shown.width().unwrap_or(0))
                .sum::<usize>();
        }
        columns.push(column);
        let first_non_blank = line.chars().position(|c| !c.is_whitespace()).unwrap_or(0);
        RenderedLine {
            text: text.trim_end().to_owned(),
            columns,
            first_non_blank,
        }
    }
}

const RED_BOLD: &str = "1;31";
const GREEN_BOLD: &str = "1;32";
const YELLOW: &str = "33";
const CYAN_BOLD: &str = "1;36";
const BLUE_BOLD: &str = "1;34";

fn severity_style(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "1;35",
        Severity::High => RED_BOLD,
        Severity::Medium => "1;33",
        Severity::Low => CYAN_BOLD,
    }
}

/// ANSI styling that is a no-op when colour is off.
#[derive(Clone, Copy)]
struct Paint {
    enabled: bool,
}

impl Paint {
    fn apply(self, sgr: &str, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn bold(self, text: &str) -> String {
        self.apply("1", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Position;

    fn frame(source: &str, start: (u32, u32), end: (u32, u32), kind: FrameKind) -> String {
        let span = SourceSpan {
            path: "f.py".into(),
            start: Position {
                line: start.0,
                column: start.1,
            },
            end: Position {
                line: end.0,
                column: end.1,
            },
        };
        let mut out = Vec::new();
        write_frame(&mut out, Paint { enabled: false }, source, &span, kind).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn underlines_after_tabs_and_wide_characters() {
        // The tab takes 4 columns and each of 日本 two, so the carets start at 9.
        let text = frame("\tx = \"日本\" + y\n", (1, 7), (1, 9), FrameKind::Full);
        let expected = format!(
            "  |\n1 |     x = \"日本\" + y\n  | {}^^^^\n  |\n",
            " ".repeat(9)
        );
        assert_eq!(text, expected, "{text}");
    }

    #[test]
    fn no_frame_for_positions_outside_the_source() {
        assert_eq!(frame("a\n", (5, 1), (5, 2), FrameKind::Full), "");
        assert_eq!(frame("a\n", (1, 9), (1, 10), FrameKind::Full), "");
    }

    #[test]
    fn end_at_column_one_belongs_to_the_line_above() {
        let text = frame(
            "def f():\n    pass\nx = 1\n",
            (1, 1),
            (3, 1),
            FrameKind::Full,
        );
        // Line 3 is context, not underlined.
        assert!(text.ends_with("3 | x = 1\n  |\n"), "{text}");
        assert!(text.contains("  |     ^^^^\n"), "{text}");
    }

    #[test]
    fn elides_the_middle_of_long_spans() {
        let source: String = (1..=12).map(|n| format!("line{n}\n")).collect();
        let text = frame(&source, (2, 1), (11, 7), FrameKind::Full);
        assert!(text.contains("\n...\n"), "{text}");
        assert!(!text.contains("line6"), "{text}");
        assert!(text.contains("11 | line11"), "{text}");
    }

    #[test]
    fn escapes_hidden_characters_in_source() {
        let text = frame("x = 1\u{1b}[2J\n", (1, 1), (1, 2), FrameKind::OneLine);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains('\u{241b}'), "{text}");
    }
}
