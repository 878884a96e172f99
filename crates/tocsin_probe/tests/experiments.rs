//! Each experiment against small Rust servers written here: a vulnerable twin that must
//! be found and a fixed twin that must stay silent. Runs are bounded by the engine's caps.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use support::{Req, Resp, TestServer};
use tocsin_probe::cli::{run_probe_with_env, ProbeArgs, ProbeOutcome};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ProbeArgs,
}

fn probe(server: &TestServer, extra: &[&str], plan: Option<&str>) -> ProbeOutcome {
    let dir = tempfile::tempdir().unwrap();
    let mut argv: Vec<String> = vec!["probe".into(), server.origin()];
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv.extend([
        "--rate".into(),
        "1000".into(),
        "--max-requests".into(),
        "400".into(),
    ]);
    if let Some(plan) = plan {
        let path = dir.path().join("plan.toml");
        std::fs::write(&path, plan).unwrap();
        argv.extend(["--plan".into(), path.display().to_string()]);
    }
    let cli = Cli::try_parse_from(argv).unwrap();
    run_probe_with_env(&cli.args, &|v| {
        (v == "TOCSIN_TEST_KEY").then(|| "X-API-Key: key-carol".into())
    })
    .unwrap()
}

fn codes(outcome: &ProbeOutcome) -> Vec<&str> {
    outcome.findings.iter().map(|f| f.code.as_str()).collect()
}

const IDS: &[&str] = &[
    "--identity",
    "alice:X-API-Key=key-alice",
    "--identity",
    "bob:X-API-Key=key-bob",
];

fn owner_of(key: Option<&str>) -> Option<&'static str> {
    match key {
        Some("key-alice") => Some("alice"),
        Some("key-bob") => Some("bob"),
        Some("key-admin") => Some("admin"),
        _ => None,
    }
}

// ---------------------------------------------------------------- AUTH101

