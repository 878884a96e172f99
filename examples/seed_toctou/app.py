"""Deliberately vulnerable demo: time-of-check/time-of-use with API keys.

This is the scenario from the write-up "Time Of Check Time Of Use in Flask with
Api Keys", made runnable. `GET /users/<id>/profile` checks the caller's API key
against the mutable `key_permissions` map, then -- in a separate step, after a
gap -- fetches the profile. An admin can revoke a key or change its scopes at
runtime; a request that passed the check before the change is still served
after it. Do not deploy this.

    TOCSIN_DEMO_USER_KEY=... TOCSIN_DEMO_ADMIN_KEY=... python app.py
    gunicorn -k gthread --threads 8 -w 1 -b 127.0.0.1:8000 app:app
"""

import hmac
import os
import secrets
import sys
import time

from flask import Flask, abort, jsonify, request

app = Flask(__name__)


def _key_from_env(name: str) -> str:
    """Read a demo key from the environment; never fall back to a literal."""
    value = os.environ.get(name)
    if value:
        return value
    value = secrets.token_urlsafe(24)
    # Demo convenience only: a generated key must be shown once, or nobody can
    # call the app. Set the variable yourself to keep keys out of the logs.
    print(f"[seed_toctou] {name} not set; generated for this process: {value}", file=sys.stderr)
    return value


USER_KEY = _key_from_env("TOCSIN_DEMO_USER_KEY")
ADMIN_KEY = _key_from_env("TOCSIN_DEMO_ADMIN_KEY")

# The gap between the authorization check and the data fetch, in seconds.
# In a real service this gap is a database or network round trip; with
# in-process dicts it would be a few hundred nanoseconds and the race would be
# real but practically unobservable. The sleep stands in for that I/O so the
# window is wide enough to be measured and hit on purpose (set to 0 to remove).
CHECK_USE_DELAY = float(os.environ.get("TOCSIN_DEMO_TOCTOU_DELAY", "0.05"))

# Mutable, shared server-side state: API key -> user ids it may read.
key_permissions: dict[str, set[int]] = {
    USER_KEY: {1},
}

# Admin routes name keys by id, so keys never appear in URLs (or access logs).
key_ids: dict[str, str] = {"user": USER_KEY}

users: dict[int, dict] = {
    1: {"user_id": 1, "name": "Ada", "email": "ada@example.test", "plan": "free"},
    2: {"user_id": 2, "name": "Grace", "email": "grace@example.test", "plan": "pro"},
    3: {"user_id": 3, "name": "Linus", "email": "linus@example.test", "plan": "pro"},
}


def fetch_user_data(user_id: int) -> dict | None:
    """The "use" step: a second, independent read of shared state."""
    record = users.get(user_id)
    return dict(record) if record is not None else None


@app.get("/users/<int:user_id>/profile")
def get_profile(user_id: int):
    api_key = request.headers.get("X-API-Key")
    if not api_key or api_key not in key_permissions:
        return jsonify({"error": "unknown or missing API key"}), 401
    # Time of check: a snapshot of key_permissions[api_key] decides access.
    if user_id not in key_permissions[api_key]:
        return jsonify({"error": "forbidden"}), 403

    # TOCTOU gap: the key may be revoked or re-scoped right here, by another
    # thread serving the admin routes, and nothing re-checks it below.
    if CHECK_USE_DELAY > 0:
        time.sleep(CHECK_USE_DELAY)

    # Time of use.
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
    removed = key_permissions.pop(key_ids.get(key_id, ""), None)
    if removed is None:
        return jsonify({"error": "no such key"}), 404
    return jsonify({"revoked": True, "revoked_at": time.time()})


@app.post("/admin/keys/<key_id>/scopes")
def set_scopes(key_id: str):
    _require_admin()
    body = request.get_json(silent=True) or {}
    user_ids = body.get("user_ids")
    if not isinstance(user_ids, list) or not all(isinstance(u, int) for u in user_ids):
        return jsonify({"error": "body must be {\"user_ids\": [int, ...]}"}), 400
    # Rebinding the value is atomic, but it does not help requests that have
    # already passed the check in get_profile.
    key = key_ids.get(key_id)
    if key is None:
        return jsonify({"error": "no such key"}), 404
    key_permissions[key] = set(user_ids)
    return jsonify({"key_scopes": sorted(user_ids), "changed_at": time.time()})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)
