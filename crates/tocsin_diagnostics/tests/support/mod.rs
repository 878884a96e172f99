//! A hand-built report that exercises every part of every renderer: a multi-line span
//! with related locations, non-ASCII and tab-indented source, an HTTP finding confirmed
//! by timed exchanges (one of them carrying attacker-controlled text), a finding whose
//! source is not available, and an input error. Shared by the snapshot tests and the
//! `sample_sarif` example.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use tocsin_diagnostics::{
    ExchangeEvidence, Finding, HttpLocation, InputError, Location, Position, Report, RuleMeta,
    Severity, SourceSpan, Status,
};

pub const VIEWS: &str = r#"from flask import Flask, abort, request
from .models import Account, db

app = Flask(__name__)


@app.post("/accounts/<int:account_id>/withdraw")
def withdraw(account_id):
    account = Account.query.get_or_404(account_id)
    amount = int(request.form["amount"])
    if account.balance >= amount:
        account.balance = (
            account.balance
            - amount
        )
        db.session.commit()
        return {"balance": account.balance}
    abort(409)
"#;

pub const AUTH: &str = "from flask import request, abort\n\
\n\
API_KEYS = {\"jürgen\": \"…redacted…\"}  # 鍵の一覧\n\
\n\
\n\
def require_key():\n\
\tprovided = request.headers.get(\"X-API-Key\", \"\")\n\
\tif provided != API_KEYS[\"jürgen\"]:  # 比較は定数時間で\n\
\t\tabort(401, \"認証エラー\")\n";

pub const RULES: &[RuleMeta] = &[
    RuleMeta {
        code: "KEY001",
        name: "non-constant-time-key-comparison",
        summary: "API key compared with `==` or `!=`.",
        docs: "## What it does\nChecks for API keys compared with `==` or `!=`.\n\n\
               ## Why is this bad?\nThe comparison stops at the first differing byte, so \
               response times leak how much of a guess was right.\n\n\
               ## Example\n```python\nif provided != API_KEY:\n    abort(401)\n```\n\n\
               ## Use instead\n```python\nif not hmac.compare_digest(provided, API_KEY):\n    abort(401)\n```\n",
        severity: Severity::Medium,
    },
    RuleMeta {
        code: "KEY002",
        name: "api-key-in-query-string",
        summary: "API key read from the query string.",
        docs: "## What it does\nChecks for API keys read from `request.args`.\n\n\
               ## Why is this bad?\nQuery strings end up in access logs and browser history.\n",
        severity: Severity::Low,
    },
    RuleMeta {
        code: "TOC001",
        name: "check-then-act-without-lock",
        summary: "State checked and then written without a lock or an atomic update.",
        docs: "## What it does\nChecks for a value that is read, tested and then written \
               back in separate steps.\n\n## Why is this bad?\nTwo concurrent requests can \
               both pass the test before either writes.\n",
        severity: Severity::High,
    },
    RuleMeta {
        code: "TOC101",
        name: "concurrent-requests-overdraw",
        summary: "Concurrent requests took more than the state allowed.",
        docs: "## What it does\nSends synchronised requests to a route guarded by a \
               check-then-act and counts how many succeed.\n",
        severity: Severity::Critical,
    },
];

pub struct Sample {
    pub findings: Vec<Finding>,
    pub errors: Vec<InputError>,
    pub sources: HashMap<PathBuf, String>,
}

impl Sample {
    pub fn report(&self) -> Report<'_> {
        Report {
            tool_version: "0.1.0",
            findings: &self.findings,
            errors: &self.errors,
            rules: RULES,
            sources: &self.sources,
        }
    }
}

fn span(path: &str, start: (u32, u32), end: (u32, u32)) -> Location {
    Location::Source(SourceSpan {
        path: PathBuf::from(path),
        start: Position {
            line: start.0,
            column: start.1,
        },
        end: Position {
            line: end.0,
            column: end.1,
        },
    })
}

