//! One line per finding, for scripts and quick reading: `path:line:col: CODE [severity]
//! message`, then one line per input error and the summary.

use std::io::{self, Write};

use super::{errors_line, escape_controls, summary_line, Report};

pub(super) fn render(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    for finding in report.findings {
        write!(
            out,
            "{}: {} [{}] {}",
            escape_controls(&finding.location.to_string()),
            finding.code,
            finding.severity,
            escape_controls(&finding.message)
        )?;
        if let Some(status) = &finding.status {
            write!(out, " [{}]", status.label())?;
        }
        writeln!(out)?;
    }
    for error in report.errors {
        writeln!(
            out,
            "{}: {} {}",
            escape_controls(&error.location.to_string()),
            error.code,
            escape_controls(&error.message)
        )?;
    }
    writeln!(out, "{}", summary_line(report))?;
    if let Some(line) = errors_line(report) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
