//! The network engine: connections, synchronized release and timed exchanges.
//!
//! It knows nothing about findings. Callers hand it [`Request`]s; it checks each against
//! the [`Scope`], the request cap and the rate cap, sends it, and hands back
//! [`Exchange`]s whose timing is data (monotonic [`Instant`]s), never log lines.
//!
//! Release methods ([`SyncMode`]):
//! - `LastByte` (HTTP/1.1, plain or TLS): one connection per request, opened and warmed
//!   with all but the final byte; after a short settle pause one loop writes every final
//!   byte back to back (TCP_NODELAY).
//! - `SinglePacket` (HTTP/2: h2c prior knowledge, or TLS with ALPN h2): all streams opened
//!   on one connection with everything but their END_STREAM frame; then every final frame
//!   goes out in one write, so they share one TCP packet.
//! - `None`: plain concurrent sending, the baseline.

pub mod h2c;
pub mod http1;
mod request;
pub mod tls;
pub mod url;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

pub use http1::{ParseError, ParseLimits, Response};
pub use request::Request;
pub use tls::TlsOptions;
pub use url::{Origin, Scheme, Url, UrlError};

use tls::{Stream, TlsClients};

use crate::scope::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// HTTP/1.1 last-byte synchronization.
    #[default]
    LastByte,
    /// HTTP/2 single-packet release (h2c prior knowledge, or TLS with ALPN h2).
    SinglePacket,
    /// Plain concurrent sending.
    None,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::LastByte => "last-byte",
            SyncMode::SinglePacket => "single-packet",
            SyncMode::None => "none",
        }
    }
}

/// Safe defaults; every field is configurable from the CLI.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub connect_timeout: Duration,
    /// Longest wait for any single read.
    pub read_timeout: Duration,
    /// Longest life of one exchange, connect to last byte.
    pub total_timeout: Duration,
    pub limits: ParseLimits,
    /// Requests the engine sends in one run at most.
    pub max_requests: usize,
    /// Average requests per second at most; a batch is one burst and is paid after.
    pub max_rate: f64,
    /// Requests in one synchronized batch at most.
    pub max_batch: usize,
    /// Pause between the last warm-up write and the release: lets the server read every
    /// prefix, so at the release it has one byte left to read per request.
    pub settle: Duration,
    pub tls: TlsOptions,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            limits: ParseLimits::default(),
            max_requests: 2000,
            max_rate: 100.0,
            max_batch: 200,
            settle: Duration::from_millis(20),
            tls: TlsOptions::default(),
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum EngineError {
    #[error("{0} is outside the scope of this run")]
    OutOfScope(String),
    #[error("the request cap of {0} requests per run is reached")]
    RequestCap(usize),
    #[error("a batch of {0} requests exceeds the batch cap of {1}")]
    BatchCap(usize, usize),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("connecting to {0} failed: {1}")]
    Connect(String, String),
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("no data from the server within the read timeout")]
    ReadTimeout,
    #[error("the exchange exceeded the total timeout")]
    TotalTimeout,
    #[error("i/o error: {0}")]
    Io(String),
    #[error("malformed response: {0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Unsupported(String),
    #[error("HTTP/2 error: {0}")]
    H2(String),
    #[error("TLS error: {0}")]
    Tls(String),
}

/// One request and what came back, with its monotonic timestamps.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: Request,
    /// When the engine began this exchange (before connecting).
    pub started: Instant,
    /// When the request's final byte (or final frame) was written.
    pub released: Option<Instant>,
    pub first_byte: Option<Instant>,
    pub ended: Option<Instant>,
    pub result: Result<Response, EngineError>,
}

impl Exchange {
    pub fn response(&self) -> Option<&Response> {
        self.result.as_ref().ok()
    }

    pub fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }

    /// Final byte to first response byte.
    pub fn response_time(&self) -> Option<Duration> {
        Some(self.first_byte?.saturating_duration_since(self.released?))
    }

    fn failed(request: Request, started: Instant, error: EngineError) -> Exchange {
        Exchange {
            request,
            started,
            released: None,
            first_byte: None,
            ended: Some(Instant::now()),
            result: Err(error),
        }
    }
}

/// The exchanges of one batch, in request order.
#[derive(Debug, Clone)]
pub struct Batch {
    pub mode: SyncMode,
    pub exchanges: Vec<Exchange>,
    /// When every warm-up write (all but the final bytes) had been written; `None` for
    /// unsynchronized batches.
    pub warmed: Option<Instant>,
}

