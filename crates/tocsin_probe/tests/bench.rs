//! Release-spread benchmark (ignored by default; run with
//! `cargo test -p tocsin_probe --release --test bench -- --ignored --nocapture`).
//!
//! A server records each request's final-byte arrival with the kernel's receive timestamp;
//! the spread of those arrivals is measured for each release method, next to a naive
//! Python thread-pool sender (requests) and a hand-written Python last-byte sender.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};
use nix::sys::time::TimeSpec;
use std::io::IoSliceMut;
use tocsin_probe::engine::{Engine, EngineConfig, Origin, Request, SyncMode, Url};
use tocsin_probe::scope::Scope;

/// A server that reads each request's final byte with its kernel receive timestamp
/// (SO_TIMESTAMPNS): the spread then measures the wire, not this server's scheduling.
struct StampServer {
    addr: std::net::SocketAddr,
    /// Kernel arrival time (ns since the epoch) of each request's final byte.
    finals: Arc<Mutex<Vec<i128>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn enable_timestamps(fd: &impl std::os::fd::AsFd) {
    setsockopt(fd, sockopt::ReceiveTimestampns, &true).expect("SO_TIMESTAMPNS");
}

/// Reads one request on a single-threaded event loop (as async servers do: no thread
/// per connection to wake, which on two cores would preempt the sender being measured).
async fn serve_stamped(stream: tokio::net::TcpStream, finals: Arc<Mutex<Vec<i128>>>) {
    use std::os::fd::AsRawFd;
    use tokio::io::{AsyncWriteExt, Interest};
    let mut stream = stream;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut cmsg = nix::cmsg_space!(TimeSpec);
    let fd = stream.as_raw_fd();
    loop {
        let read = tokio::time::timeout(
            Duration::from_secs(10),
            stream.async_io(Interest::READABLE, || {
                let mut iov = [IoSliceMut::new(&mut chunk)];
                let msg = recvmsg::<()>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)
                    .map_err(std::io::Error::from)?;
                let stamp = msg.cmsgs().ok().and_then(|mut c| {
                    c.find_map(|m| match m {
                        ControlMessageOwned::ScmTimestampns(ts) => {
                            Some(ts.tv_sec() as i128 * 1_000_000_000 + ts.tv_nsec() as i128)
                        }
                        _ => None,
                    })
                });
                Ok((msg.bytes, stamp))
            }),
        )
        .await;
        let Ok(Ok((n, stamp))) = read else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= pos + 4 + len {
                if let Some(stamp) = stamp {
                    finals.lock().unwrap().push(stamp);
                }
                break;
            }
        }
    }
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .await;
}

fn kernel_stamp(msg: &nix::sys::socket::RecvMsg<'_, '_, ()>) -> Option<i128> {
    msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|m| match m {
            ControlMessageOwned::ScmTimestampns(ts) => {
                Some(ts.tv_sec() as i128 * 1_000_000_000 + ts.tv_nsec() as i128)
            }
            _ => None,
        })
    })
}

/// The server side of an h2 connection that stamps each END_STREAM DATA frame with the
/// kernel receive time of the read that delivered it.
struct StampedH2Io {
    inner: tokio::net::TcpStream,
    finals: Arc<Mutex<Vec<i128>>>,
    preface_left: usize,
    pending: Vec<u8>,
}

