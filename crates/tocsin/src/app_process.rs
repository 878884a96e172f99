//! Starts the app under test for `tocsin scan --run`, waits until it answers, and
//! always stops it: the command runs in its own process group, which is terminated
//! (then killed) when the guard drops, on Ctrl-C, on errors and on timeouts.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Terminates a process group, then kills what is left of it after `grace`.
pub fn stop_group(pgid: i32, grace: Duration, child: Option<&mut Child>) {
    if pgid <= 0 {
        return;
    }
    let group = Pid::from_raw(pgid);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    if let Some(child) = child {
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        // Whatever is left of the group (workers, reloaders) goes now.
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait();
    } else {
        std::thread::sleep(grace.min(Duration::from_millis(200)));
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// A free port on 127.0.0.1 (bound, then released for the app to take).
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(listener
        .local_addr()
        .context("reading the free port")?
        .port())
}

pub struct AppProcess {
    child: Child,
    pgid: i32,
    pub port: u16,
    pub log: PathBuf,
}

impl AppProcess {
    /// Runs `command` with `sh -c` in its own process group. `{port}` in the command
    /// and `$PORT` in its environment name the port.
    pub fn start(command: &str, port: u16, log_dir: &Path) -> Result<AppProcess> {
        crate::interrupt::install();
        let log = log_dir.join("app.log");
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("opening the app log")?;
        let command_line = command.replace("{port}", &port.to_string());
        use std::os::unix::process::CommandExt;
        let child = Command::new("sh")
            .arg("-c")
            .arg(&command_line)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting the app: sh -c {command_line:?}"))?;
        let pgid = i32::try_from(child.id()).unwrap_or(0);
        crate::interrupt::set_app_group(pgid);
        Ok(AppProcess {
            child,
            pgid,
            port,
            log,
        })
    }

    /// Polls until the app answers an HTTP request on `path`, it exits, or `timeout`
    /// passes.
    pub fn wait_ready(&mut self, path: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "the app exited before it was ready ({status}); its output:\n{}",
                    self.log_tail()
                );
            }
            if answers_http(addr, path) {
                return Ok(());
            }
            if crate::interrupt::requested() {
                bail!("interrupted while waiting for the app to answer");
            }
            if Instant::now() >= deadline {
                bail!(
                    "the app did not answer on 127.0.0.1:{} within {:.0} s; its output:\n{}",
                    self.port,
                    timeout.as_secs_f64(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        crate::interrupt::set_app_group(0);
        stop_group(self.pgid, Duration::from_secs(3), Some(&mut self.child));
    }
}

/// Does something on `addr` answer an HTTP request with a status line?
fn answers_http(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    matches!(stream.read(&mut head), Ok(n) if n >= 5 && head.starts_with(b"HTTP/"))
}
