//! Hostile servers: small servers on 127.0.0.1 that misbehave on purpose (endless heads
//! and bodies, drips, lying lengths, garbage, resets, hostile HTTP/2 frames, redirect
//! loops). Each test runs the real engine (and the CLI entry points) against one and
//! asserts on outcomes only: the run ends on its own configured timeouts, the failure is
//! an error naming the request, reads stop at the caps, and the rest of the batch or run
//! carries on. No assertion is about how long anything took.
//!
//! Every server is bounded: it stops when dropped, and every connection it serves stops
//! after a few seconds whatever the client does.
//!
//! The redirect to another host (not followed, no credentials sent off scope) is covered
//! by `off_scope_redirect_is_not_followed` and `credentials_never_follow_a_redirect` in
//! `tests/safety.rs`.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Parser;
use support::{Resp, TestServer};
use tocsin_diagnostics::Location;
use tocsin_probe::cli::{run_probe_with_env, run_race, ProbeArgs, RaceArgs};
use tocsin_probe::engine::{
    Engine, EngineConfig, EngineError, Exchange, Origin, ParseError, ParseLimits, Request,
    SyncMode, Url,
};
use tocsin_probe::scope::Scope;

/// How long one hostile connection may live, whatever the client does.
const CONNECTION_LIFE: Duration = Duration::from_secs(8);

/// Short timeouts so every test is fast; the outcomes, not the times, are asserted.
fn quick_config() -> EngineConfig {
    EngineConfig {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(3),
        max_rate: 10_000.0,
        settle: Duration::from_millis(5),
        ..EngineConfig::default()
    }
}

/// What a hostile connection may check: whether it should keep going.
struct Life {
    until: Instant,
    stop: Arc<AtomicBool>,
    /// Connections the client closed while [`Life::hold`] held them.
    hung_up: Arc<AtomicUsize>,
}

impl Life {
    fn alive(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.until
    }

