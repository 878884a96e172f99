//! The JSON format: one stable, pretty-printed object holding everything the report has.
//! Field order is fixed by the structs below (not by a map), so diffs of two runs stay
//! readable.

use std::io::{self, Write};

use serde::Serialize;

use super::{Report, SeverityCounts};
use crate::{Finding, InputError};

#[derive(Serialize)]
struct JsonReport<'a> {
    version: &'a str,
    findings: &'a [Finding],
    errors: &'a [InputError],
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    findings: usize,
    by_severity: SeverityCounts,
    errors: usize,
}

pub(super) fn render(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let document = JsonReport {
        version: report.tool_version,
        findings: report.findings,
        errors: report.errors,
        summary: Summary {
            findings: report.findings.len(),
            by_severity: report.severity_counts(),
            errors: report.errors.len(),
        },
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}