impl tokio::io::AsyncRead for StampedH2Io {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::os::fd::AsRawFd;
        use std::task::Poll;
        loop {
            match self.inner.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            let fd = self.inner.as_raw_fd();
            let unfilled = buf.initialize_unfilled();
            let read = self.inner.try_io(tokio::io::Interest::READABLE, || {
                let mut cmsg = nix::cmsg_space!(TimeSpec);
                let mut iov = [IoSliceMut::new(unfilled)];
                let msg = recvmsg::<()>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_DONTWAIT)
                    .map_err(std::io::Error::from)?;
                Ok((msg.bytes, kernel_stamp(&msg)))
            });
            match read {
                Ok((n, stamp)) => {
                    let data = buf.initialize_unfilled()[..n].to_vec();
                    buf.advance(n);
                    let this = &mut *self;
                    let skip = this.preface_left.min(data.len());
                    this.preface_left -= skip;
                    this.pending.extend_from_slice(&data[skip..]);
                    while this.pending.len() >= 9 {
                        let p = &this.pending;
                        let len = u32::from_be_bytes([0, p[0], p[1], p[2]]) as usize;
                        if p.len() < 9 + len {
                            break;
                        }
                        if p[3] == 0 && p[4] & 1 == 1 {
                            if let Some(stamp) = stamp {
                                this.finals.lock().unwrap().push(stamp);
                            }
                        }
                        this.pending.drain(..9 + len);
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl tokio::io::AsyncWrite for StampedH2Io {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn serve_h2_stamped(sock: tokio::net::TcpStream, finals: Arc<Mutex<Vec<i128>>>) {
    let io = StampedH2Io {
        inner: sock,
        finals,
        preface_left: 24,
        pending: Vec::new(),
    };
    let Ok(mut conn) = h2::server::handshake(io).await else {
        return;
    };
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        tokio::spawn(async move {
            let mut body = request.into_body();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            let response = http::Response::builder().status(200).body(()).unwrap();
            if let Ok(mut send) = respond.send_response(response, false) {
                let _ = send.send_data(bytes::Bytes::from_static(b"ok"), true);
            }
        });
    }
}

impl StampServer {
    fn start() -> StampServer {
        Self::start_with(false)
    }

    fn start_h2() -> StampServer {
        Self::start_with(true)
    }

    fn start_with(h2: bool) -> StampServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // Accepted sockets inherit it, so even bytes that arrive before accept() are stamped.
        enable_timestamps(&listener);
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let finals = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (f2, s2) = (finals.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let deadline = Instant::now() + Duration::from_secs(120);
                while !s2.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let Ok(Ok((sock, _))) =
                        tokio::time::timeout(Duration::from_millis(20), listener.accept()).await
                    else {
                        continue;
                    };
                    enable_timestamps(&sock);
                    if h2 {
                        tokio::spawn(serve_h2_stamped(sock, f2.clone()));
                    } else {
                        tokio::spawn(serve_stamped(sock, f2.clone()));
                    }
                }
            });
        });
        StampServer {
            addr,
            finals,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits (bounded) for `n` arrivals and returns their spread.
    fn spread(&self, n: usize) -> Option<Duration> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let finals = self.finals.lock().unwrap().clone();
            if finals.len() >= n {
                let min = finals.iter().min()?;
                let max = finals.iter().max()?;
                return Some(Duration::from_nanos((max - min) as u64));
            }
            if Instant::now() > deadline {
                eprintln!("only {} of {n} arrivals were stamped", finals.len());
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for StampServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn python() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    [
        std::env::var_os("TOCSIN_PYTHON").map(PathBuf::from),
        // What scripts/test.sh exports.
        std::env::var_os("TOCSIN_TEST_PYTHON").map(PathBuf::from),
        Some(workspace),
        Some(PathBuf::from("/work/main/.venv/bin/python")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.exists())
}

fn engine_run(mode: SyncMode, n: usize, settle_ms: u64) -> Option<Duration> {
    let server = if mode == SyncMode::SinglePacket {
        StampServer::start_h2()
    } else {
        StampServer::start()
    };
    let origin = format!("http://{}", server.addr);
    let engine = Engine::new(
        EngineConfig {
            max_rate: 1e6,
            settle: Duration::from_millis(settle_ms),
            ..EngineConfig::default()
        },
        Scope::new([Origin::parse(&origin).unwrap()]),
    );
    let requests: Vec<Request> = (0..n)
        .map(|i| {
            Request::new("POST", Url::parse(&format!("{origin}/r/{i}")).unwrap())
                .body(format!("payload-{i}"))
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let batch = rt.block_on(engine.batch(requests, mode)).unwrap();
    assert!(batch.exchanges.iter().all(|e| e.status() == Some(200)));
    server.spread(n)
}

/// The floor: blocking std sockets, one plain write() per final byte, nothing else.
fn raw_std_run(n: usize, threads: usize) -> Option<Duration> {
    use std::io::Write;
    let server = StampServer::start();
    let mut conns = Vec::new();
    for i in 0..n {
        let body = format!("payload-{i}");
        let req = format!(
            "POST /r/{i} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        let mut s = std::net::TcpStream::connect(server.addr).ok()?;
        s.set_nodelay(true).ok()?;
        s.write_all(&req[..req.len() - 1]).ok()?;
        conns.push((s, req[req.len() - 1]));
    }
    std::thread::sleep(Duration::from_millis(50));
    if threads <= 1 {
        for (s, last) in &mut conns {
            s.write_all(&[*last]).ok()?;
        }
    } else {
        // Split across threads that spin on one flag, then write their share.
        let go = AtomicBool::new(false);
        let chunk = conns.len().div_ceil(threads);
        std::thread::scope(|scope| {
            for part in conns.chunks_mut(chunk) {
                let go = &go;
                scope.spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    for (s, last) in part {
                        let _ = s.write_all(&[*last]);
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(5));
            go.store(true, Ordering::Release);
        });
    }
    server.spread(n)
}

fn python_run(script: &str, n: usize) -> Option<Duration> {
    let py = python()?;
    let server = StampServer::start();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench");
    let mut cmd = Command::new(py);
    cmd.arg(dir.join(script));
    if script.starts_with("naive") {
        cmd.arg(format!("http://{}/r", server.addr))
            .arg(n.to_string());
    } else {
        cmd.arg("127.0.0.1")
            .arg(server.addr.port().to_string())
            .arg(n.to_string());
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!("{script} failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    server.spread(n)
}

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    Some(v[v.len() / 2])
}

fn fmt(d: Option<Duration>) -> String {
    d.map_or("n/a".into(), |d| format!("{:.3} ms", d.as_secs_f64() * 1e3))
}

#[test]
#[ignore = "benchmark: run explicitly"]
fn release_spread_benchmark() {
    const ROUNDS: usize = 5;
    for n in [20usize, 100] {
        let run =
            |f: &dyn Fn() -> Option<Duration>| median((0..ROUNDS).filter_map(|_| f()).collect());
        let last_byte = run(&|| engine_run(SyncMode::LastByte, n, 50));
        let last_byte_no_settle = run(&|| engine_run(SyncMode::LastByte, n, 0));
        let none = run(&|| engine_run(SyncMode::None, n, 50));
        let raw = run(&|| raw_std_run(n, 1));
        let raw2 = run(&|| raw_std_run(n, 2));
        let single = run(&|| engine_run(SyncMode::SinglePacket, n, 50));
        let py_naive = run(&|| python_run("naive_sender.py", n));
        let py_last = run(&|| python_run("last_byte_sender.py", n));
        let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) if !a.is_zero() => {
                format!("{:.1}x", b.as_secs_f64() / a.as_secs_f64())
            }
            _ => "n/a".into(),
        };
        println!("n={n} (median of {ROUNDS}, server-measured final-byte arrival spread)");
        println!("  tocsin last-byte       {}", fmt(last_byte));
        println!(
            "  tocsin last-byte, no settle pause {}",
            fmt(last_byte_no_settle)
        );
        println!("  raw std write loop     {}", fmt(raw));
        println!("  raw std, 2 threads     {}", fmt(raw2));
        println!("  tocsin single-packet   {}", fmt(single));
        println!("  tocsin none            {}", fmt(none));
        println!(
            "  python last-byte       {}   (tocsin last-byte is {} tighter)",
            fmt(py_last),
            ratio(last_byte, py_last)
        );
        println!(
            "  python requests pool   {}   (tocsin last-byte is {} tighter)",
            fmt(py_naive),
            ratio(last_byte, py_naive)
        );
    }
}
