//! https origins: HTTP/1.1 (plain sends and last-byte) and HTTP/2 single-packet over TLS
//! with ALPN, against a rustls server with a certificate made for the test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tocsin_probe::engine::{
    Engine, EngineConfig, EngineError, Origin, Request, SyncMode, TlsOptions, Url,
};
use tocsin_probe::scope::Scope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct TlsServer {
    addr: std::net::SocketAddr,
    ca_pem: String,
    /// (protocol, arrival of the request's final byte or END_STREAM)
    finals: Arc<Mutex<Vec<(&'static str, Instant)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsServer {
    fn start() -> TlsServer {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .unwrap();
        let ca_pem = certified.cert.pem();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let finals = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (f2, s2) = (finals.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let deadline = Instant::now() + Duration::from_secs(60);
                while !s2.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let Ok(Ok((sock, _))) =
                        tokio::time::timeout(Duration::from_millis(20), listener.accept()).await
                    else {
                        continue;
                    };
                    let (acceptor, finals) = (acceptor.clone(), f2.clone());
                    tokio::spawn(async move {
                        let Ok(Ok(tls)) =
                            tokio::time::timeout(Duration::from_secs(5), acceptor.accept(sock))
                                .await
                        else {
                            return;
                        };
                        if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                            serve_h2(tls, finals).await;
                        } else {
                            serve_http1(tls, finals).await;
                        }
                    });
                }
            });
        });
        TlsServer {
            addr,
            ca_pem,
            finals,
            stop,
            thread: Some(thread),
        }
    }

    fn origin(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve_http1<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    finals: Arc<Mutex<Vec<(&'static str, Instant)>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await
        else {
            return;
        };
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
                finals.lock().unwrap().push(("http/1.1", Instant::now()));
                break;
            }
        }
    }
    let _ = s
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure")
        .await;
    let _ = s.shutdown().await;
}

async fn serve_h2<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: S,
    finals: Arc<Mutex<Vec<(&'static str, Instant)>>>,
) {
    let Ok(mut conn) = h2::server::handshake(s).await else {
        return;
    };
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        let finals = finals.clone();
        tokio::spawn(async move {
            let mut body = request.into_body();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            finals.lock().unwrap().push(("h2", Instant::now()));
            let response = http::Response::builder().status(200).body(()).unwrap();
            if let Ok(mut send) = respond.send_response(response, false) {
                let _ = send.send_data(bytes::Bytes::from_static(b"secure"), true);
            }
        });
    }
}

fn engine(server: &TlsServer, tls: TlsOptions) -> Engine {
    Engine::new(
        EngineConfig {
            tls,
            ..EngineConfig::default()
        },
        Scope::new([Origin::parse(&server.origin()).unwrap()]),
    )
}

fn with_ca(server: &TlsServer) -> TlsOptions {
    TlsOptions {
        insecure: false,
        ca_pem: Some(server.ca_pem.clone().into_bytes()),
    }
}

fn posts(server: &TlsServer, n: usize) -> Vec<Request> {
    (0..n)
        .map(|i| {
            Request::new(
                "POST",
                Url::parse(&format!("{}/r/{i}", server.origin())).unwrap(),
            )
            .body(format!("p{i}"))
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn https_last_byte_releases_after_warmup() {
    let server = TlsServer::start();
    let engine = engine(&server, with_ca(&server));
    let one = engine.send(posts(&server, 1).remove(0)).await;
    assert_eq!(
        one.response().map(|r| r.body.as_slice()),
        Some(&b"secure"[..]),
        "{:?}",
        one.result
    );
    let batch = engine
        .batch(posts(&server, 10), SyncMode::LastByte)
        .await
        .unwrap();
    let warmed = batch.warmed.unwrap();
    assert!(
        batch.exchanges.iter().all(|e| e.status() == Some(200)),
        "{:?}",
        batch.exchanges[0].result
    );
    let finals = server.finals.lock().unwrap().clone();
    assert_eq!(finals.len(), 11);
    assert!(finals
        .iter()
        .skip(1)
        .all(|(p, t)| *p == "http/1.1" && *t >= warmed));
}

#[tokio::test(flavor = "current_thread")]
async fn https_single_packet_over_alpn_h2() {
    let server = TlsServer::start();
    let engine = engine(&server, with_ca(&server));
    let batch = engine
        .batch(posts(&server, 20), SyncMode::SinglePacket)
        .await
        .unwrap();
    let warmed = batch.warmed.unwrap();
    for e in &batch.exchanges {
        assert_eq!(
            e.response().map(|r| r.body.as_slice()),
            Some(&b"secure"[..]),
            "{:?}",
            e.result
        );
    }
    let finals = server.finals.lock().unwrap().clone();
    assert_eq!(finals.len(), 20);
    assert!(finals.iter().all(|(p, t)| *p == "h2" && *t >= warmed));
}

#[tokio::test(flavor = "current_thread")]
async fn certificates_are_verified_unless_insecure() {
    let server = TlsServer::start();
    let strict = engine(&server, TlsOptions::default());
    let e = strict.send(posts(&server, 1).remove(0)).await;
    assert!(
        matches!(e.result, Err(EngineError::Tls(_))),
        "{:?}",
        e.result
    );
    let lax = engine(
        &server,
        TlsOptions {
            insecure: true,
            ca_pem: None,
        },
    );
    let e = lax.send(posts(&server, 1).remove(0)).await;
    assert_eq!(e.status(), Some(200));
    let bad_ca = engine(
        &server,
        TlsOptions {
            insecure: false,
            ca_pem: Some(b"not a pem".to_vec()),
        },
    );
    let e = bad_ca.send(posts(&server, 1).remove(0)).await;
    assert!(
        matches!(e.result, Err(EngineError::Tls(_))),
        "{:?}",
        e.result
    );
}
