//! GitHub Actions workflow commands (`::error file=..,line=..::message`), which the
//! runner turns into annotations on the pull request.

use std::io::{self, Write};

use super::Report;
use crate::{Location, Severity, Status};

pub(super) fn render(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    for finding in report.findings {
        let level = match finding.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low => "notice",
        };
        let title = match report.rule(&finding.code) {
            Some(rule) => format!("{} ({})", finding.code, rule.name),
            None => finding.code.clone(),
        };
        // An annotation holds one message; the fix and the status go on lines of their
        // own inside it rather than in separate annotations.
        let mut message = String::new();
        if let Location::Http(http) = &finding.location {
            message.push_str(&format!("{} {}: ", http.method, http.url));
        }
        message.push_str(&finding.message);
        if let Some(fix) = &finding.fix {
            message.push_str("\nhelp: ");
            message.push_str(fix);
        }
        if let Some(status) = &finding.status {
            message.push_str("\nstatus: ");
            message.push_str(status.label());
            if let Status::NotTested { reason } = status {
                message.push_str(": ");
                message.push_str(reason);
            }
        }
        write_command(out, level, &finding.location, &title, &message)?;
    }
    for error in report.errors {
        let mut message = String::new();
        if let Location::Http(http) = &error.location {
            message.push_str(&format!("{} {}: ", http.method, http.url));
        }
        message.push_str(&error.message);
        write_command(out, "error", &error.location, &error.code, &message)?;
    }
    Ok(())
}

fn write_command(
    out: &mut dyn Write,
    level: &str,
    location: &Location,
    title: &str,
    message: &str,
) -> io::Result<()> {
    let mut properties = Vec::new();
    if let Location::Source(span) = location {
        // GitHub matches annotations to files by repository-relative path with `/`.
        let path = span.path.to_string_lossy().replace('\\', "/");
        properties.push(format!("file={}", escape_property(&path)));
        properties.push(format!("line={}", span.start.line));
        properties.push(format!("col={}", span.start.column));
        properties.push(format!("endLine={}", span.end.line));
        properties.push(format!("endColumn={}", span.end.column));
    }
    properties.push(format!("title={}", escape_property(title)));
    writeln!(
        out,
        "::{level} {}::{}",
        properties.join(","),
        escape_data(message)
    )
}

/// The runner's escaping for a command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The runner's escaping for a property value, where `:` and `,` are separators.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_per_the_runner_rules() {
        assert_eq!(escape_data("50%\r\nok: a,b"), "50%25%0D%0Aok: a,b");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
