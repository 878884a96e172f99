//! `tocsin rules` and `tocsin rule CODE`: the rules' own docs, one source of truth.

use std::io::{self, Write};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::args::{RulesArgs, RulesFormat};
use crate::ExitStatus;

#[derive(Serialize)]
struct RuleOut<'a> {
    code: &'a str,
    name: &'a str,
    severity: &'a str,
    summary: &'a str,
}

pub fn list(args: &RulesArgs) -> Result<ExitStatus> {
    let mut out = io::stdout().lock();
    let rules = tocsin_rules::all_rule_meta();
    match args.format {
        RulesFormat::Json => {
            let list: Vec<RuleOut> = rules
                .iter()
                .map(|m| RuleOut {
                    code: m.code,
                    name: m.name,
                    severity: m.severity.as_str(),
                    summary: m.summary,
                })
                .collect();
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        RulesFormat::Markdown => {
            let rules: Vec<_> = rules.iter().map(|m| **m).collect();
            write!(out, "{}", crate::rules_doc::reference(&rules))?;
        }
        RulesFormat::Table => {
            for m in rules {
                writeln!(
                    out,
                    "{:8} {:9} {:40} {}",
                    m.code,
                    m.severity.as_str(),
                    m.name,
                    m.summary
                )?;
            }
        }
    }
    Ok(ExitStatus::Clean)
}

pub fn show(code: &str) -> Result<ExitStatus> {
    let Some(meta) = tocsin_rules::rule_by_code(code) else {
        bail!("unknown rule `{code}` (see `tocsin rules`)");
    };
    let mut out = io::stdout().lock();
    write!(out, "{}", crate::rules_doc::rule_page(meta))?;
    Ok(ExitStatus::Clean)
}