fn exchange(
    identity: &str,
    status: u16,
    release_offset_ms: f64,
    response_ms: f64,
    note: Option<&str>,
) -> ExchangeEvidence {
    ExchangeEvidence {
        identity: Some(identity.to_owned()),
        method: "POST".to_owned(),
        url: "http://127.0.0.1:5000/accounts/42/withdraw".to_owned(),
        status: Some(status),
        release_offset_ms: Some(release_offset_ms),
        response_ms: Some(response_ms),
        body_sha256: Some("9f86d081884c7d65".to_owned()),
        note: note.map(str::to_owned),
    }
}

pub fn sample() -> Sample {
    let mut key = Finding::new(
        "KEY001",
        Severity::Medium,
        "API key compared with `!=`; the time it takes leaks the key",
        span("app/auth.py", (8, 5), (8, 35)),
    )
    .with_related(
        span("app/auth.py", (3, 1), (3, 9)),
        "the keys are defined here",
    )
    .with_fix("Compare with `hmac.compare_digest(provided, key)`.");
    key.status = Some(Status::NotTested {
        reason: "no --api-key given".to_owned(),
    });
    key.fingerprint = Some("key001-5d41402abc4b2a76".to_owned());

    let legacy = Finding::new(
        "KEY002",
        Severity::Low,
        "API key read from `request.args`",
        span("app/legacy.py", (2, 5), (2, 30)),
    );

    let mut toctou = Finding::new(
        "TOC001",
        Severity::High,
        "`account.balance` is checked, then written, without a lock or an atomic update",
        span("app/views.py", (12, 9), (15, 10)),
    )
    .with_related(
        span("app/views.py", (11, 8), (11, 33)),
        "the balance is checked here",
    )
    .with_related(
        span("app/views.py", (16, 9), (16, 28)),
        "and committed here",
    )
    .with_fix(
        "Update in one statement (`UPDATE ... WHERE balance >= :amount`) or lock the row \
         with `with_for_update()`.",
    );
    toctou.fingerprint = Some("toc001-7b52009b64fd0a2a".to_owned());

    let withdraw = HttpLocation {
        method: "POST".to_owned(),
        url: "http://127.0.0.1:5000/accounts/42/withdraw".to_owned(),
    };
    let mut race = Finding::new(
        "TOC101",
        Severity::Critical,
        "3 of 3 concurrent withdrawals of 100 succeeded against a balance of 100",
        Location::Http(withdraw.clone()),
    )
    .with_related(
        span("app/views.py", (11, 8), (11, 33)),
        "the check the requests raced past",
    )
    .with_related(Location::Http(withdraw), "the synchronised batch")
    .with_fix("See TOC001 at app/views.py:12:9.");
    race.status = Some(Status::Confirmed);
    race.evidence = vec![
        exchange("alice", 200, 0.0, 41.7, None),
        exchange("alice", 200, 0.31, 43.2, None),
        exchange(
            "alice",
            200,
            0.58,
            12.9,
            // A response body echoed back: attacker-controlled, so every format must
            // neutralise it.
            Some("<script>alert('x')</script> 50%, a:b\n::error::injected \u{1b}[2J"),
        ),
    ];
    race.fingerprint = Some("toc101-e4da3b7fbbce2345".to_owned());

    // File names and parser messages come from the scanned repository: this one tries
    // to break out of a GitHub property (`,` `:`) and to start a workflow command of
    // its own on a new line.
    let errors = vec![InputError {
        code: "E001".to_owned(),
        location: span("app/bro,ken:v2.py", (3, 9), (3, 10)),
        message: "SyntaxError: expected ':'\n::error::injected".to_owned(),
    }];

    let sources = HashMap::from([
        (PathBuf::from("app/views.py"), VIEWS.to_owned()),
        (PathBuf::from("app/auth.py"), AUTH.to_owned()),
    ]);

    Sample {
        findings: vec![key, legacy, toctou, race],
        errors,
        sources,
    }
}
