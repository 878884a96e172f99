//! HTTP/2 single-packet release over h2c (prior knowledge). Built next.

use std::time::Instant;

use super::{EngineConfig, EngineError, Exchange, Request};

pub(super) async fn single_packet(
    _config: &EngineConfig,
    requests: Vec<(usize, Request)>,
) -> (Vec<(usize, Exchange)>, Option<Instant>) {
    let started = Instant::now();
    let out = requests
        .into_iter()
        .map(|(i, r)| {
            (
                i,
                Exchange::failed(
                    r,
                    started,
                    EngineError::Unsupported("single-packet is not built yet".into()),
                ),
            )
        })
        .collect();
    (out, None)
}
