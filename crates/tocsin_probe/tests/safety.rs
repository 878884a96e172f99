//! Scope, redirects and redaction: an off-scope redirect is not followed, credentials
//! never travel with a redirect, and a planted key appears in no output.

mod support;

use clap::Parser;
use support::{Req, Resp, TestServer};
use tocsin_probe::cli::{run_probe_with_env, run_race, ProbeArgs, RaceArgs, RaceFormat};
use tocsin_probe::engine::{Engine, EngineConfig, Origin, Request, SyncMode, Url};
use tocsin_probe::scope::Scope;

#[tokio::test(flavor = "current_thread")]
async fn off_scope_redirect_is_not_followed() {
    let outside = TestServer::start(|_| Resp::new(200, "outside"));
    let target = format!("{}/landing", outside.origin());
    let server = TestServer::start(move |_| Resp::new(302, "").header("Location", &target));
    let engine = Engine::new(
        EngineConfig::default(),
        Scope::new([Origin::parse(&server.origin()).unwrap()]),
    );
    let request = Request::new("GET", Url::parse(&server.url("/start")).unwrap())
        .header("Authorization", "Bearer planted-secret");
    let followed = engine.send_following(request, 5, &[]).await;
    assert_eq!(followed.chain.len(), 1);
    assert!(followed.stopped_off_scope.is_some());
    assert_eq!(
        outside.connections(),
        0,
        "the off-scope origin was contacted"
    );

    // Direct requests off scope are refused too, before any connection.
    let e = engine
        .send(Request::new("GET", Url::parse(&outside.url("/")).unwrap()))
        .await;
    assert!(e.result.is_err());
    let batch = engine
        .batch(
            vec![Request::new("GET", Url::parse(&outside.url("/")).unwrap())],
            SyncMode::LastByte,
        )
        .await
        .unwrap();
    assert!(batch.exchanges[0].result.is_err());
    assert_eq!(outside.connections(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn credentials_never_follow_a_redirect() {
    let second = TestServer::start(|_| Resp::new(200, "landed"));
    let target = format!("{}/landing", second.origin());
    let first = TestServer::start(move |req: &Req| {
        if req.path == "/start" {
            Resp::new(307, "").header("Location", &target)
        } else {
            Resp::new(302, "").header("Location", "/start")
        }
    });
    // Both origins in scope: the redirect is followed, without the credentials.
    let engine = Engine::new(
        EngineConfig::default(),
        Scope::new([
            Origin::parse(&first.origin()).unwrap(),
            Origin::parse(&second.origin()).unwrap(),
        ]),
    );
    let request = Request::new("GET", Url::parse(&first.url("/hop")).unwrap())
        .header("Authorization", "Bearer planted-secret")
        .header("X-API-Key", "planted-key")
        .header("Cookie", "session=planted");
    let followed = engine
        .send_following(request, 5, &["X-API-Key".to_string()])
        .await;
    assert_eq!(followed.chain.len(), 3);
    assert_eq!(followed.last().unwrap().status(), Some(200));
    let hops = first.requests();
    assert!(
        hops[0].header("authorization").is_some(),
        "the first request carries them"
    );
    for req in hops.iter().skip(1).chain(second.requests().iter()) {
        for name in ["authorization", "x-api-key", "cookie"] {
            assert!(
                req.header(name).is_none(),
                "{name} followed a redirect to {}",
                req.path
            );
        }
    }
}

const PLANTED: &str = "tk_live_PLANTED_4f9a2c7e1b";

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

/// A server that accepts the planted key, echoes every header back in its bodies and in
/// a redirect, and fails some requests, so the key has every path out.
fn echo_server() -> TestServer {
    TestServer::start(|req: &Req| {
        let echoed = format!("{{\"seen\": {:?}}}", req.headers);
        match req.path.as_str() {
            "/redirect" => {
                Resp::new(302, echoed).header("Location", &format!("/login?k={PLANTED}"))
            }
            "/broken" => Resp::new(500, "x"),
            _ => {
                let key = req.header("x-api-key").unwrap_or("");
                if key == PLANTED || key == "other-key" {
                    Resp::new(200, echoed)
                } else if key.is_empty() {
                    Resp::new(200, "{\"guest\": true}")
                } else {
                    Resp::new(401, echoed)
                }
            }
        }
    })
}

#[test]
fn planted_key_appears_in_no_output() {
    let server = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            r#"
[[race]]
request = {{ method = "POST", path = "/me?api_key={PLANTED}", identity = "alice" }}
count = 3
limit = 1
[[revocation]]
identity = "alice"
check = {{ path = "/me" }}
revoke = {{ method = "POST", path = "/broken" }}
"#
        ),
    )
    .unwrap();
    let cli = ProbeCli::try_parse_from([
        "probe".to_string(),
        server.origin(),
        "--identity".into(),
        "alice:env=PLANTED_VAR".into(),
        "--identity".into(),
        "bob:X-API-Key=other-key".into(),
        "--object".into(),
        format!("alice:/notes/{PLANTED}"),
        "--endpoint".into(),
        "/redirect".into(),
        "--endpoint".into(),
        "/me".into(),
        "--endpoint".into(),
        format!("GET /q?key={PLANTED}"),
        "--plan".into(),
        plan.display().to_string(),
        "--rate".into(),
        "1000".into(),
    ])
    .unwrap();
    let env = |v: &str| (v == "PLANTED_VAR").then(|| format!("X-API-Key: {PLANTED}"));
    let outcome = run_probe_with_env(&cli.args, &env).unwrap();
    assert!(
        !outcome.findings.is_empty(),
        "the run must produce findings to search"
    );
    let mut outputs = vec![
        serde_json::to_string(&outcome.findings).unwrap(),
        serde_json::to_string(&outcome.errors).unwrap(),
        format!("{:?}", outcome.findings),
        format!("{:?}", outcome.errors),
        outcome.notes.join("\n"),
    ];
    // A run that fails: the error message must be redacted too.
    let bad = ProbeCli::try_parse_from([
        "probe".to_string(),
        format!("http://127.0.0.1:1/{PLANTED} x"),
        "--identity".into(),
        format!("alice:X-API-Key={PLANTED}"),
    ])
    .unwrap();
    outputs.push(format!(
        "{:#}",
        run_probe_with_env(&bad.args, &env).unwrap_err()
    ));

    // The race command, whose table echoes bodies.
    let race = RaceCli::try_parse_from([
        "race".to_string(),
        server.url("/me"),
        "-H".into(),
        format!("X-API-Key: {PLANTED}"),
        "--count".into(),
        "3".into(),
    ])
    .unwrap();
    let race_outcome = run_race(&race.args).unwrap();
    outputs.push(race_outcome.render(RaceFormat::Text));
    outputs.push(race_outcome.render(RaceFormat::Json));
    for (i, out) in outputs.iter().enumerate() {
        assert!(!out.contains(PLANTED), "output {i} leaks the key:\n{out}");
    }
    assert!(outputs.iter().any(|o| o.contains("<redacted:alice>")));
}