impl Batch {
    pub fn first_release(&self) -> Option<Instant> {
        self.exchanges.iter().filter_map(|e| e.released).min()
    }

    pub fn last_release(&self) -> Option<Instant> {
        self.exchanges.iter().filter_map(|e| e.released).max()
    }

    /// Time between the first and the last final byte leaving the client.
    pub fn release_spread(&self) -> Option<Duration> {
        Some(
            self.last_release()?
                .saturating_duration_since(self.first_release()?),
        )
    }
}

/// A redirect chain followed by [`Engine::send_following`].
#[derive(Debug, Clone)]
pub struct Followed {
    pub chain: Vec<Exchange>,
    /// Set when a redirect pointed outside the scope and was not followed.
    pub stopped_off_scope: Option<Url>,
    /// Set when the last response still redirected (here) after `max_hops` hops: a
    /// redirect loop, or a chain too long to follow. The chain ends on that redirect.
    pub hop_limit_reached: Option<Url>,
}

impl Followed {
    pub fn last(&self) -> Option<&Exchange> {
        self.chain.last()
    }
}

struct Budget {
    sent: usize,
    start: Instant,
}

/// What every connection needs: the config and the TLS clients built from it.
#[derive(Clone)]
pub(crate) struct Net {
    pub(crate) config: EngineConfig,
    pub(crate) tls: Result<TlsClients, String>,
}

pub struct Engine {
    net: Net,
    scope: Scope,
    budget: Mutex<Budget>,
}

/// Headers that carry credentials and so never follow a redirect.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

