"""The fixed twin of examples/seed_toctou: signed, scoped, short-lived tokens.

`POST /tokens` exchanges an API key (header `X-API-Key`) for an HS256 JWT that
carries the user ids the key may read and expires within five minutes.
`GET /users/<id>/profile` verifies that token and authorizes from its claims
alone: there is no second lookup of mutable permission state between the check
and the use, so a concurrent revoke or re-scope cannot change the decision
half-way through a request. Revoking a key stops new tokens at once; tokens
already issued stay valid until their `exp` (at most TOKEN_TTL_SECONDS).

    TOCSIN_DEMO_USER_KEY=... TOCSIN_DEMO_ADMIN_KEY=... TOCSIN_DEMO_TOKEN_SECRET=... python app.py
    gunicorn -k gthread --threads 8 -w 1 -b 127.0.0.1:8000 app:app
"""

import hmac
import os
import secrets
import sys
import threading
import time
import uuid

import jwt
from flask import Flask, abort, jsonify, request

app = Flask(__name__)


def _secret_from_env(name: str) -> str:
    """Read a secret from the environment; never fall back to a literal."""
    value = os.environ.get(name)
    if value:
        return value
    value = secrets.token_urlsafe(32)
    print(f"[seed_fixed] {name} not set; generated for this process: {value}", file=sys.stderr)
    return value


USER_KEY = _secret_from_env("TOCSIN_DEMO_USER_KEY")
ADMIN_KEY = _secret_from_env("TOCSIN_DEMO_ADMIN_KEY")
# Not printed: nobody outside this process needs the signing secret.
TOKEN_SECRET = os.environ.get("TOCSIN_DEMO_TOKEN_SECRET") or secrets.token_urlsafe(32)

TOKEN_ALGORITHM = "HS256"
TOKEN_AUDIENCE = "tocsin-demo:profile"
TOKEN_TTL_SECONDS = min(int(os.environ.get("TOCSIN_DEMO_TOKEN_TTL", "300")), 300)

# API key -> key id and the user ids that key may read. Consulted only when a
# token is issued, never while serving a profile.
# Admin changes to the key store are read-modify-write: one lock keeps a scope change
# from resurrecting a key revoked concurrently.
_keys_lock = threading.Lock()
api_keys: dict[str, dict] = {
    USER_KEY: {"key_id": "user", "user_ids": {1}},
}


def _key_by_id(key_id: str) -> str | None:
    """Admin routes name keys by id, so keys never appear in URLs or access logs."""
    for key, grant in api_keys.items():
        if hmac.compare_digest(grant["key_id"], key_id):
            return key
    return None

users: dict[int, dict] = {
    1: {"user_id": 1, "name": "Ada", "email": "ada@example.test", "plan": "free"},
    2: {"user_id": 2, "name": "Grace", "email": "grace@example.test", "plan": "pro"},
    3: {"user_id": 3, "name": "Linus", "email": "linus@example.test", "plan": "pro"},
}


def create_token(key_id: str, user_ids: set[int]) -> str:
    now = int(time.time())
    claims = {
        "sub": key_id,  # the key's id, never the key itself
        "aud": TOKEN_AUDIENCE,
        "user_ids": sorted(user_ids),
        "iat": now,
        "exp": now + TOKEN_TTL_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, TOKEN_SECRET, algorithm=TOKEN_ALGORITHM)


def verify_token(token: str) -> dict | None:
    try:
        return jwt.decode(
            token,
            TOKEN_SECRET,
            algorithms=[TOKEN_ALGORITHM],
            audience=TOKEN_AUDIENCE,
            options={"require": ["exp", "iat", "sub", "aud"]},
        )
    except jwt.InvalidTokenError:  # includes ExpiredSignatureError
        return None


def fetch_user_data(user_id: int) -> dict | None:
    record = users.get(user_id)
    return dict(record) if record is not None else None


@app.post("/tokens")
def issue_token():
    api_key = request.headers.get("X-API-Key")
    grant = api_keys.get(api_key) if api_key else None
    if grant is None:
        return jsonify({"error": "unknown or missing API key"}), 401
    # One read of the grant: copy it before building the token.
    key_id, user_ids = grant["key_id"], set(grant["user_ids"])
    token = create_token(key_id, user_ids)
    return jsonify({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL_SECONDS})


@app.get("/users/<int:user_id>/profile")
def get_profile(user_id: int):
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return jsonify({"error": "missing bearer token"}), 401
    claims = verify_token(header.removeprefix("Bearer ").strip())
    if claims is None:
        return jsonify({"error": "invalid or expired token"}), 401
    # The decision uses only the verified, immutable claims of this token.
    if user_id not in claims.get("user_ids", []):
        return jsonify({"error": "forbidden"}), 403
    data = fetch_user_data(user_id)
    if data is None:
        return jsonify({"error": "not found"}), 404
    return jsonify(data)


def _require_admin() -> None:
    provided = request.headers.get("X-Admin-Key", "")
    if not hmac.compare_digest(provided.encode(), ADMIN_KEY.encode()):
        abort(401)


@app.post("/admin/keys/<key_id>/revoke")
def revoke_key(key_id: str):
    _require_admin()
    with _keys_lock:
        key = _key_by_id(key_id)
        revoked = api_keys.pop(key, None) if key is not None else None
    if revoked is None:
        return jsonify({"error": "no such key"}), 404
    # Outstanding tokens expire within TOKEN_TTL_SECONDS; no new ones are issued.
    return jsonify({"revoked": True, "outstanding_tokens_expire_within": TOKEN_TTL_SECONDS})


@app.post("/admin/keys/<key_id>/scopes")
def set_scopes(key_id: str):
    _require_admin()
    body = request.get_json(silent=True) or {}
    user_ids = body.get("user_ids")
    if not isinstance(user_ids, list) or not all(isinstance(u, int) for u in user_ids):
        return jsonify({"error": "body must be {\"user_ids\": [int, ...]}"}), 400
    with _keys_lock:
        key = _key_by_id(key_id)
        grant = api_keys.get(key) if key is not None else None
        if key is None or grant is None:
            return jsonify({"error": "no such key"}), 404
        api_keys[key] = {"key_id": grant["key_id"], "user_ids": set(user_ids)}
    return jsonify({"key_scopes": sorted(user_ids), "applies_to": "tokens issued from now on"})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)
