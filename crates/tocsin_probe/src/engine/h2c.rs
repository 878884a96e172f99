//! HTTP/2 single-packet release over h2c (prior knowledge).
//!
//! The `h2` crate frames the streams; the socket under it is a [`GatedIo`] that can hold
//! writes back. Every stream is opened and sent all but its END_STREAM frame; a PING
//! round trip proves those frames reached the server; then the gate closes, each stream
//! queues its final DATA frame (the body's last byte, or an empty frame), and once all of
//! them sit in the gate's buffer they leave in one write, so they share one TCP packet.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::http1::{ParseLimits, Response};
use super::{connect_tcp, EngineError, Exchange, Net, Request, Scheme};
use sha2::{Digest, Sha256};

#[derive(Default)]
struct Gate {
    holding: bool,
    held: Vec<u8>,
}

/// A TCP stream whose writes can be held in a buffer and released in one write.
struct GatedIo {
    stream: Arc<TcpStream>,
    gate: Arc<Mutex<Gate>>,
}

impl AsyncRead for GatedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            match self.stream.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            let unfilled = buf.initialize_unfilled();
            match self.stream.try_read(unfilled) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for GatedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        {
            let mut gate = self
                .gate
                .lock()
                .map_err(|_| std::io::Error::other("gate lock poisoned"))?;
            if gate.holding {
                gate.held.extend_from_slice(data);
                return Poll::Ready(Ok(data.len()));
            }
        }
        loop {
            match self.stream.poll_write_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            match self.stream.try_write(data) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // Writes go straight to the socket (TCP_NODELAY) or into the gate.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Counts the END_STREAM DATA frames h2 writes (above TLS, so it sees plaintext), to
/// know when every final frame has been handed to the gate.
#[derive(Default)]
struct FrameCount {
    preface_left: usize,
    header: Vec<u8>,
    payload_left: usize,
    end_streams: usize,
    /// DATA payload bytes written (with padding, which h2 does not send).
    data_bytes: usize,
}

impl FrameCount {
    fn new() -> Self {
        FrameCount {
            preface_left: 24,
            ..FrameCount::default()
        }
    }

    fn observe(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.preface_left > 0 {
                let n = self.preface_left.min(data.len());
                self.preface_left -= n;
                data = &data[n..];
            } else if self.payload_left > 0 {
                let n = self.payload_left.min(data.len());
                self.payload_left -= n;
                data = &data[n..];
            } else {
                let n = (9 - self.header.len()).min(data.len());
                self.header.extend_from_slice(&data[..n]);
                data = &data[n..];
                if self.header.len() == 9 {
                    let h = &self.header;
                    self.payload_left = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
                    if h[3] == 0 {
                        self.data_bytes += self.payload_left;
                        if h[4] & 1 == 1 {
                            self.end_streams += 1;
                        }
                    }
                    self.header.clear();
                }
            }
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Counted {
    inner: Box<dyn Io>,
    count: Arc<Mutex<FrameCount>>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &poll {
            if let Ok(mut count) = self.count.lock() {
                count.observe(&data[..*n]);
            }
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn h2_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::H2(e.to_string())
}

/// Headers that HTTP/2 forbids or carries elsewhere.
const CONNECTION_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "te",
];

fn to_http(request: &Request) -> Result<http::Request<()>, EngineError> {
    let uri = format!(
        "{}://{}{}",
        request.url.origin.scheme.as_str(),
        request.url.origin.host_header(),
        request.url.target
    );
    let mut builder = http::Request::builder()
        .method(request.method.as_str())
        .uri(uri);
    for (name, value) in &request.headers {
        if CONNECTION_HEADERS
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        builder = builder.header(name.to_ascii_lowercase(), value.as_str());
    }
    if !request.body.is_empty() || matches!(request.method.as_str(), "POST" | "PUT" | "PATCH") {
        builder = builder.header("content-length", request.body.len());
    }
    builder
        .body(())
        .map_err(|e| EngineError::InvalidRequest(e.to_string()))
}

async fn read_h2_response(
    future: h2::client::ResponseFuture,
    limits: ParseLimits,
    read_timeout: Duration,
) -> (Option<Instant>, Result<Response, EngineError>) {
    let response = match tokio::time::timeout(read_timeout, future).await {
        Err(_) => return (None, Err(EngineError::ReadTimeout)),
        Ok(Err(e)) => return (None, Err(h2_err(e))),
        Ok(Ok(r)) => r,
    };
    let first_byte = Some(Instant::now());
    let (parts, mut body) = response.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .take(limits.max_header_count)
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).to_string(),
            )
        })
        .collect();
    let mut hasher = Sha256::new();
    let mut kept = Vec::new();
    let mut len: u64 = 0;
    let mut truncated = false;
    loop {
        let chunk = match tokio::time::timeout(read_timeout, body.data()).await {
            Err(_) => return (first_byte, Err(EngineError::ReadTimeout)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return (first_byte, Err(h2_err(e))),
            Ok(Some(Ok(chunk))) => chunk,
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        let room = (limits.max_body_bytes as u64).saturating_sub(len) as usize;
        let take = chunk.len().min(room);
        hasher.update(&chunk[..take]);
        len += take as u64;
        let keep = limits.max_body_kept.saturating_sub(kept.len()).min(take);
        kept.extend_from_slice(&chunk[..keep]);
        if take < chunk.len() {
            truncated = true;
            break;
        }
    }
    (
        first_byte,
        Ok(Response {
            status: parts.status.as_u16(),
            reason: parts.status.canonical_reason().unwrap_or("").to_string(),
            headers,
            body: kept,
            body_len: len,
            body_sha256: super::http1::hex(&hasher.finalize()),
            truncated,
        }),
    )
}

/// Waits until `done` holds for the frames written so far; false once nothing more was
/// written for `idle`, or after `total`.
async fn wait_until(
    count: &Mutex<FrameCount>,
    idle: Duration,
    total: Duration,
    done: impl Fn(&FrameCount) -> bool,
) -> Result<bool, EngineError> {
    let started = Instant::now();
    let mut last_progress = (started, usize::MAX);
    let mut spins = 0u32;
    loop {
        let (finished, written) = {
            let c = count
                .lock()
                .map_err(|_| EngineError::Io("frame count lock poisoned".into()))?;
            (done(&c), c.data_bytes + c.end_streams)
        };
        if finished {
            return Ok(true);
        }
        let now = Instant::now();
        if written != last_progress.1 {
            last_progress = (now, written);
        }
        if now > last_progress.0 + idle || now > started + total {
            return Ok(false);
        }
        // Frames queue within a few polls of the connection task; past that, sleep
        // instead of spinning a core for the whole timeout. A release waiting here is
        // untouched: its frames wait in the gate.
        spins += 1;
        if spins < 1000 {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// The client settings every HTTP/2 connection of the engine uses.
fn client_builder(limits: ParseLimits) -> h2::client::Builder {
    // The response head cap of HTTP/1.1 applies to header blocks too. Before, h2's
    // default (16 MB) let a server make the engine decode a 1 MB header block, or
    // about 20 MB of CONTINUATION frames, for every response.
    let max_header_list = u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX);
    let mut builder = h2::client::Builder::new();
    builder.max_header_list_size(max_header_list);
    builder
}

/// One request over an already open HTTP/2 transport, read with the engine's limits and
/// timeout. The fuzz target drives the engine's frame handling through this with a
/// peer that sends arbitrary bytes; the batch path shares the builder and the reader.
pub async fn exchange_over<T>(
    io: T,
    request: &Request,
    limits: ParseLimits,
    read_timeout: Duration,
) -> Result<Response, EngineError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let count = Arc::new(Mutex::new(FrameCount::new()));
    let io = Counted {
        inner: Box::new(io),
        count,
    };
    let handshake = client_builder(limits).handshake::<_, Bytes>(io);
    let (sender, connection) = tokio::time::timeout(read_timeout, handshake)
        .await
        .map_err(|_| EngineError::ReadTimeout)?
        .map_err(h2_err)?;
    let _driver = AbortOnDrop(tokio::spawn(connection));
    let mut sender = tokio::time::timeout(read_timeout, sender.ready())
        .await
        .map_err(|_| EngineError::ReadTimeout)?
        .map_err(h2_err)?;
    let (future, mut send) = sender
        .send_request(to_http(request)?, request.body.is_empty())
        .map_err(h2_err)?;
    if !request.body.is_empty() {
        send.send_data(Bytes::copy_from_slice(&request.body), true)
            .map_err(h2_err)?;
    }
    read_h2_response(future, limits, read_timeout).await.1
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One PING round trip. When it fails because the connection ended, the error says why
/// it ended (a GOAWAY's reason and debug data): before, a server that sent GOAWAY right
/// after the preface was reported as "HTTP/2 error: broken pipe".
async fn ping(
    ping_pong: &mut h2::PingPong,
    driver: &mut tokio::task::JoinHandle<Result<(), h2::Error>>,
    read_timeout: Duration,
) -> Result<(), EngineError> {
    match tokio::time::timeout(read_timeout, ping_pong.ping(h2::Ping::opaque())).await {
        Err(_) => Err(EngineError::ReadTimeout),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            // The connection task ends within a poll or two of the failure.
            let ended = tokio::time::timeout(Duration::from_millis(100), driver).await;
            match ended {
                Ok(Ok(Err(cause))) => Err(h2_err(cause)),
                // A GOAWAY without error (or a plain close) ends the connection cleanly.
                Ok(Ok(Ok(()))) => Err(EngineError::H2(
                    "the server ended the connection (GOAWAY or close) before the batch \
                     was released"
                        .into(),
                )),
                _ => Err(h2_err(e)),
            }
        }
    }
}

/// What one stream's reader produced: index, first byte, result, end.
type StreamResult = (
    usize,
    Option<Instant>,
    Result<Response, EngineError>,
    Instant,
);

/// What a batch has produced so far, kept outside [`run`] so that when the total timeout
/// cuts the batch short, the streams that were already answered keep their answers.
#[derive(Default)]
struct Partial {
    released: Option<Instant>,
    results: Vec<StreamResult>,
}

pub(super) async fn single_packet(
    net: &Net,
    requests: Vec<(usize, Request)>,
) -> (Vec<(usize, Exchange)>, Option<Instant>) {
    let started = Instant::now();
    let fail_all = |requests: Vec<(usize, Request)>, e: EngineError| {
        requests
            .into_iter()
            .map(|(i, r)| (i, Exchange::failed(r, started, e.clone())))
            .collect::<Vec<_>>()
    };
    if requests.is_empty() {
        return (Vec::new(), None);
    }
    // One connection, to the origin of the first request (a batch has one origin).
    let origin = requests[0].1.url.origin.clone();
    if requests.iter().any(|(_, r)| r.url.origin != origin) {
        let e = EngineError::InvalidRequest("a single-packet batch must target one origin".into());
        return (fail_all(requests, e), None);
    }
    let partial = Arc::new(Mutex::new(Partial::default()));
    let running = run(net, &requests, started, partial.clone());
    match tokio::time::timeout(net.config.total_timeout, running).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => (fail_all(requests, e), None),
        // Before, one stream that never finished (a server dripping its body) failed the
        // whole batch with TotalTimeout, throwing away the answers already read. Now only
        // the unfinished streams time out.
        Err(_) => match partial.lock() {
            Ok(p) => {
                let exchanges = assemble(&requests, started, &p, || EngineError::TotalTimeout);
                (exchanges, None)
            }
            Err(_) => (fail_all(requests, EngineError::TotalTimeout), None),
        },
    }
}

/// One exchange per request, from the streams' results; a stream without one gets
/// `missing()`.
fn assemble(
    requests: &[(usize, Request)],
    started: Instant,
    partial: &Partial,
    missing: impl Fn() -> EngineError,
) -> Vec<(usize, Exchange)> {
    let mut out = Vec::new();
    for (i, request) in requests {
        let exchange = match partial.results.iter().find(|r| r.0 == *i) {
            Some((_, first_byte, result, ended)) => Exchange {
                request: request.clone(),
                started,
                released: partial.released,
                first_byte: *first_byte,
                ended: Some(*ended),
                result: result.clone(),
            },
            None => Exchange {
                released: partial.released,
                ..Exchange::failed(request.clone(), started, missing())
            },
        };
        out.push((*i, exchange));
    }
    out
}

async fn run(
    net: &Net,
    requests: &[(usize, Request)],
    started: Instant,
    partial: Arc<Mutex<Partial>>,
) -> Result<(Vec<(usize, Exchange)>, Option<Instant>), EngineError> {
    let config = &net.config;
    let origin = &requests[0].1.url.origin;
    let stream = Arc::new(connect_tcp(config, origin).await?);
    let gate = Arc::new(Mutex::new(Gate::default()));
    let gated = GatedIo {
        stream: stream.clone(),
        gate: gate.clone(),
    };
    // TLS sits above the gate, so the gate holds (and releases) ciphertext.
    let inner: Box<dyn Io> = match origin.scheme {
        Scheme::Http => Box::new(gated),
        Scheme::Https => {
            let tls = net.tls.as_ref().map_err(|e| EngineError::Tls(e.clone()))?;
            let connecting = tls.connect(origin, gated, true);
            Box::new(
                tokio::time::timeout(config.connect_timeout, connecting)
                    .await
                    .map_err(|_| EngineError::ConnectTimeout(origin.authority()))??,
            )
        }
    };
    let count = Arc::new(Mutex::new(FrameCount::new()));
    let io = Counted {
        inner,
        count: count.clone(),
    };
    let (mut sender, mut connection) = client_builder(config.limits)
        .handshake(io)
        .await
        .map_err(h2_err)?;
    let mut ping_pong = connection
        .ping_pong()
        .ok_or_else(|| EngineError::H2("no ping handle".into()))?;
    // The connection task dies with this function, however it ends. Before, an early
    // error (here a PING left unanswered under a flood of SETTINGS frames) left the task
    // running: it kept acknowledging the flood, and the connection open, for the rest of
    // the run. h2 closes a connection whose handles are gone only once it is idle.
    let mut driver = AbortOnDrop(tokio::spawn(connection));

    // A first PING answered means the server's SETTINGS (its stream limit) are known.
    ping(&mut ping_pong, &mut driver.0, config.read_timeout).await?;
    let limit = sender.current_max_send_streams();
    if limit < requests.len() {
        return Err(EngineError::H2(format!(
            "the server allows {limit} concurrent streams, fewer than the {} requests of the batch",
            requests.len()
        )));
    }
    // Open every stream with everything but its final frame.
    let mut streams = Vec::new();
    let mut readers = JoinSet::new();
    for (i, request) in requests {
        let head = to_http(request)?;
        sender = tokio::time::timeout(config.read_timeout, sender.ready())
            .await
            .map_err(|_| EngineError::H2("the server's stream limit blocks the batch".into()))?
            .map_err(h2_err)?;
        let (future, mut send) = sender.send_request(head, false).map_err(h2_err)?;
        let last = match request.body.split_last() {
            Some((last, rest)) => {
                if !rest.is_empty() {
                    send.send_data(Bytes::copy_from_slice(rest), false)
                        .map_err(h2_err)?;
                }
                Bytes::copy_from_slice(&[*last])
            }
            None => Bytes::new(),
        };
        let (limits, read_timeout, index) = (config.limits, config.read_timeout, *i);
        let partial = partial.clone();
        readers.spawn(async move {
            let (first, result) = read_h2_response(future, limits, read_timeout).await;
            if let Ok(mut p) = partial.lock() {
                p.results.push((index, first, result, Instant::now()));
            }
        });
        streams.push((*i, send, last));
    }
    // Bodies beyond the server's flow-control window (64 KB by default) leave as the
    // server opens it. Every byte but the final ones must be on the wire before the
    // gate closes: held in the gate, the server would never see them, never open its
    // window, and the final frames could never be queued. PINGs overtake held DATA, so
    // this waits on the bytes h2 actually wrote.
    let prefix_bytes: usize = requests
        .iter()
        .map(|(_, r)| r.body.len().saturating_sub(1))
        .sum();
    let sent_prefix = wait_until(&count, config.read_timeout, config.total_timeout, |c| {
        c.data_bytes >= prefix_bytes
    })
    .await?;
    if !sent_prefix {
        let sent = count
            .lock()
            .map_err(|_| EngineError::Io("frame count lock poisoned".into()))?
            .data_bytes;
        return Err(EngineError::H2(format!(
            "the server's flow-control window stayed closed (no WINDOW_UPDATE): \
             {sent} of {prefix_bytes} request body bytes could be sent before the release"
        )));
    }
    // A PING answered means every frame queued before it reached the server.
    ping(&mut ping_pong, &mut driver.0, config.read_timeout).await?;
    let warmed = Instant::now();

    gate.lock()
        .map_err(|_| EngineError::Io("gate lock poisoned".into()))?
        .holding = true;
    // A stream the server already answered and closed (it may treat a request whose
    // body is complete as done) takes no final frame; its response is already read.
    let mut queued = 0;
    for (_, send, last) in &mut streams {
        if send.send_data(last.clone(), true).is_ok() {
            queued += 1;
        }
    }
    // Let the connection task move every final frame into the gate (bounded wait).
    let body_bytes: usize = requests.iter().map(|(_, r)| r.body.len()).sum();
    let all_queued = wait_until(&count, config.read_timeout, config.total_timeout, |c| {
        c.end_streams >= queued
    })
    .await?;
    if !all_queued {
        let data_bytes = count
            .lock()
            .map_err(|_| EngineError::Io("frame count lock poisoned".into()))?
            .data_bytes;
        // h2 holds DATA back only for flow control, and the PINGs above overtake
        // held DATA: a server that never opens its window (no WINDOW_UPDATE) lands
        // here. Before, this said only "final frames were never queued".
        return Err(EngineError::H2(if data_bytes < body_bytes {
            format!(
                "the server's flow-control window stayed closed (no WINDOW_UPDATE): \
                 {data_bytes} of {body_bytes} request body bytes could be sent"
            )
        } else {
            "final frames were never queued".into()
        }));
    }
    // The release: everything held goes out in one write; frames queued meanwhile follow.
    let mut released = None;
    loop {
        let chunk = {
            let mut g = gate
                .lock()
                .map_err(|_| EngineError::Io("gate lock poisoned".into()))?;
            if g.held.is_empty() {
                g.holding = false;
                break;
            }
            std::mem::take(&mut g.held)
        };
        let mut at = 0;
        while at < chunk.len() {
            stream
                .writable()
                .await
                .map_err(|e| EngineError::Io(e.to_string()))?;
            match stream.try_write(&chunk[at..]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(EngineError::Io(e.to_string())),
            }
            released.get_or_insert_with(Instant::now);
        }
    }
    if let Ok(mut p) = partial.lock() {
        p.released = released;
    }
    while readers.join_next().await.is_some() {}
    drop(streams);
    drop(sender);
    drop(driver);
    let p = partial
        .lock()
        .map_err(|_| EngineError::Io("results lock poisoned".into()))?;
    let out = assemble(requests, started, &p, || {
        EngineError::Io("reader task failed".into())
    });
    Ok((out, Some(warmed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_end_stream_frames_across_writes() {
        let mut bytes = vec![b'P'; 24];
        // DATA len 1 END_STREAM stream 1; WINDOW_UPDATE; DATA len 0 END_STREAM stream 3.
        bytes.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 1, b'x']);
        bytes.extend_from_slice(&[0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        bytes.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 3]);
        for step in [1, 5, 100] {
            let mut count = FrameCount::new();
            for chunk in bytes.chunks(step) {
                count.observe(chunk);
            }
            assert_eq!(count.end_streams, 2);
        }
    }
}
