//! Arbitrary bytes → the engine's HTTP/1.1 response parser, fed in pieces.
//!
//! The first byte picks the piece size (1 to 64 bytes: a server may deliver a response
//! one byte at a time, splitting every token), whether the request was HEAD, and
//! whether the peer closes afterwards; tight limits make the caps reachable. Whatever
//! the bytes, the parser must end in a response or a `ParseError`, never panic, and
//! never keep more body than its limits allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tocsin_probe::engine::http1::ResponseParser;
use tocsin_probe::engine::ParseLimits;

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let piece = usize::from(control & 0x3f) + 1;
    let head_request = control & 0x40 != 0;
    let close = control & 0x80 != 0;
    let limits = ParseLimits {
        max_head_bytes: 512,
        max_header_count: 8,
        max_body_bytes: 1024,
        max_body_kept: 256,
    };
    let mut parser = ResponseParser::new(limits, head_request);
    let mut done = false;
    for chunk in bytes.chunks(piece) {
        match parser.feed(chunk) {
            Ok(true) => {
                done = true;
                break;
            }
            Ok(false) => {}
            Err(_) => return,
        }
    }
    if !done && (!close || parser.eof().is_err()) {
        return;
    }
    if let Ok(response) = parser.finish() {
        assert!(response.body.len() <= limits.max_body_kept);
        assert!(response.body_len <= limits.max_body_bytes as u64);
        assert!(response.headers.len() <= limits.max_header_count);
        let _ = response.is_success();
    }
});
