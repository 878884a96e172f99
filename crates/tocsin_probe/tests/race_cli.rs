//! `tocsin race`: curl-style flags, raw request files, the outcome table and the JSON
//! listing, against a single-use coupon server.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use support::{Req, Resp, TestServer};
use tocsin_probe::cli::{run_race, write_race, RaceArgs, RaceFormat};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: RaceArgs,
}

fn coupon_server() -> TestServer {
    let used = Arc::new(Mutex::new(false));
    TestServer::start(move |req: &Req| {
        if req.method != "POST" || req.body != b"code=SAVE10" {
            return Resp::new(400, r#"{"error": "bad request"}"#);
        }
        if *used.lock().unwrap() {
            return Resp::new(409, r#"{"error": "already used"}"#);
        }
        std::thread::sleep(Duration::from_millis(50));
        *used.lock().unwrap() = true;
        Resp::new(200, r#"{"redeemed": true}"#)
    })
}

fn parse(args: &[String]) -> RaceArgs {
    let mut argv = vec!["race".to_string()];
    argv.extend(args.iter().cloned());
    Cli::try_parse_from(argv).unwrap().args
}

#[test]
fn table_and_json_for_a_limit_overrun() {
    let server = coupon_server();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("race.json");
    let args = parse(&[
        server.url("/redeem"),
        "-d".into(),
        "code=SAVE10".into(),
        "--count".into(),
        "8".into(),
        "--format".into(),
        "json".into(),
        "--output".into(),
        out.display().to_string(),
    ]);
    let outcome = run_race(&args).unwrap();
    let successes = outcome
        .groups
        .iter()
        .filter(|g| g.status == Some(200))
        .map(|g| g.count)
        .sum::<usize>();
    assert!(
        successes > 1,
        "the coupon was redeemed {successes} times: {:#?}",
        outcome.groups
    );
    let text = outcome.render(RaceFormat::Text);
    assert!(
        text.contains("release spread:") && text.contains("  200  "),
        "{text}"
    );

    write_race(&outcome, &args).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(json["sync"], "last-byte");
    assert_eq!(json["count"], 8);
    assert!(json["release_spread_ms"].is_number());
    let requests = json["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 8);
    for r in requests {
        assert!(r["status"].is_u64());
        assert!(r["release_offset_ms"].is_number());
        assert!(r["response_ms"].is_number());
        assert!(r["body_sha256"].as_str().unwrap().len() == 64);
    }
    assert_eq!(server.requests().len(), 8);
}

#[test]
fn raw_request_file_and_baseline_sync() {
    let server = coupon_server();
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("request.txt");
    std::fs::write(&raw, "POST /redeem HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\ncode=SAVE10\n").unwrap();
    let args = parse(&[
        server.origin(),
        "--raw".into(),
        raw.display().to_string(),
        "--count".into(),
        "3".into(),
        "--sync".into(),
        "none".into(),
    ]);
    let outcome = run_race(&args).unwrap();
    assert_eq!(outcome.sync, "none");
    assert!(
        outcome
            .requests
            .iter()
            .all(|r| matches!(r.status, Some(200 | 409))),
        "{:#?}",
        outcome.requests
    );
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("host") == Some(server.addr.to_string().as_str())));
}

#[test]
fn bad_flags_are_errors_before_any_request() {
    let server = coupon_server();
    for args in [
        vec![server.url("/"), "--count".into(), "0".into()],
        vec![server.url("/"), "-H".into(), "NoColon".into()],
        vec![server.url("/"), "-X".into(), "BAD METHOD".into()],
        vec!["ftp://127.0.0.1/".into()],
    ] {
        assert!(run_race(&parse(&args)).is_err(), "{args:?}");
    }
    assert_eq!(server.connections(), 0);
}