impl Engine {
    pub fn new(config: EngineConfig, scope: Scope) -> Self {
        let tls = TlsClients::new(&config.tls);
        Engine {
            net: Net { config, tls },
            scope,
            budget: Mutex::new(Budget {
                sent: 0,
                start: Instant::now(),
            }),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.net.config
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Requests sent (or attempted) so far in this run.
    pub fn requests_sent(&self) -> usize {
        self.budget.lock().map(|b| b.sent).unwrap_or(0)
    }

    fn check(&self, request: &Request) -> Result<(), EngineError> {
        if !self.scope.allows(&request.url) {
            return Err(EngineError::OutOfScope(request.url.to_string()));
        }
        if request.url.origin.scheme == Scheme::Https {
            if let Err(e) = &self.net.tls {
                return Err(EngineError::Tls(e.clone()));
            }
        }
        request.validate()
    }

    /// Takes `n` requests from the run's budget, sleeping as the rate cap requires.
    async fn acquire(&self, n: usize) -> Result<(), EngineError> {
        let wait = {
            let mut budget = self
                .budget
                .lock()
                .map_err(|_| EngineError::Io("budget lock poisoned".into()))?;
            if budget.sent + n > self.net.config.max_requests {
                return Err(EngineError::RequestCap(self.net.config.max_requests));
            }
            let due = if self.net.config.max_rate > 0.0 {
                budget.start
                    + Duration::from_secs_f64(budget.sent as f64 / self.net.config.max_rate)
            } else {
                budget.start
            };
            budget.sent += n;
            due.saturating_duration_since(Instant::now())
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Sends one request on its own connection.
    pub async fn send(&self, request: Request) -> Exchange {
        let started = Instant::now();
        if let Err(e) = self.check(&request) {
            return Exchange::failed(request, started, e);
        }
        if let Err(e) = self.acquire(1).await {
            return Exchange::failed(request, started, e);
        }
        plain_exchange(self.net.clone(), request, started).await
    }

    /// Sends a request and follows redirects that stay in scope, at most `max_hops`.
    /// Credentials (`Authorization`, `Cookie` and the headers named in `credentials`) are
    /// never carried to a redirect target; an off-scope target is not contacted at all.
    pub async fn send_following(
        &self,
        request: Request,
        max_hops: usize,
        credentials: &[String],
    ) -> Followed {
        let mut chain = Vec::new();
        let mut current = request;
        for hop in 0..=max_hops {
            let exchange = self.send(current.clone()).await;
            let location = exchange.response().and_then(|r| {
                if matches!(r.status, 301 | 302 | 303 | 307 | 308) {
                    r.header("location").map(str::to_string)
                } else {
                    None
                }
            });
            chain.push(exchange);
            let Some(location) = location else { break };
            let Ok(next_url) = current.url.join(&location) else {
                break;
            };
            if !self.scope.allows(&next_url) {
                return Followed {
                    chain,
                    stopped_off_scope: Some(next_url),
                    hop_limit_reached: None,
                };
            }
            if hop == max_hops {
                // Before, the chain just ended on a redirect and a loop looked like any
                // other answer; now the caller is told where it would have gone next.
                return Followed {
                    chain,
                    stopped_off_scope: None,
                    hop_limit_reached: Some(next_url),
                };
            }
            let status = chain.last().and_then(Exchange::status).unwrap_or(302);
            let mut next = current.clone();
            next.url = next_url;
            next.remove_header("host");
            for name in CREDENTIAL_HEADERS {
                next.remove_header(name);
            }
            for name in credentials {
                next.remove_header(name);
            }
            if status == 303 || (matches!(status, 301 | 302) && next.method == "POST") {
                next.method = "GET".into();
                next.body.clear();
                next.remove_header("content-length");
                next.remove_header("content-type");
            }
            current = next;
        }
        Followed {
            chain,
            stopped_off_scope: None,
            hop_limit_reached: None,
        }
    }

    /// Sends `requests` as one batch released with `mode`. Requests that fail the scope,
    /// validation or the caps come back as failed exchanges and are not sent; the batch
    /// itself fails only when it exceeds the batch cap or the request cap.
    pub async fn batch(
        &self,
        requests: Vec<Request>,
        mode: SyncMode,
    ) -> Result<Batch, EngineError> {
        if requests.len() > self.net.config.max_batch {
            return Err(EngineError::BatchCap(
                requests.len(),
                self.net.config.max_batch,
            ));
        }
        let started = Instant::now();
        let mut slots: Vec<Option<Exchange>> = vec![None; requests.len()];
        let mut to_send = Vec::new();
        for (i, request) in requests.into_iter().enumerate() {
            match self.check(&request) {
                Ok(()) => to_send.push((i, request)),
                Err(e) => slots[i] = Some(Exchange::failed(request, started, e)),
            }
        }
        self.acquire(to_send.len()).await?;
        let (sent, warmed) = match mode {
            SyncMode::None => (concurrent(&self.net, to_send).await, None),
            SyncMode::LastByte => last_byte(&self.net, to_send).await,
            SyncMode::SinglePacket => h2c::single_packet(&self.net, to_send).await,
        };
        for (i, exchange) in sent {
            slots[i] = Some(exchange);
        }
        let exchanges = slots
            .into_iter()
            .map(|slot| slot.ok_or_else(|| EngineError::Io("a batch slot was left empty".into())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Batch {
            mode,
            exchanges,
            warmed,
        })
    }
}

/// Opens a connection for the HTTP/1.1 paths: TCP, then TLS for https origins.
async fn connect(net: &Net, origin: &Origin) -> Result<Stream, EngineError> {
    let tcp = connect_tcp(&net.config, origin).await?;
    match origin.scheme {
        Scheme::Http => Ok(Stream::Plain(tcp)),
        Scheme::Https => {
            let tls = net.tls.as_ref().map_err(|e| EngineError::Tls(e.clone()))?;
            let stream =
                tokio::time::timeout(net.config.connect_timeout, tls.connect(origin, tcp, false))
                    .await
                    .map_err(|_| EngineError::ConnectTimeout(origin.authority()))??;
            Ok(Stream::Tls(Box::new(stream)))
        }
    }
}

pub(crate) async fn connect_tcp(
    config: &EngineConfig,
    origin: &Origin,
) -> Result<TcpStream, EngineError> {
    let authority = origin.authority();
    let host = origin.host.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::time::timeout(
        config.connect_timeout,
        TcpStream::connect((host, origin.port)),
    )
    .await
    .map_err(|_| EngineError::ConnectTimeout(authority.clone()))?
    .map_err(|e| EngineError::Connect(authority, e.to_string()))?;
    // Small writes must leave at once: the final bytes are one byte each.
    stream
        .set_nodelay(true)
        .map_err(|e| EngineError::Io(e.to_string()))?;
    Ok(stream)
}

/// Reads one response; returns when it is complete, the peer closed, or a timeout hit.
async fn read_response<R: AsyncRead + Unpin>(
    reader: &mut R,
    head_request: bool,
    config: &EngineConfig,
    first_byte: &mut Option<Instant>,
) -> Result<Response, EngineError> {
    let mut parser = http1::ResponseParser::new(config.limits, head_request);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::time::timeout(config.read_timeout, reader.read(&mut buf))
            .await
            .map_err(|_| EngineError::ReadTimeout)?
            .map_err(|e| EngineError::Io(e.to_string()))?;
        if n > 0 && first_byte.is_none() {
            *first_byte = Some(Instant::now());
        }
        if n == 0 {
            parser.eof()?;
            break;
        }
        if parser.feed(&buf[..n])? {
            break;
        }
    }
    Ok(parser.finish()?)
}

async fn plain_exchange(net: Net, request: Request, started: Instant) -> Exchange {
    let config = &net.config;
    let mut released = None;
    let mut first_byte = None;
    let total = config.total_timeout;
    let work = async {
        let mut stream = connect(&net, &request.url.origin).await?;
        stream
            .write_all(&request.to_http1())
            .await
            .map_err(|e| EngineError::Io(e.to_string()))?;
        stream
            .flush()
            .await
            .map_err(|e| EngineError::Io(e.to_string()))?;
        released = Some(Instant::now());
        read_response(&mut stream, request.is_head(), config, &mut first_byte).await
    };
    let result = match tokio::time::timeout(total, work).await {
        Ok(r) => r,
        Err(_) => Err(EngineError::TotalTimeout),
    };
    Exchange {
        request,
        started,
        released,
        first_byte,
        ended: Some(Instant::now()),
        result,
    }
}

async fn concurrent(net: &Net, requests: Vec<(usize, Request)>) -> Vec<(usize, Exchange)> {
    let mut set = JoinSet::new();
    for (i, request) in requests {
        let net = net.clone();
        set.spawn(async move { (i, plain_exchange(net, request, Instant::now()).await) });
    }
    collect(set).await
}

async fn collect(mut set: JoinSet<(usize, Exchange)>) -> Vec<(usize, Exchange)> {
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        // A panicking task is a bug in this crate; its slot is reported empty.
        if let Ok(pair) = joined {
            out.push(pair);
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

/// Linux quick-ACKs at most 16 segments at the start of a connection
/// (`TCP_MAX_QUICKACKS`); one more and the release write's ACK is delayed.
const QUICKACK_SEGMENTS: usize = 17;

/// HTTP/1.1 last-byte synchronization.
async fn last_byte(
    net: &Net,
    requests: Vec<(usize, Request)>,
) -> (Vec<(usize, Exchange)>, Option<Instant>) {
    let config = &net.config;
    let started = Instant::now();
    let mut out = Vec::new();
    // Open every connection first, concurrently.
    let mut connecting = JoinSet::new();
    for (i, request) in requests {
        let net = net.clone();
        connecting.spawn(async move {
            let stream = connect(&net, &request.url.origin).await;
            (i, request, stream)
        });
    }
    let mut ready = Vec::new();
    while let Some(joined) = connecting.join_next().await {
        let Ok((i, request, stream)) = joined else {
            continue;
        };
        match stream {
            Ok(stream) => ready.push((i, request, stream)),
            Err(e) => out.push((i, Exchange::failed(request, started, e))),
        }
    }
    ready.sort_by_key(|(i, _, _)| *i);
    // Warm every connection with all but the final byte, concurrently: a server that
    // never reads a large body then costs one timeout for the batch, not one per
    // connection (before, the prefixes were written one after another).
    let mut warming = JoinSet::new();
    for (i, request, mut stream) in ready {
        let timeout = config.total_timeout;
        warming.spawn(async move {
            let bytes = request.to_http1();
            let split = bytes.len() - 1;
            let prefix = async {
                match &mut stream {
                    // The prefix's last bytes go out as separate segments, using up the
                    // server's quick-ACK budget: the final byte then gets a delayed ACK
                    // instead of one sent back inline, which on loopback is part of the
                    // cost of every release write (about 7 µs to 5 µs per write here).
                    Stream::Plain(tcp) => {
                        let tail = QUICKACK_SEGMENTS.min(split);
                        tcp.write_all(&bytes[..split - tail]).await?;
                        for byte in &bytes[split - tail..split] {
                            tcp.write_all(std::slice::from_ref(byte)).await?;
                        }
                        Ok(())
                    }
                    // TLS: the prefix leaves as its own records; the final byte gets one
                    // alone.
                    tls => {
                        tls.write_all(&bytes[..split]).await?;
                        tls.flush().await
                    }
                }
            };
            let written = match tokio::time::timeout(timeout, prefix).await {
                Ok(Ok(())) => Ok(bytes[split]),
                Ok(Err(e)) => Err(EngineError::Io(e.to_string())),
                Err(_) => Err(EngineError::TotalTimeout),
            };
            (i, request, stream, written)
        });
    }
    let mut warm = Vec::new();
    while let Some(joined) = warming.join_next().await {
        let Ok((i, request, stream, written)) = joined else {
            continue;
        };
        match written {
            Ok(last) => warm.push((i, request, stream, last)),
            Err(e) => out.push((i, Exchange::failed(request, started, e))),
        }
    }
    warm.sort_by_key(|(i, _, _, _)| *i);
    let warmed = Instant::now();
    if !config.settle.is_zero() {
        tokio::time::sleep(config.settle).await;
    }
    // Readers wait before the release so a response is noticed as soon as it arrives.
    // Each reader gets its connection's write half back after the release and closes
    // the connection as soon as its response is in: servers that linger on close
    // (gunicorn's gthread worker waits for the client's FIN in its event loop) would
    // otherwise stall every other connection of the batch.
    let mut writers = Vec::new();
    let mut handbacks = Vec::new();
    let mut readers = JoinSet::new();
    for (i, request, stream, last) in warm {
        let (mut read_half, write_half) = split(stream);
        let config = config.clone();
        let head = request.is_head();
        let (handback, returned) = tokio::sync::oneshot::channel::<Writer>();
        readers.spawn(async move {
            let mut first_byte = None;
            let result = tokio::time::timeout(
                config.total_timeout,
                read_response(&mut read_half, head, &config, &mut first_byte),
            )
            .await
            .unwrap_or(Err(EngineError::TotalTimeout));
            let ended = Instant::now();
            if let Ok(writer) = returned.await {
                drop(writer);
            }
            drop(read_half);
            (i, first_byte, result, ended)
        });
        writers.push((i, request, write_half, last));
        handbacks.push(handback);
    }
    // The release: one loop, one non-blocking write per connection, nothing in between.
    let mut released = Vec::with_capacity(writers.len());
    for (_, _, half, last) in &mut writers {
        let ok = match half {
            Writer::Plain(w) => matches!(w.try_write(&[*last]), Ok(1)),
            // One 1-byte record; rustls encrypts and writes it without waiting.
            Writer::Tls(w) => w.write_all(&[*last]).await.is_ok() && w.flush().await.is_ok(),
        };
        released.push(if ok { Some(Instant::now()) } else { None });
    }
    // A write that would have blocked (a full socket buffer) is finished the slow way.
    for (k, (_, _, half, last)) in writers.iter_mut().enumerate() {
        if let (None, Writer::Plain(w)) = (released[k], half) {
            if w.write_all(&[*last]).await.is_ok() {
                released[k] = Some(Instant::now());
            }
        }
    }
    let mut requests_back = Vec::with_capacity(writers.len());
    for ((i, request, half, _), handback) in writers.into_iter().zip(handbacks) {
        // A reader that already finished has dropped its receiver; the half drops here.
        let _ = handback.send(half);
        requests_back.push((i, request));
    }
    let mut results = Vec::new();
    while let Some(joined) = readers.join_next().await {
        if let Ok(r) = joined {
            results.push(r);
        }
    }
    for (k, (i, request)) in requests_back.into_iter().enumerate() {
        let Some((_, first_byte, result, ended)) = results.iter().find(|r| r.0 == i).cloned()
        else {
            out.push((
                i,
                Exchange::failed(
                    request,
                    started,
                    EngineError::Io("reader task failed".into()),
                ),
            ));
            continue;
        };
        out.push((
            i,
            Exchange {
                request,
                started,
                released: released[k],
                first_byte,
                ended: Some(ended),
                result,
            },
        ));
    }
    out.sort_by_key(|(i, _)| *i);
    (out, Some(warmed))
}

/// The write side of a warmed connection.
enum Writer {
    /// Plain TCP: the release uses a non-blocking write straight to the socket.
    Plain(tokio::net::tcp::OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<Stream>),
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;

fn split(stream: Stream) -> (Reader, Writer) {
    match stream {
        Stream::Plain(tcp) => {
            let (r, w) = tcp.into_split();
            (Box::new(r), Writer::Plain(w))
        }
        tls => {
            let (r, w) = tokio::io::split(tls);
            (Box::new(r), Writer::Tls(w))
        }
    }
}
