//! The synchronized release methods, checked against a server that timestamps the
//! arrival of every request's final byte. Assertions are about structure and order,
//! never about how small a time is; the spreads are printed for the record.

mod support;

use std::time::{Duration, Instant};

use support::{Resp, TestServer};
use tocsin_probe::engine::{Engine, EngineConfig, Origin, Request, SyncMode, Url};
use tocsin_probe::scope::Scope;

fn engine_for(server: &TestServer) -> Engine {
    Engine::new(
        EngineConfig::default(),
        Scope::new([Origin::parse(&server.origin()).unwrap()]),
    )
}

fn spread(times: &[Instant]) -> Duration {
    let min = times.iter().min().unwrap();
    let max = times.iter().max().unwrap();
    max.duration_since(*min)
}

fn requests(server: &TestServer, n: usize, post: bool) -> Vec<Request> {
    (0..n)
        .map(|i| {
            let url = Url::parse(&server.url(&format!("/r/{i}"))).unwrap();
            if post {
                Request::new("POST", url).body(format!("{{\"n\":{i}}}"))
            } else {
                Request::new("GET", url)
            }
        })
        .collect()
}

// current_thread on purpose: the release loop never yields, so no reader can record a
// response before every final byte was written. That is the structure under test.
#[tokio::test(flavor = "current_thread")]
async fn last_byte_releases_after_every_warmup_and_before_any_response() {
    for post in [false, true] {
        let server = TestServer::start(|_| Resp::new(200, "ok"));
        let engine = engine_for(&server);
        let batch = engine
            .batch(requests(&server, 20, post), SyncMode::LastByte)
            .await
            .unwrap();
        let warmed = batch.warmed.expect("last-byte batches are warmed");
        assert_eq!(batch.exchanges.len(), 20);
        let releases: Vec<Instant> = batch
            .exchanges
            .iter()
            .map(|e| e.released.unwrap())
            .collect();
        // Released in order, all after the last warm-up byte.
        assert!(releases.windows(2).all(|w| w[0] <= w[1]));
        assert!(releases[0] >= warmed);
        let last_release = *releases.last().unwrap();
        for e in &batch.exchanges {
            assert_eq!(e.status(), Some(200), "{:?}", e.result);
            // No response was seen before every final byte had been written.
            assert!(e.first_byte.unwrap() >= last_release);
        }
        let arrivals = server.requests();
        assert_eq!(arrivals.len(), 20);
        for a in &arrivals {
            // Every final byte reached the server after every connection was warmed.
            assert!(a.final_byte >= warmed);
            assert!(a.first_byte <= a.final_byte);
        }
        let finals: Vec<Instant> = arrivals.iter().map(|a| a.final_byte).collect();
        eprintln!(
            "last-byte post={post}: client release spread {:?}, server final-byte spread {:?}",
            batch.release_spread().unwrap(),
            spread(&finals)
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn baseline_sends_without_warmup() {
    let server = TestServer::start(|_| Resp::new(200, "ok"));
    let engine = engine_for(&server);
    let batch = engine
        .batch(requests(&server, 20, true), SyncMode::None)
        .await
        .unwrap();
    assert!(batch.warmed.is_none());
    assert!(batch.exchanges.iter().all(|e| e.status() == Some(200)));
    let finals: Vec<Instant> = server.requests().iter().map(|a| a.final_byte).collect();
    eprintln!("none: server final-byte spread {:?}", spread(&finals));
}

#[tokio::test(flavor = "current_thread")]
async fn caps_refuse_before_sending() {
    let server = TestServer::start(|_| Resp::new(200, "ok"));
    let config = EngineConfig {
        max_requests: 3,
        max_batch: 2,
        ..EngineConfig::default()
    };
    let engine = Engine::new(
        config,
        Scope::new([Origin::parse(&server.origin()).unwrap()]),
    );
    assert!(engine
        .batch(requests(&server, 3, false), SyncMode::LastByte)
        .await
        .is_err());
    assert!(engine
        .batch(requests(&server, 2, false), SyncMode::LastByte)
        .await
        .is_ok());
    let e = engine.send(requests(&server, 1, false).remove(0)).await;
    assert!(e.result.is_ok());
    let e = engine.send(requests(&server, 1, false).remove(0)).await;
    assert!(e.result.is_err(), "fourth request must hit the cap");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn timeouts_end_silent_servers() {
    // A server that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = EngineConfig {
        read_timeout: Duration::from_millis(200),
        total_timeout: Duration::from_secs(2),
        ..EngineConfig::default()
    };
    let engine = Engine::new(
        config,
        Scope::new([Origin::parse(&format!("http://{addr}")).unwrap()]),
    );
    let url = Url::parse(&format!("http://{addr}/")).unwrap();
    let started = Instant::now();
    let e = engine.send(Request::new("GET", url)).await;
    assert!(e.result.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(listener);
}
