//! Single-packet release on HTTP/2 (h2c), checked against an h2 server whose socket
//! records which read() call delivered each stream's END_STREAM frame.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tocsin_probe::engine::{Engine, EngineConfig, Origin, Request, SyncMode, Url};
use tocsin_probe::scope::Scope;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Default)]
struct Record {
    /// (read call index, arrival) of every END_STREAM DATA frame.
    end_streams: Vec<(usize, Instant)>,
    reads: usize,
}

/// Wraps the server's socket and parses the client's frames as they are read.
struct Recording {
    inner: tokio::net::TcpStream,
    record: Arc<Mutex<Record>>,
    pending: Vec<u8>,
    preface_left: usize,
}

impl AsyncRead for Recording {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let new = buf.filled()[before..].to_vec();
            if !new.is_empty() {
                let now = Instant::now();
                let this = &mut *self;
                let mut rec = this.record.lock().unwrap();
                rec.reads += 1;
                let call = rec.reads;
                let mut data = &new[..];
                let skip = this.preface_left.min(data.len());
                this.preface_left -= skip;
                data = &data[skip..];
                this.pending.extend_from_slice(data);
                loop {
                    if this.pending.len() < 9 {
                        break;
                    }
                    let len =
                        u32::from_be_bytes([0, this.pending[0], this.pending[1], this.pending[2]])
                            as usize;
                    if this.pending.len() < 9 + len {
                        break;
                    }
                    if this.pending[3] == 0 && this.pending[4] & 1 == 1 {
                        rec.end_streams.push((call, now));
                    }
                    this.pending.drain(..9 + len);
                }
            }
        }
        poll
    }
}

impl AsyncWrite for Recording {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

struct H2Server {
    addr: std::net::SocketAddr,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl H2Server {
    fn start(max_streams: u32) -> H2Server {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let record = Arc::new(Mutex::new(Record::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (rec, stop2) = (record.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let Ok(Ok((socket, _))) =
                        tokio::time::timeout(Duration::from_millis(20), listener.accept()).await
                    else {
                        continue;
                    };
                    let io = Recording {
                        inner: socket,
                        record: rec.clone(),
                        pending: Vec::new(),
                        preface_left: 24,
                    };
                    tokio::spawn(async move {
                        let Ok(mut conn) = h2::server::Builder::new()
                            .max_concurrent_streams(max_streams)
                            .handshake::<_, bytes::Bytes>(io)
                            .await
                        else {
                            return;
                        };
                        while let Some(Ok((request, mut respond))) = conn.accept().await {
                            tokio::spawn(async move {
                                let mut body = request.into_body();
                                let mut received = 0usize;
                                while let Some(Ok(chunk)) = body.data().await {
                                    received += chunk.len();
                                    let _ = body.flow_control().release_capacity(chunk.len());
                                }
                                let response =
                                    http::Response::builder().status(200).body(()).unwrap();
                                if let Ok(mut send) = respond.send_response(response, false) {
                                    let answer = format!("ok {received}");
                                    let _ = send.send_data(bytes::Bytes::from(answer), true);
                                }
                            });
                        }
                    });
                }
            });
        });
        H2Server {
            addr,
            record,
            stop,
            thread: Some(thread),
        }
    }
}

impl H2Server {
    /// Its origin, and an engine scoped to it with the default configuration.
    fn engine(&self) -> (String, Engine) {
        let origin = format!("http://{}", self.addr);
        let scope = Scope::new([Origin::parse(&origin).unwrap()]);
        (origin, Engine::new(EngineConfig::default(), scope))
    }

    /// Every END_STREAM frame arrived in one read() call, after `warmed`: the final
    /// frames left in one write, after every warm-up frame.
    fn assert_final_frames_in_one_read(&self, count: usize, warmed: Instant) -> usize {
        let rec = self.record.lock().unwrap();
        assert_eq!(rec.end_streams.len(), count, "one END_STREAM per request");
        let first_call = rec.end_streams[0].0;
        assert!(
            rec.end_streams.iter().all(|(call, _)| *call == first_call),
            "{:?}",
            rec.end_streams.iter().map(|e| e.0).collect::<Vec<_>>()
        );
        assert!(rec.end_streams.iter().all(|(_, t)| *t >= warmed));
        first_call
    }
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
async fn single_packet_final_frames_arrive_in_one_read_after_warmup() {
    for (n, post) in [(20, false), (20, true), (100, true)] {
        let server = H2Server::start(1000);
        let (origin, engine) = server.engine();
        let requests: Vec<Request> = (0..n)
            .map(|i| {
                let r = Request::new(
                    if post { "POST" } else { "GET" },
                    Url::parse(&format!("{origin}/r/{i}")).unwrap(),
                );
                if post {
                    r.body(format!("payload-{i}"))
                } else {
                    r
                }
            })
            .collect();
        let batch = engine
            .batch(requests, SyncMode::SinglePacket)
            .await
            .unwrap();
        let warmed = batch.warmed.expect("warmed");
        for e in &batch.exchanges {
            assert_eq!(e.status(), Some(200), "{:?}", e.result);
            let sent = e.request.body.len();
            assert_eq!(e.response().unwrap().body, format!("ok {sent}").as_bytes());
            assert!(e.released.unwrap() >= warmed);
            assert!(e.first_byte.unwrap() >= e.released.unwrap());
        }
        let first_call = server.assert_final_frames_in_one_read(n, warmed);
        eprintln!(
            "single-packet n={n} post={post}: all {n} END_STREAM frames in read #{first_call}"
        );
    }
}

/// Bodies beyond the server's flow-control window (64 KB per stream and per
/// connection) are sent in full as the server opens its window, and the final frames
/// still leave together, after all of it.
#[tokio::test(flavor = "current_thread")]
async fn single_packet_bodies_beyond_the_flow_control_window() {
    let server = H2Server::start(1000);
    let (origin, engine) = server.engine();
    let sizes = [70_000usize, 200_000, 65_536, 1_000_000, 3];
    let requests: Vec<Request> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            Request::new("POST", Url::parse(&format!("{origin}/upload/{i}")).unwrap())
                .body(vec![b'a' + i as u8; size])
        })
        .collect();
    let batch = engine
        .batch(requests, SyncMode::SinglePacket)
        .await
        .unwrap();
    let warmed = batch.warmed.expect("warmed");
    for (e, size) in batch.exchanges.iter().zip(sizes) {
        assert_eq!(e.status(), Some(200), "{:?}", e.result);
        assert_eq!(e.response().unwrap().body, format!("ok {size}").as_bytes());
    }
    server.assert_final_frames_in_one_read(sizes.len(), warmed);
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_beyond_the_stream_limit_fails_fast() {
    let server = H2Server::start(5);
    let (origin, engine) = server.engine();
    let requests = vec![Request::new("GET", Url::parse(&format!("{origin}/")).unwrap()); 10];
    let started = Instant::now();
    let batch = engine
        .batch(requests, SyncMode::SinglePacket)
        .await
        .unwrap();
    for e in &batch.exchanges {
        let err = e.result.as_ref().unwrap_err().to_string();
        assert!(err.contains("allows 5 concurrent streams"), "{err}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(server.record.lock().unwrap().end_streams.is_empty());
}
