//! `tocsin completions SHELL` and `tocsin man [COMMAND]`: generated from the clap
//! definition in `args`, so they never drift from the real flags.

use std::io::{self, Write};

use anyhow::{bail, Context as _, Result};
use clap::CommandFactory;

use crate::args::Cli;
use crate::ExitStatus;

pub fn completions(shell: clap_complete::Shell) -> Result<ExitStatus> {
    let mut command = Cli::command();
    let mut out = io::stdout().lock();
    clap_complete::generate(shell, &mut command, "tocsin", &mut out);
    out.flush().context("writing the completions")?;
    Ok(ExitStatus::Clean)
}

pub fn man(subcommand: Option<&str>) -> Result<ExitStatus> {
    let mut command = Cli::command();
    command.build();
    let page = match subcommand {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                bail!("unknown command `{name}` (see `tocsin --help`)");
            };
            // After `build`, a subcommand's display name is `tocsin-check`: the page is
            // `tocsin-check(1)`, as git and cargo name theirs.
            sub.clone()
        }
    };
    let mut buffer = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buffer)
        .context("rendering the man page")?;
    let mut out = io::stdout().lock();
    out.write_all(&buffer).context("writing the man page")?;
    out.flush().context("writing the man page")?;
    Ok(ExitStatus::Clean)
}