    /// Sleeps in small steps; false when the connection's life is over.
    fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if !self.alive() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.alive()
    }

    /// Holds the connection open until the client closes it or life ends.
    fn hold(&self, s: &mut TcpStream) {
        let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
        let mut sink = [0u8; 1024];
        while self.alive() {
            match s.read(&mut sink) {
                Ok(0) => {
                    self.hung_up.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    }
}

/// A raw TCP server: each connection goes to `serve` on its own thread.
struct RawServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Bytes the misbehaving responses managed to write (body or header filler).
    written: Arc<AtomicUsize>,
    hung_up: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

type Serve = Arc<dyn Fn(TcpStream, &Life, &AtomicUsize) + Send + Sync>;

impl RawServer {
    fn start(serve: impl Fn(TcpStream, &Life, &AtomicUsize) + Send + Sync + 'static) -> Self {
        let serve: Serve = Arc::new(serve);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicUsize::new(0));
        let hung_up = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, written, hung_up) = (stop.clone(), written.clone(), hung_up.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut conns = Vec::new();
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_nodelay(true);
                            // A client that stops reading cannot block a writer forever.
                            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                            let (serve, written) = (serve.clone(), written.clone());
                            let life = Life {
                                until: Instant::now() + CONNECTION_LIFE,
                                stop: stop.clone(),
                                hung_up: hung_up.clone(),
                            };
                            conns.push(std::thread::spawn(move || serve(s, &life, &written)));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
                for c in conns {
                    let _ = c.join();
                }
            })
        };
        RawServer {
            addr,
            stop,
            written,
            hung_up,
            thread: Some(thread),
        }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.origin())).expect("url")
    }

    fn engine(&self, config: EngineConfig) -> Engine {
        engine_at(&self.origin(), config)
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads an HTTP/1.1 request head (the engine sends GETs here: no body) and returns its
/// path; `None` when the client sent no complete head in time.
fn read_head(s: &mut TcpStream) -> Option<String> {
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let path = text.split(' ').nth(1)?;
    Some(path.split('?').next().unwrap_or(path).to_string())
}

/// Sets SO_LINGER to zero, so dropping the socket sends a TCP reset instead of a FIN.
fn reset_on_drop(s: &TcpStream) {
    use nix::sys::socket::{setsockopt, sockopt};
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = setsockopt(s, sockopt::Linger, &linger);
}

/// One HTTP/1.1 server that misbehaves by path; `/ok` is a well-behaved answer.
fn hostile_http1() -> RawServer {
    RawServer::start(|mut s, life, written| {
        let Some(path) = read_head(&mut s) else {
            return;
        };
        let filler = "a".repeat(40);
        let _ = (|| -> std::io::Result<()> {
            match path.as_str() {
                "/ok" => s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
                // Header lines, one after another, never followed by the blank line.
                "/endless-headers" => {
                    s.write_all(b"HTTP/1.1 200 OK\r\n")?;
                    let mut i = 0u64;
                    while life.alive() {
                        let line = format!("X-Filler-{i}: {filler}\r\n");
                        s.write_all(line.as_bytes())?;
                        written.fetch_add(line.len(), Ordering::Relaxed);
                        i += 1;
                    }
                    Ok(())
                }
                // A chunked body that never reaches its last chunk.
                "/chunked-forever" => {
                    s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
                    let chunk = format!("400\r\n{}\r\n", "z".repeat(0x400));
                    while life.alive() {
                        s.write_all(chunk.as_bytes())?;
                        written.fetch_add(0x400, Ordering::Relaxed);
                    }
                    Ok(())
                }
                // Content-Length promises far more than is sent; the connection stays open.
                "/held" => {
                    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nten bytes!")?;
                    life.hold(&mut s);
                    Ok(())
                }
                // One byte per second, each inside the read timeout of the tests that use it.
                "/drip" => {
                    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")?;
                    while life.sleep(Duration::from_secs(1)) {
                        s.write_all(b"x")?;
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                }
                // Content-Length shorter than what follows: the rest is not the body.
                "/cl-short" => s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA BYTES, NOT BODY",
                ),
                // Content-Length longer than what is sent before the close.
                "/cl-long" => {
                    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!")?;
                    s.shutdown(std::net::Shutdown::Write)
                }
                "/bad-status" => s.write_all(b"HTTP/1.1 OK 200\r\nContent-Length: 2\r\n\r\nok"),
                "/not-http" => s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
                // Half a response, then a TCP reset.
                "/reset" => {
                    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nhalf of it")?;
                    s.flush()?;
                    life.sleep(Duration::from_millis(50));
                    reset_on_drop(&s);
                    Ok(())
                }
                _ => s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            }
        })();
        // The socket drops here: a FIN, or a reset for `/reset`.
    })
}

fn get(server: &RawServer, path: &str) -> Request {
    Request::new("GET", server.url(path))
}

/// The failed exchange names its request: method and URL.
fn failed<'a>(e: &'a Exchange, path: &str) -> &'a EngineError {
    assert_eq!(e.request.method, "GET");
    assert!(e.request.url.to_string().ends_with(path), "{:?}", e.request);
    match &e.result {
        Err(err) => err,
        Ok(r) => panic!("{path}: expected an error, got status {}", r.status),
    }
}

/// A batch of `[/ok, path, /ok]` with every release method of HTTP/1.1: the hostile
/// request fails alone and both neighbours are answered.
async fn batch_around(server: &RawServer, config: EngineConfig, path: &str) -> Vec<Exchange> {
    let engine = server.engine(config);
    let mut out = Vec::new();
    for mode in [SyncMode::LastByte, SyncMode::None] {
        let batch = engine
            .batch(
                vec![get(server, "/ok"), get(server, path), get(server, "/ok")],
                mode,
            )
            .await
            .expect("the batch is sent");
        assert_eq!(batch.exchanges.len(), 3);
        for i in [0, 2] {
            let e = &batch.exchanges[i];
            assert_eq!(
                e.status(),
                Some(200),
                "{mode:?} neighbour {i}: {:?}",
                e.result
            );
            assert_eq!(e.response().map(|r| r.body.as_slice()), Some(&b"ok"[..]));
        }
        out.push(batch.exchanges[1].clone());
        // A lone request too.
        out.push(engine.send(get(server, path)).await);
    }
    out
}

