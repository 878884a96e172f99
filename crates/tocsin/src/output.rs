//! Where a report goes: standard output, or a file written atomically (a temp file
//! in the same directory, renamed into place once complete), so a failed or
//! interrupted run never leaves a truncated report behind.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

pub enum Output {
    Stdout(BufWriter<io::Stdout>),
    File {
        writer: BufWriter<File>,
        temp: PathBuf,
        target: PathBuf,
    },
}

impl Output {
    pub fn open(path: Option<&Path>) -> Result<Output> {
        match path {
            None => Ok(Output::Stdout(BufWriter::new(io::stdout()))),
            Some(target) => {
                let dir = target
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let name = target
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let temp = dir.join(format!(".{name}.tocsin-{}.tmp", std::process::id()));
                let file =
                    File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
                Ok(Output::File {
                    writer: BufWriter::new(file),
                    temp,
                    target: target.to_path_buf(),
                })
            }
        }
    }

    pub fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(w) => w,
            Output::File { writer, .. } => writer,
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, Output::Stdout(_)) && io::stdout().is_terminal()
    }

    pub fn commit(self) -> Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush().context("writing to standard output"),
            Output::File {
                writer,
                temp,
                target,
            } => {
                let file = writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .context("writing the report")?;
                file.sync_all().ok();
                drop(file);
                std::fs::rename(&temp, &target).with_context(|| {
                    format!("moving the report into place at {}", target.display())
                })
            }
        }
    }
}