fn auth_server(vulnerable: bool) -> TestServer {
    TestServer::start(move |req: &Req| {
        if req.path == "/health" {
            return Resp::new(200, r#"{"ok": true}"#);
        }
        let key = req.header("x-api-key");
        match (owner_of(key), key) {
            (Some(who), _) => {
                Resp::new(200, format!(r#"{{"user": "{who}", "plan": "pro-{who}"}}"#))
            }
            // The bug: a missing key falls through to a default principal.
            (None, None) if vulnerable => Resp::new(200, r#"{"user": "guest", "plan": "free"}"#),
            _ => Resp::new(401, r#"{"error": "unauthorized"}"#),
        }
    })
}

#[test]
fn auth101_finds_missing_key_fallthrough_and_ignores_public_routes() {
    let args: Vec<&str> = IDS
        .iter()
        .copied()
        .chain([
            "--endpoint",
            "GET /me",
            "--endpoint",
            "GET /health",
            "--select",
            "AUTH101",
        ])
        .collect();
    let server = auth_server(true);
    let outcome = probe(&server, &args, None);
    assert_eq!(codes(&outcome), vec!["AUTH101"], "{:#?}", outcome.findings);
    let f = &outcome.findings[0];
    assert!(f.message.contains("no key"), "{}", f.message);
    assert!(f
        .evidence
        .iter()
        .any(|e| e.note.as_deref() == Some("no key: accepted")));

    let server = auth_server(false);
    let outcome = probe(&server, &args, None);
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
}

// ---------------------------------------------------------------- BOLA101

/// Notes 1 (alice) and 2 (bob). `read_checked` / `write_checked` pick the bug.
fn notes_server(read_checked: bool, write_checked: bool) -> TestServer {
    let notes: Arc<Mutex<HashMap<String, (String, String)>>> =
        Arc::new(Mutex::new(HashMap::from([
            (
                "/notes/1".to_string(),
                (
                    "alice".to_string(),
                    "alice private note about tulips".to_string(),
                ),
            ),
            (
                "/notes/2".to_string(),
                ("bob".to_string(), "bob private note about cars".to_string()),
            ),
        ])));
    TestServer::start(move |req: &Req| {
        let Some(who) = owner_of(req.header("x-api-key")) else {
            return Resp::new(401, r#"{"error": "unauthorized"}"#);
        };
        let mut notes = notes.lock().unwrap();
        if req.path == "/notes" {
            // The caller's own notes, as a collection route lists them.
            let mine: Vec<String> = notes
                .iter()
                .filter(|(_, (owner, _))| owner == who)
                .map(|(path, _)| format!(r#"{{"id": {}}}"#, path.trim_start_matches("/notes/")))
                .collect();
            return Resp::new(200, format!("[{}]", mine.join(",")));
        }
        let Some((owner, text)) = notes.get(&req.path).cloned() else {
            return Resp::new(404, r#"{"error": "not found"}"#);
        };
        let checked = if req.method == "GET" {
            read_checked
        } else {
            write_checked
        };
        if checked && owner != who {
            return Resp::new(404, r#"{"error": "not found"}"#);
        }
        match req.method.as_str() {
            "GET" => Resp::new(200, format!(r#"{{"owner": "{owner}", "text": "{text}"}}"#)),
            "PUT" => Resp::new(200, r#"{"updated": true}"#),
            "DELETE" => {
                notes.remove(&req.path);
                Resp::new(204, "")
            }
            _ => Resp::new(405, ""),
        }
    })
}

#[test]
fn bola101_reads_writes_and_fixed_twin() {
    let base: Vec<&str> = IDS
        .iter()
        .copied()
        .chain([
            "--object",
            "alice:/notes/1",
            "--object",
            "bob:/notes/2",
            "--select",
            "BOLA101",
        ])
        .collect();

    // Reads unchecked.
    let outcome = probe(&notes_server(false, true), &base, None);
    assert_eq!(
        codes(&outcome),
        vec!["BOLA101", "BOLA101"],
        "{:#?}",
        outcome.findings
    );
    assert!(outcome.findings.iter().all(|f| f.message.contains("reads")));
    let prints: Vec<&str> = outcome
        .findings
        .iter()
        .map(|f| f.fingerprint.as_deref().unwrap())
        .collect();
    assert_ne!(
        prints[0], prints[1],
        "distinct findings, distinct fingerprints"
    );
    // Another run on another port: the same fingerprints.
    let again = probe(&notes_server(false, true), &base, None);
    let again: Vec<&str> = again
        .findings
        .iter()
        .map(|f| f.fingerprint.as_deref().unwrap())
        .collect();
    assert_eq!(prints, again);

    // GET checks ownership, PUT/DELETE do not: silent without --allow-destructive...
    let outcome = probe(&notes_server(true, false), &base, None);
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    // ...found with it.
    let destructive: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--allow-destructive"])
        .collect();
    let outcome = probe(&notes_server(true, false), &destructive, None);
    let messages: Vec<&str> = outcome
        .findings
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert!(messages.iter().any(|m| m.contains("PUT")), "{messages:#?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("DELETE") && m.contains("gone")),
        "{messages:#?}"
    );

    // Fixed twin.
    let outcome = probe(&notes_server(true, true), &destructive, None);
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
}

#[test]
fn bola101_discovers_objects_from_collection_routes() {
    let args: Vec<&str> = IDS
        .iter()
        .copied()
        .chain([
            "--endpoint",
            "GET /notes",
            "--endpoint",
            "GET /notes/{id}",
            "--select",
            "BOLA101",
        ])
        .collect();
    let outcome = probe(&notes_server(false, true), &args, None);
    assert_eq!(
        codes(&outcome),
        vec!["BOLA101", "BOLA101"],
        "{:#?} {:#?}",
        outcome.findings,
        outcome.notes
    );
    assert!(
        outcome
            .notes
            .iter()
            .any(|n| n.contains("discovered 2 objects")),
        "{:#?}",
        outcome.notes
    );
    let outcome = probe(&notes_server(true, true), &args, None);
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
}

// ---------------------------------------------------------------- RACE101

fn coupon_server(vulnerable: bool) -> TestServer {
    let used = Arc::new(Mutex::new(false));
    TestServer::start(move |req: &Req| {
        if req.path == "/reset" {
            *used.lock().unwrap() = false;
            return Resp::new(200, "{}");
        }
        if owner_of(req.header("x-api-key")).is_none() {
            return Resp::new(401, "{}");
        }
        if vulnerable {
            // Check, slow work, then use: the window every concurrent request slips into.
            if *used.lock().unwrap() {
                return Resp::new(409, r#"{"error": "already used"}"#);
            }
            std::thread::sleep(Duration::from_millis(50));
            *used.lock().unwrap() = true;
            Resp::new(200, r#"{"redeemed": true}"#)
        } else {
            let mut used = used.lock().unwrap();
            if *used {
                return Resp::new(409, r#"{"error": "already used"}"#);
            }
            *used = true;
            Resp::new(200, r#"{"redeemed": true}"#)
        }
    })
}

const RACE_PLAN: &str = r#"
[[race]]
name = "redeem"
request = { method = "POST", path = "/coupons/SAVE10/redeem", identity = "alice" }
reset = { method = "POST", path = "/reset" }
count = 10
"#;

#[test]
fn race101_limit_overrun_and_fixed_twin() {
    let args: Vec<&str> = IDS.iter().copied().chain(["--select", "RACE101"]).collect();
    let outcome = probe(&coupon_server(true), &args, Some(RACE_PLAN));
    assert_eq!(
        codes(&outcome),
        vec!["RACE101"],
        "{:#?} {:#?}",
        outcome.findings,
        outcome.notes
    );
    let f = &outcome.findings[0];
    assert!(
        f.message.contains("serially it succeeds 1 time"),
        "{}",
        f.message
    );
    assert_eq!(f.evidence.len(), 10);
    assert!(f.evidence.iter().all(|e| e.release_offset_ms.is_some()));

    let outcome = probe(&coupon_server(false), &args, Some(RACE_PLAN));
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
    assert!(
        outcome.notes.iter().any(|n| n.contains("no overrun")),
        "{:#?}",
        outcome.notes
    );
}

// ---------------------------------------------------------------- AUTH102

/// `/work` checks the key, works 150 ms, and answers; the fixed twin checks again at the
/// time of use. `/admin/revoke` and `/admin/restore` need the admin key.
fn revocation_server(vulnerable: bool) -> TestServer {
    let revoked: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    TestServer::start(move |req: &Req| {
        let key = req.header("x-api-key").unwrap_or("").to_string();
        let valid = |k: &str| owner_of(Some(k)).is_some() && !revoked.lock().unwrap().contains(k);
        if req.path.starts_with("/admin/") {
            if key != "key-admin" {
                return Resp::new(403, "{}");
            }
            if req.path == "/admin/revoke" {
                // A revocation is a write to a store, not instantaneous: 30 ms keeps
                // the uses released with it ahead of it even on a starved machine,
                // so the test judges the check/use gap and not thread scheduling.
                std::thread::sleep(Duration::from_millis(30));
                revoked.lock().unwrap().insert("key-alice".into());
            } else {
                revoked.lock().unwrap().clear();
            }
            return Resp::new(200, r#"{"done": true}"#);
        }
        if !valid(&key) {
            return Resp::new(401, "{}");
        }
        std::thread::sleep(Duration::from_millis(150));
        if !vulnerable && !valid(&key) {
            return Resp::new(401, "{}");
        }
        Resp::new(200, r#"{"work": "done"}"#)
    })
}

const REVOKE_PLAN: &str = r#"
[[identity]]
name = "admin"
header = "X-API-Key"
value = "key-admin"

[[revocation]]
identity = "alice"
check = { method = "POST", path = "/work" }
revoke = { method = "POST", path = "/admin/revoke", identity = "admin" }
restore = { method = "POST", path = "/admin/restore", identity = "admin" }
concurrency = 5
rounds = 2
"#;

#[test]
fn auth102_in_flight_revocation_and_fixed_twin() {
    let args: Vec<&str> = IDS.iter().copied().chain(["--select", "AUTH102"]).collect();
    let outcome = probe(&revocation_server(true), &args, Some(REVOKE_PLAN));
    assert_eq!(
        codes(&outcome),
        vec!["AUTH102"],
        "{:#?} {:#?}",
        outcome.findings,
        outcome.notes
    );
    let f = &outcome.findings[0];
    assert!(
        f.message.contains("after its revocation was acknowledged"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("released with the revocation"),
        "{}",
        f.message
    );

    let outcome = probe(&revocation_server(false), &args, Some(REVOKE_PLAN));
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
}

/// Key validity cached for 400 ms: uses sent after the acknowledgement still pass.
#[test]
fn auth102_cached_validity_after_acknowledgement() {
    let revoked_at: Arc<Mutex<Option<std::time::Instant>>> = Arc::new(Mutex::new(None));
    let server = TestServer::start(move |req: &Req| {
        let key = req.header("x-api-key").unwrap_or("");
        let mut at = revoked_at.lock().unwrap();
        match req.path.as_str() {
            "/admin/revoke" => {
                *at = Some(std::time::Instant::now());
                Resp::new(200, "{}")
            }
            "/admin/restore" => {
                *at = None;
                Resp::new(200, "{}")
            }
            _ => {
                let cache_expired = at.is_some_and(|t| t.elapsed() > Duration::from_millis(400));
                if owner_of(Some(key)).is_some() && !(key == "key-alice" && cache_expired) {
                    Resp::new(200, "{}")
                } else {
                    Resp::new(401, "{}")
                }
            }
        }
    });
    let plan = REVOKE_PLAN.replace("rounds = 2", "rounds = 1");
    let args: Vec<&str> = IDS.iter().copied().chain(["--select", "AUTH102"]).collect();
    let outcome = probe(&server, &args, Some(&plan));
    assert_eq!(codes(&outcome), vec!["AUTH102"], "{:#?}", outcome.notes);
    assert!(outcome.findings[0].message.contains("sent after it"));
    assert!(
        !outcome.findings[0].message.contains(" 0 sent after it"),
        "{}",
        outcome.findings[0].message
    );
}

// ---------------------------------------------------------------- RACE102

/// The seed's permission swap: `/users/1/profile` checks the key's allowed user ids, then
/// (vulnerable) looks the data up through the key's *current* view after slow work.
fn swap_server(vulnerable: bool) -> TestServer {
    // key -> (allowed user id, viewed user id)
    let perms = Arc::new(Mutex::new((1u32, 1u32)));
    TestServer::start(move |req: &Req| {
        let key = req.header("x-api-key").unwrap_or("");
        match req.path.as_str() {
            "/admin/swap" => {
                *perms.lock().unwrap() = (3, 3);
                return Resp::new(200, "{}");
            }
            "/admin/restore" => {
                *perms.lock().unwrap() = (1, 1);
                return Resp::new(200, "{}");
            }
            _ => {}
        }
        if key != "key-alice" {
            return Resp::new(403, "{}");
        }
        let snapshot = *perms.lock().unwrap();
        if snapshot.0 != 1 {
            return Resp::new(403, r#"{"error": "forbidden"}"#);
        }
        std::thread::sleep(Duration::from_millis(60));
        let view = if vulnerable {
            perms.lock().unwrap().1
        } else {
            snapshot.1
        };
        let names = ["", "ada lovelace", "", "charles babbage"];
        Resp::new(
            200,
            format!(
                r#"{{"user_id": {view}, "name": "{}", "ssn": "{view}{view}{view}-{view}{view}"}}"#,
                names[view as usize]
            ),
        )
    })
}

const SWAP_PLAN: &str = r#"
[[identity]]
name = "admin"
header = "X-API-Key"
value = "key-admin"

[[scope_change]]
identity = "alice"
read = { path = "/users/1/profile" }
change = { method = "POST", path = "/admin/swap", identity = "admin" }
restore = { method = "POST", path = "/admin/restore", identity = "admin" }
count = 5
# On a loaded machine the swap's thread can run before every read's check (then that
# round shows nothing): five rounds of ~60 ms keep the vulnerable twin's race caught.
rounds = 5
"#;

#[test]
fn race102_permission_swap_and_fixed_twin() {
    let args: Vec<&str> = IDS.iter().copied().chain(["--select", "RACE102"]).collect();
    let outcome = probe(&swap_server(true), &args, Some(SWAP_PLAN));
    assert_eq!(codes(&outcome), vec!["RACE102"], "{:#?}", outcome.notes);
    let outcome = probe(&swap_server(false), &args, Some(SWAP_PLAN));
    assert!(outcome.findings.is_empty(), "{:#?}", outcome.findings);
}

#[test]
fn identities_from_environment() {
    let server = auth_server(true);
    let outcome = probe(
        &server,
        &[
            "--identity",
            "carol:env=TOCSIN_TEST_KEY",
            "--endpoint",
            "/me",
            "--select",
            "AUTH101",
        ],
        None,
    );
    // carol's key is unknown to the server: nothing is accepted, so nothing to judge.
    assert!(outcome.findings.is_empty());
    assert!(outcome
        .notes
        .iter()
        .any(|n| n.contains("no identity is accepted")));
}

#[test]
fn progress_reports_experiments_and_requests() {
    use tocsin_probe::cli::run_probe_with_progress;
    use tocsin_probe::experiments::Progress;
    let server = auth_server(true);
    let mut argv: Vec<String> = vec!["probe".into(), server.origin()];
    argv.extend(IDS.iter().map(|s| s.to_string()));
    argv.extend([
        "--endpoint".into(),
        "/me".into(),
        "--select".into(),
        "AUTH101".into(),
        "--rate".into(),
        "1000".into(),
    ]);
    let cli = Cli::try_parse_from(argv).unwrap();
    let events = Mutex::new(Vec::new());
    let outcome =
        run_probe_with_progress(&cli.args, &|p: &Progress| events.lock().unwrap().push(*p))
            .unwrap();
    let events = events.into_inner().unwrap();
    assert_eq!(events.first(), Some(&Progress::Experiment("AUTH101")));
    let sent: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Requests { sent, cap } if sent <= cap => Some(*sent),
            _ => None,
        })
        .collect();
    assert!(sent.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(sent.last().copied(), Some(outcome.requests_sent));
}

#[test]
fn auth101_judges_routes_the_openapi_document_protects() {
    // Both routes answer everyone alike; only the document tells them apart.
    let server = TestServer::start(|_: &Req| Resp::new(200, r#"{"report": "quarterly numbers"}"#));
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.0\nsecurity: [{key: []}]\npaths:\n  /reports:\n    get: {}\n  /health:\n    get: {security: []}\n  /reports/{id}:\n    delete: {}\n",
    )
    .unwrap();
    let args: Vec<String> = IDS
        .iter()
        .map(|s| s.to_string())
        .chain([
            "--openapi".into(),
            spec.display().to_string(),
            "--select".into(),
            "AUTH101".into(),
        ])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = probe(&server, &args, None);
    assert_eq!(codes(&outcome), vec!["AUTH101"], "{:#?}", outcome.findings);
    assert!(outcome.findings[0].message.contains("GET /reports"));
    assert!(outcome.findings[0]
        .message
        .contains("declared to require a key"));
    assert!(
        server.requests().iter().all(|r| r.method == "GET"),
        "AUTH101 only reads"
    );
}

/// The coupon server resets itself when a marker file appears: a reset command that is
/// not an HTTP request.
#[test]
fn race101_with_a_reset_command() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("reset-now");
    let used = Arc::new(Mutex::new(false));
    let marker_seen = marker.clone();
    let server = TestServer::start(move |_req: &Req| {
        if std::fs::remove_file(&marker_seen).is_ok() {
            *used.lock().unwrap() = false;
        }
        if *used.lock().unwrap() {
            return Resp::new(409, "{}");
        }
        std::thread::sleep(Duration::from_millis(50));
        *used.lock().unwrap() = true;
        Resp::new(200, r#"{"redeemed": true}"#)
    });
    let plan = format!(
        "[[race]]\nrequest = {{ method = \"POST\", path = \"/redeem\", identity = \"alice\" }}\nreset_command = [\"touch\", {:?}]\ncount = 6\n",
        marker.display().to_string()
    );
    let args: Vec<&str> = IDS.iter().copied().chain(["--select", "RACE101"]).collect();
    let outcome = probe(&server, &args, Some(&plan));
    assert_eq!(codes(&outcome), vec!["RACE101"], "{:#?}", outcome.notes);
    assert!(outcome.findings[0]
        .message
        .contains("serially it succeeds 1 time"));

    let failing = "[[race]]\nrequest = { method = \"POST\", path = \"/redeem\", identity = \"alice\" }\nreset_command = [\"false\"]\n";
    let outcome = probe(&server, &args, Some(failing));
    assert!(outcome.findings.is_empty());
    assert!(
        outcome.notes.iter().any(|n| n.contains("the reset failed")),
        "{:#?}",
        outcome.notes
    );
    assert!(outcome
        .errors
        .iter()
        .any(|e| e.message.contains("reset command `false` failed")));
}
