//! Prints the SARIF of the test suite's sample report, to feed the validator:
//!
//! ```sh
//! cargo run -p tocsin_diagnostics --example sample_sarif > /tmp/sample.sarif
//! scripts/validate-sarif.sh /tmp/sample.sarif
//! ```
//!
//! Pass another format name (`text`, `html`, ...) to print that instead.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{self, Write};
use std::process::ExitCode;

use tocsin_diagnostics::{render, Format, RenderOptions};

fn main() -> ExitCode {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sarif".to_owned());
    let Some(format) = Format::parse(&name) else {
        eprintln!("unknown format {name:?}");
        return ExitCode::from(2);
    };
    let sample = support::sample();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match render(format, &sample.report(), RenderOptions::default(), &mut out)
        .and_then(|()| out.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sample_sarif: {error}");
            ExitCode::FAILURE
        }
    }
}
