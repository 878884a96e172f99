//! Arbitrary bytes as an HTTP/2 server → the engine's HTTP/2 client path.
//!
//! The engine's own settings (`h2c::exchange_over`: the header-list cap, the response
//! reader with its body caps and timeouts) drive one request over an in-memory pipe.
//! The fuzz input is what the "server" answers; a valid SETTINGS frame can be put in
//! front of it (first byte) so inputs reach past the handshake. The runtime's clock is
//! paused, so an input that stalls the exchange runs into the read timeout at once
//! instead of hanging the target. It must end in a response or an error, never a panic.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tocsin_probe::engine::h2c::exchange_over;
use tocsin_probe::engine::{ParseLimits, Request, Url};

/// An empty SETTINGS frame (the server preface) and its ACK.
const SERVER_PREFACE: [u8; 18] = [0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];

fn request() -> &'static Request {
    static REQUEST: OnceLock<Request> = OnceLock::new();
    REQUEST.get_or_init(|| {
        let url = Url::parse("http://127.0.0.1:8080/items/1").expect("fixed URL");
        Request::new("POST", url)
            .header("authorization", "Bearer fuzz")
            .body(b"{}".to_vec())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, answer)) = data.split_first() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let limits = ParseLimits {
        max_head_bytes: 1024,
        max_header_count: 16,
        max_body_bytes: 4096,
        max_body_kept: 512,
    };
    runtime.block_on(async {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let mut script = Vec::with_capacity(answer.len() + SERVER_PREFACE.len());
        if control & 1 != 0 {
            script.extend_from_slice(&SERVER_PREFACE);
        }
        script.extend_from_slice(answer);
        let keep_open = control & 2 != 0;
        let peer = tokio::spawn(async move {
            let _ = server.write_all(&script).await;
            if !keep_open {
                let _ = server.shutdown().await;
            }
            // Drain what the client writes so it never blocks on a full pipe.
            let mut sink = [0u8; 4096];
            while let Ok(n) = server.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        });
        let outcome = exchange_over(client, request(), limits, Duration::from_secs(5)).await;
        if let Ok(response) = outcome {
            assert!(response.body.len() <= limits.max_body_kept);
            assert!(response.body_len <= limits.max_body_bytes as u64);
            assert!(response.headers.len() <= limits.max_header_count);
        }
        peer.abort();
    });
});