#[tokio::test(flavor = "current_thread")]
async fn endless_headers_stop_at_the_head_cap() {
    let server = hostile_http1();
    let mut config = quick_config();
    config.limits.max_head_bytes = 8 * 1024;
    for e in batch_around(&server, config, "/endless-headers").await {
        let err = failed(&e, "/endless-headers");
        assert_eq!(*err, EngineError::Parse(ParseError::HeadTooLarge(8 * 1024)));
        assert!(err.to_string().contains("exceeds 8192 bytes"), "{err}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn endless_chunked_body_stops_at_the_body_cap() {
    let server = hostile_http1();
    let mut config = quick_config();
    config.limits = ParseLimits {
        max_body_bytes: 64 * 1024,
        max_body_kept: 4 * 1024,
        ..ParseLimits::default()
    };
    let engine = server.engine(config);
    let batch = engine
        .batch(
            vec![get(&server, "/ok"), get(&server, "/chunked-forever")],
            SyncMode::LastByte,
        )
        .await
        .expect("batch");
    assert_eq!(batch.exchanges[0].status(), Some(200));
    let e = engine.send(get(&server, "/chunked-forever")).await;
    for e in [&batch.exchanges[1], &e] {
        let r = e
            .response()
            .expect("a truncated response is still a response");
        assert!(r.truncated, "the cap must be reported");
        assert_eq!(r.body_len, 64 * 1024, "reading stops at the cap");
        assert_eq!(r.body.len(), 4 * 1024, "only max_body_kept is kept");
    }
    eprintln!(
        "chunked-forever: the server wrote {} body bytes before the engine hung up",
        server.written.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn content_length_held_open_ends_on_the_read_timeout() {
    let server = hostile_http1();
    for e in batch_around(&server, quick_config(), "/held").await {
        assert_eq!(*failed(&e, "/held"), EngineError::ReadTimeout);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn slow_drip_ends_on_the_total_timeout() {
    let server = hostile_http1();
    // Each byte comes well within the read timeout; only the total timeout ends it.
    let config = EngineConfig {
        read_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_millis(1500),
        ..quick_config()
    };
    for e in batch_around(&server, config, "/drip").await {
        assert_eq!(*failed(&e, "/drip"), EngineError::TotalTimeout);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn content_length_lies_in_both_directions() {
    let server = hostile_http1();
    // Shorter: the body is what Content-Length says; the extra bytes are not read as body.
    let engine = server.engine(quick_config());
    let e = engine.send(get(&server, "/cl-short")).await;
    let r = e.response().expect("cl-short is a complete response");
    assert_eq!(r.body, b"hello");
    assert_eq!(r.body_len, 5);
    // Longer, then closed: an incomplete response, not a short body passed off as whole.
    for e in batch_around(&server, quick_config(), "/cl-long").await {
        assert_eq!(
            *failed(&e, "/cl-long"),
            EngineError::Parse(ParseError::Incomplete("body shorter than Content-Length"))
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn invalid_status_lines_are_parse_errors() {
    let server = hostile_http1();
    for path in ["/bad-status", "/not-http"] {
        for e in batch_around(&server, quick_config(), path).await {
            let err = failed(&e, path);
            assert!(
                matches!(err, EngineError::Parse(ParseError::StatusLine(_))),
                "{path}: {err:?}"
            );
            assert!(err.to_string().contains("malformed status line"), "{err}");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn reset_in_mid_response_is_an_io_error() {
    let server = hostile_http1();
    for e in batch_around(&server, quick_config(), "/reset").await {
        let err = failed(&e, "/reset");
        assert!(
            matches!(err, EngineError::Io(m) if m.to_lowercase().contains("reset")),
            "{err:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn redirect_loop_stops_at_the_hop_limit() {
    let server = TestServer::start(|_| Resp::new(302, "").header("Location", "/loop"));
    let engine = Engine::new(
        quick_config(),
        Scope::new([Origin::parse(&server.origin()).expect("origin")]),
    );
    let request = Request::new("GET", Url::parse(&server.url("/loop")).expect("url"));
    let followed = engine.send_following(request, 4, &[]).await;
    // The first request and four hops, then it stops and says why.
    assert_eq!(followed.chain.len(), 5);
    assert!(followed.chain.iter().all(|e| e.status() == Some(302)));
    assert_eq!(server.requests().len(), 5);
    assert!(followed.stopped_off_scope.is_none());
    let limit = followed
        .hop_limit_reached
        .as_ref()
        .expect("a loop is reported");
    assert!(limit.to_string().ends_with("/loop"));
}

// ---------------------------------------------------------------------------------------
// The CLI entry points: the run finishes, every failure is an E004 naming its request
// (redacted), and the well-behaved route in the same run is still probed.

#[derive(Parser)]
struct ProbeCli {
    #[command(flatten)]
    args: ProbeArgs,
}

#[derive(Parser)]
struct RaceCli {
    #[command(flatten)]
    args: RaceArgs,
}

const KEY: &str = "hostile-suite-key-7f3a9c";

#[test]
fn probe_run_reports_each_hostile_route_and_carries_on() {
    let server = hostile_http1();
    let hostile = [
        ("/endless-headers", "response head exceeds"),
        ("/held", "read timeout"),
        ("/drip", "total timeout"),
        ("/cl-long", "body shorter than Content-Length"),
        ("/bad-status", "malformed status line"),
        ("/reset", "reset"),
    ];
    let mut argv = vec![
        "probe".to_string(),
        server.origin(),
        "--identity".into(),
        format!("alice:X-API-Key={KEY}"),
        "--select".into(),
        "AUTH101".into(),
        "--rate".into(),
        "1000".into(),
        "--read-timeout".into(),
        "2".into(),
        "--timeout".into(),
        "4".into(),
    ];
    for (path, _) in hostile {
        argv.push("--endpoint".into());
        // The key travels in the query too: the reported URL must be redacted.
        argv.push(format!("GET {path}?k={KEY}"));
    }
    argv.push("--endpoint".into());
    argv.push("GET /ok".into());
    let cli = ProbeCli::try_parse_from(argv).expect("flags");
    let outcome = run_probe_with_env(&cli.args, &|_| None).expect("the run finishes");
    for (path, what) in hostile {
        let error = outcome
            .errors
            .iter()
            .find(|e| matches!(&e.location, Location::Http(h) if h.url.contains(path)))
            .unwrap_or_else(|| panic!("no error for {path}: {:#?}", outcome.errors));
        assert_eq!(error.code, "E004");
        let Location::Http(h) = &error.location else {
            unreachable!()
        };
        assert_eq!(h.method, "GET");
        assert!(h.url.contains("<redacted:alice>"), "{}", h.url);
        assert!(!h.url.contains(KEY) && !error.message.contains(KEY));
        assert!(error.message.contains(what), "{path}: {}", error.message);
    }
    // The well-behaved route was still probed, and answered.
    assert!(!outcome
        .errors
        .iter()
        .any(|e| matches!(&e.location, Location::Http(h) if h.url.ends_with("/ok"))));
    assert!(outcome.requests_sent > hostile.len());
}

#[test]
fn race_run_reports_hostile_responses_per_request() {
    let server = hostile_http1();
    for (path, sync, what) in [
        ("/reset", "last-byte", "reset"),
        ("/cl-long", "none", "body shorter than Content-Length"),
        ("/drip", "last-byte", "total timeout"),
    ] {
        let cli = RaceCli::try_parse_from([
            "race".to_string(),
            format!("{}{path}", server.origin()),
            "-H".into(),
            format!("Authorization: Bearer {KEY}"),
            "--count".into(),
            "3".into(),
            "--sync".into(),
            sync.into(),
            "--read-timeout".into(),
            "2".into(),
            "--timeout".into(),
            "4".into(),
        ])
        .expect("flags");
        let outcome = run_race(&cli.args).expect("the race finishes");
        assert_eq!(outcome.method, "GET");
        assert!(outcome.url.ends_with(path));
        assert_eq!(outcome.requests.len(), 3);
        for row in &outcome.requests {
            let error = row
                .error
                .as_deref()
                .expect("each request reports its error");
            assert!(
                error.to_lowercase().contains(&what.to_lowercase()),
                "{path}: {error}"
            );
            assert!(!error.contains(KEY));
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP/2 (h2c prior knowledge, single-packet release).

const PREFACE_LEN: usize = 24;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;

/// Reads the client preface; false when it never came.
fn read_preface(s: &mut TcpStream) -> bool {
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let mut preface = [0u8; PREFACE_LEN];
    s.read_exact(&mut preface).is_ok() && preface.starts_with(b"PRI * HTTP/2.0")
}

fn h2_requests(origin: &str, paths: &[&str], body: &[u8]) -> Vec<Request> {
    paths
        .iter()
        .map(|p| {
            let url = Url::parse(&format!("{origin}{p}")).expect("url");
            if body.is_empty() {
                Request::new("GET", url)
            } else {
                Request::new("POST", url).body(body.to_vec())
            }
        })
        .collect()
}

fn engine_at(origin: &str, config: EngineConfig) -> Engine {
    Engine::new(config, Scope::new([Origin::parse(origin).expect("origin")]))
}

/// One single-packet batch of `paths` to `origin` (the batch itself must be sent).
async fn single_packet(
    origin: &str,
    config: EngineConfig,
    paths: &[&str],
    body: &[u8],
) -> tocsin_probe::engine::Batch {
    engine_at(origin, config)
        .batch(h2_requests(origin, paths, body), SyncMode::SinglePacket)
        .await
        .expect("batch")
}

#[tokio::test(flavor = "current_thread")]
async fn h2_goaway_after_the_preface_fails_every_stream() {
    // PROTOCOL_ERROR (1) and NO_ERROR (0): either way no stream may be opened.
    for code in [1u32, 0] {
        let server = RawServer::start(move |mut s, life, _| {
            if !read_preface(&mut s) {
                return;
            }
            let mut out = frame(SETTINGS, 0, 0, &[]);
            // GOAWAY: last stream 0, the error code, debug data.
            let mut goaway = 0u32.to_be_bytes().to_vec();
            goaway.extend_from_slice(&code.to_be_bytes());
            goaway.extend_from_slice(b"go away");
            out.extend(frame(GOAWAY, 0, 0, &goaway));
            if s.write_all(&out).is_ok() {
                life.hold(&mut s);
            }
        });
        let origin = server.origin();
        let batch = single_packet(&origin, quick_config(), &["/a", "/b"], b"").await;
        for (e, path) in batch.exchanges.iter().zip(["/a", "/b"]) {
            let err = failed(e, path);
            eprintln!("goaway {code}: {path}: {err}");
            // The GOAWAY itself is reported: its reason and debug data for an error,
            // the end of the connection for a graceful one.
            assert!(
                matches!(err, EngineError::H2(m)
                    if m.contains("go away") || m.contains("ended the connection (GOAWAY")),
                "{err:?}"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn h2_server_that_never_answers_a_ping_is_hung_up_on() {
    // SETTINGS, then silence: the first PING is never answered.
    let server = RawServer::start(|mut s, life, _| {
        if read_preface(&mut s) && s.write_all(&frame(SETTINGS, 0, 0, &[])).is_ok() {
            life.hold(&mut s);
        }
    });
    let origin = server.origin();
    let batch = single_packet(&origin, quick_config(), &["/a", "/b"], b"").await;
    for (e, path) in batch.exchanges.iter().zip(["/a", "/b"]) {
        assert_eq!(*failed(e, path), EngineError::ReadTimeout);
    }
    // The engine closed the connection once the batch was over: the server sees its
    // hang-up well before the connection's own life ends (runtime still running here).
    let until = Instant::now() + CONNECTION_LIFE;
    while server.hung_up.load(Ordering::Relaxed) == 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.hung_up.load(Ordering::Relaxed),
        1,
        "the connection was left open after the batch"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn h2_settings_flood_ends_the_batch() {
    let server = RawServer::start(|mut s, life, written| {
        if !read_preface(&mut s) {
            return;
        }
        // SETTINGS frames, each one demanding an ACK, as fast as the socket takes them;
        // PINGs are never answered.
        let one = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        let many: Vec<u8> = one.repeat(256);
        while life.alive() {
            match s.write_all(&many) {
                Ok(()) => {
                    written.fetch_add(256, Ordering::Relaxed);
                }
                // The client is there but not reading: keep trying.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    life.hung_up.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    });
    let origin = server.origin();
    let batch = single_packet(&origin, quick_config(), &["/a", "/b"], b"").await;
    for (e, path) in batch.exchanges.iter().zip(["/a", "/b"]) {
        let err = failed(e, path);
        eprintln!("settings flood: {path}: {err}");
        assert!(
            matches!(
                err,
                EngineError::H2(_) | EngineError::ReadTimeout | EngineError::TotalTimeout
            ),
            "{err:?}"
        );
    }
    eprintln!(
        "settings flood: {} SETTINGS frames written",
        server.written.load(Ordering::Relaxed)
    );
    // The engine hung up on the flood once the batch was over.
    let until = Instant::now() + CONNECTION_LIFE;
    while server.hung_up.load(Ordering::Relaxed) == 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.hung_up.load(Ordering::Relaxed),
        1,
        "the connection was left open after the batch"
    );
}

/// A raw h2c server that plays along (SETTINGS and PING acknowledged) until a request
/// is complete, then answers it with a header block of `header_bytes` bytes (HEADERS and
/// CONTINUATION frames); `None` never ends the block.
fn h2_big_headers(header_bytes: Option<usize>) -> RawServer {
    RawServer::start(move |mut s, life, written| {
        if !read_preface(&mut s) || s.write_all(&frame(SETTINGS, 0, 0, &[])).is_err() {
            return;
        }
        let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
        let mut head = [0u8; 9];
        while life.alive() {
            if s.read_exact(&mut head).is_err() {
                return;
            }
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let (kind, flags) = (head[3], head[4]);
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let mut payload = vec![0u8; len];
            if s.read_exact(&mut payload).is_err() {
                return;
            }
            let reply = match (kind, flags & 1) {
                (SETTINGS, 0) => frame(SETTINGS, 1, 0, &[]),
                (PING, 0) => frame(PING, 1, 0, &payload),
                // END_STREAM on DATA or HEADERS: the request is complete.
                (0 | 1, 1) => {
                    let _ = answer_with_headers(&mut s, stream, header_bytes, life, written);
                    life.hold(&mut s);
                    return;
                }
                _ => continue,
            };
            if s.write_all(&reply).is_err() {
                return;
            }
        }
    })
}

const PING: u8 = 0x6;
const CONTINUATION: u8 = 0x9;

fn answer_with_headers(
    s: &mut TcpStream,
    stream: u32,
    header_bytes: Option<usize>,
    life: &Life,
    written: &AtomicUsize,
) -> std::io::Result<()> {
    // HPACK: literal header field without indexing, new name: x-filler = 40 bytes.
    let mut field = vec![0x00, 8];
    field.extend_from_slice(b"x-filler");
    field.push(40);
    field.extend_from_slice(&[b'f'; 40]);
    let block: Vec<u8> = field.repeat(300);
    // HEADERS with :status 200 (static index 8), no END_HEADERS.
    s.write_all(&frame(1, 0, stream, &[0x88]))?;
    let mut sent = 0usize;
    while life.alive() {
        let last = header_bytes.is_some_and(|limit| sent + block.len() >= limit);
        // END_HEADERS (0x4) on the last CONTINUATION.
        s.write_all(&frame(
            CONTINUATION,
            if last { 0x4 } else { 0 },
            stream,
            &block,
        ))?;
        sent += block.len();
        written.fetch_add(block.len(), Ordering::Relaxed);
        if last {
            // DATA "ok" with END_STREAM.
            return s.write_all(&frame(0, 1, stream, b"ok"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn h2_header_blocks_are_capped_like_http1_heads() {
    // A 1 MB header block, then a body; and one that never ends.
    for header_bytes in [Some(1 << 20), None] {
        let server = h2_big_headers(header_bytes);
        let origin = server.origin();
        let mut config = quick_config();
        config.limits.max_head_bytes = 64 * 1024;
        let batch = single_packet(&origin, config, &["/big"], b"").await;
        let err = failed(&batch.exchanges[0], "/big");
        eprintln!("h2 header block {header_bytes:?}: {err}");
        assert!(
            matches!(err, EngineError::H2(_)),
            "{header_bytes:?}: {err:?}"
        );
    }
}

/// An `h2` server whose handler decides per path: `ok`, `reset`, `drip`, or `stall`
/// (never reads the body, so never opens the flow-control window it started at zero).
struct H2Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl H2Server {
    fn start(initial_window: u32) -> Self {
        let std_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let Ok(Ok((socket, _))) =
                        tokio::time::timeout(Duration::from_millis(20), listener.accept()).await
                    else {
                        continue;
                    };
                    let stop3 = stop2.clone();
                    tokio::spawn(tokio::time::timeout(CONNECTION_LIFE, async move {
                        let Ok(mut conn) = h2::server::Builder::new()
                            .initial_window_size(initial_window)
                            .handshake::<_, bytes::Bytes>(socket)
                            .await
                        else {
                            return;
                        };
                        while let Some(Ok((request, respond))) = conn.accept().await {
                            tokio::spawn(answer(request, respond, stop3.clone()));
                        }
                    }));
                }
            });
        });
        H2Server {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<bytes::Bytes>,
    stop: Arc<AtomicBool>,
) {
    let path = request.uri().path().to_string();
    let mut body = request.into_body();
    if path == "/reset" {
        respond.send_reset(h2::Reason::INTERNAL_ERROR);
        return;
    }
    if path != "/stall" {
        while let Some(Ok(chunk)) = body.data().await {
            let _ = body.flow_control().release_capacity(chunk.len());
        }
    } else {
        // Never reads: the window stays as it started. Waits for the client to give up.
        let _ = tokio::time::timeout(CONNECTION_LIFE, body.data()).await;
        return;
    }
    let Ok(response) = http::Response::builder().status(200).body(()) else {
        return;
    };
    let Ok(mut send) = respond.send_response(response, false) else {
        return;
    };
    if path == "/endless" {
        // As much body as the client's window allows, forever.
        let chunk = bytes::Bytes::from(vec![b'e'; 16 * 1024]);
        let end = Instant::now() + CONNECTION_LIFE;
        while Instant::now() < end && !stop.load(Ordering::Relaxed) {
            send.reserve_capacity(chunk.len());
            let Some(Ok(n)) = std::future::poll_fn(|cx| send.poll_capacity(cx)).await else {
                return;
            };
            if n > 0 && send.send_data(chunk.slice(..n), false).is_err() {
                return;
            }
        }
        return;
    }
    if path == "/drip" {
        let end = Instant::now() + CONNECTION_LIFE;
        while Instant::now() < end && !stop.load(Ordering::Relaxed) {
            if send
                .send_data(bytes::Bytes::from_static(b"x"), false)
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        return;
    }
    let _ = send.send_data(bytes::Bytes::from_static(b"ok"), true);
}

impl Drop for H2Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn h2_rst_stream_fails_those_streams_only() {
    let server = H2Server::start(65_535);
    let origin = server.origin();
    let engine = engine_at(&origin, quick_config());
    for body in [&b""[..], b"{\"n\": 1}"] {
        let paths = ["/ok", "/reset", "/ok", "/reset"];
        let batch = engine
            .batch(h2_requests(&origin, &paths, body), SyncMode::SinglePacket)
            .await
            .expect("batch");
        for (e, path) in batch.exchanges.iter().zip(paths) {
            if path == "/ok" {
                assert_eq!(e.status(), Some(200), "{:?}", e.result);
            } else {
                assert!(
                    matches!(&e.result, Err(EngineError::H2(m)) if m.contains("stream error received")),
                    "{:?}",
                    e.result
                );
            }
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn h2_endless_body_stops_at_the_body_cap() {
    let server = H2Server::start(65_535);
    let origin = server.origin();
    let mut config = quick_config();
    config.limits = ParseLimits {
        max_body_bytes: 256 * 1024,
        max_body_kept: 4 * 1024,
        ..ParseLimits::default()
    };
    let paths = ["/ok", "/endless"];
    let batch = single_packet(&origin, config, &paths, b"").await;
    assert_eq!(
        batch.exchanges[0].status(),
        Some(200),
        "{:?}",
        batch.exchanges[0].result
    );
    let r = batch.exchanges[1].response().expect("a truncated response");
    assert!(r.truncated);
    assert_eq!(r.body_len, 256 * 1024);
    assert_eq!(r.body.len(), 4 * 1024);
}

#[test]
fn race_run_over_h2_reports_each_stream() {
    let server = H2Server::start(65_535);
    for (path, what) in [
        ("/drip", "total timeout"),
        ("/reset", "stream error received"),
    ] {
        let cli = RaceCli::try_parse_from([
            "race".to_string(),
            format!("{}{path}", server.origin()),
            "--count".into(),
            "3".into(),
            "--sync".into(),
            "single-packet".into(),
            "--read-timeout".into(),
            "2".into(),
            "--timeout".into(),
            "1.2".into(),
        ])
        .expect("flags");
        let outcome = run_race(&cli.args).expect("the race finishes");
        assert!(outcome.url.ends_with(path));
        assert_eq!(outcome.requests.len(), 3);
        for row in &outcome.requests {
            let error = row.error.as_deref().expect("each stream reports its error");
            assert!(error.contains(what), "{path}: {error}");
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn h2_drip_fails_that_stream_and_keeps_the_others() {
    let server = H2Server::start(65_535);
    let origin = server.origin();
    let config = EngineConfig {
        read_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_millis(1500),
        ..quick_config()
    };
    let paths = ["/ok", "/drip", "/ok"];
    let batch = single_packet(&origin, config, &paths, b"").await;
    assert_eq!(
        batch.exchanges[0].status(),
        Some(200),
        "{:?}",
        batch.exchanges[0].result
    );
    assert_eq!(
        batch.exchanges[2].status(),
        Some(200),
        "{:?}",
        batch.exchanges[2].result
    );
    assert_eq!(
        *failed(&batch.exchanges[1], "/drip"),
        EngineError::TotalTimeout
    );
}

#[tokio::test(flavor = "current_thread")]
async fn h2_zero_window_is_reported_not_waited_on_forever() {
    // The server's streams start with a zero window and it never sends WINDOW_UPDATE;
    // the request bodies are larger than the window.
    let server = H2Server::start(0);
    let origin = server.origin();
    let body = vec![b'b'; 4096];
    let batch = single_packet(&origin, quick_config(), &["/stall", "/stall"], &body).await;
    for e in &batch.exchanges {
        let Err(err) = &e.result else {
            panic!("a stalled stream cannot succeed");
        };
        assert_eq!(e.request.method, "POST");
        assert!(err.to_string().contains("flow-control window"), "{err}");
    }
}

/// A server that accepts and never reads: the prefixes of a last-byte batch with bodies
/// larger than the socket buffers can never be written in full. The warm-up writes them
/// concurrently, so every connection has bytes waiting at the server while none has
/// finished (written one after another, the second connection got nothing until the
/// first gave up on its timeout, so a batch cost one timeout per connection). The
/// server then resets them all, and every request is an error naming it.
#[tokio::test(flavor = "current_thread")]
async fn last_byte_warm_up_writes_every_connection_at_once() {
    const CONNECTIONS: usize = 3;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let server = std::thread::spawn(move || {
        let give_up = Instant::now() + Duration::from_secs(10);
        let mut conns: Vec<TcpStream> = Vec::new();
        let mut all_waiting = false;
        let mut probe = [0u8; 1];
        while Instant::now() < give_up {
            if let Ok((s, _)) = listener.accept() {
                let _ = s.set_nonblocking(true);
                conns.push(s);
            }
            all_waiting = conns.len() == CONNECTIONS
                && conns
                    .iter()
                    .all(|c| matches!(c.peek(&mut probe), Ok(n) if n > 0));
            if all_waiting {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for c in &conns {
            reset_on_drop(c);
        }
        all_waiting
    });
    // The total timeout is far beyond the server's patience: only a concurrent warm-up
    // gets every connection its bytes before the server gives up.
    let config = EngineConfig {
        total_timeout: Duration::from_secs(60),
        ..quick_config()
    };
    let origin = format!("http://{addr}");
    let engine = engine_at(&origin, config);
    let body = vec![b'x'; 16 << 20];
    let url = Url::parse(&format!("{origin}/upload")).expect("url");
    let requests = (0..CONNECTIONS)
        .map(|_| Request::new("POST", url.clone()).body(body.clone()))
        .collect();
    let batch = engine
        .batch(requests, SyncMode::LastByte)
        .await
        .expect("the batch itself runs");
    let all_waiting = server.join().expect("server thread");
    assert!(
        all_waiting,
        "every connection had bytes at the server while none could finish its prefix"
    );
    for e in &batch.exchanges {
        assert!(
            matches!(e.result, Err(EngineError::Io(_))),
            "{}: {:?}",
            e.request.url,
            e.result
        );
    }
}
