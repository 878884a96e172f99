"""A Flask API with vulnerable and fixed twins of the flaws tocsin probes for.

TOCSIN_TWIN=vulnerable (default) or fixed picks the twin. State lives in memory, so run
it with one process (werkzeug threaded, or gunicorn -w 1 -k gthread).

- AUTH101  GET /me: a missing key falls through to a guest principal.
- BOLA101  /notes/<id>: GET checks the owner; PUT and DELETE do not.
- RACE101  POST /coupons/<code>/redeem: check, slow work, then mark used.
- AUTH102  POST /transfer: the key is checked before slow work and not at the use.
- RACE102  GET /users/<id>/profile: the seed's permission swap; the check reads one
           snapshot of the key's permissions, the lookup reads the mapping again.
"""

import os
import sys
import threading
import time

from flask import Flask, abort, jsonify, request

VULNERABLE = os.environ.get("TOCSIN_TWIN", "vulnerable") != "fixed"
app = Flask(__name__)
LOCK = threading.Lock()

KEYS = {"key-alice": "alice", "key-bob": "bob", "key-admin": "admin"}
USERS = {
    1: {"user_id": 1, "name": "Ada Lovelace", "email": "ada@example.test"},
    2: {"user_id": 2, "name": "Grace Hopper", "email": "grace@example.test"},
    3: {"user_id": 3, "name": "Charles Babbage", "email": "charles@example.test"},
}
STATE = {}
REVOKED = set()


def reset_state():
    STATE["coupon_used"] = False
    STATE["notes"] = {
        1: {"owner": "alice", "text": "alice's note about tulips in spring"},
        2: {"owner": "bob", "text": "bob's note about racing cars"},
    }
    STATE["perms"] = {"key-alice": {"user_ids": [1], "view": 1}}
    REVOKED.clear()


reset_state()


def principal():
    key = request.headers.get("X-API-Key", "")
    if key in REVOKED:
        return None
    return KEYS.get(key)


def require(name=None):
    who = principal()
    if who is None or (name is not None and who != name):
        abort(401)
    return who


@app.get("/health")
def health():
    return jsonify(ok=True)


@app.get("/me")
def me():
    if VULNERABLE and request.headers.get("X-API-Key") is None:
        return jsonify(user="guest", email=None)
    who = require()
    return jsonify(user=who, email=f"{who}@example.test")


@app.post("/admin/reset")
def admin_reset():
    require("admin")
    with LOCK:
        reset_state()
    return jsonify(reset=True)


@app.post("/admin/coupon/reset")
def coupon_reset():
    require("admin")
    STATE["coupon_used"] = False
    return jsonify(reset=True)


@app.post("/coupons/<code>/redeem")
def redeem(code):
    who = require()
    if VULNERABLE:
        if STATE["coupon_used"]:
            return jsonify(error="already used"), 409
        time.sleep(0.05)
        STATE["coupon_used"] = True
    else:
        with LOCK:
            if STATE["coupon_used"]:
                return jsonify(error="already used"), 409
            STATE["coupon_used"] = True
    return jsonify(redeemed=code, by=who)


@app.post("/transfer")
def transfer():
    key = request.headers.get("X-API-Key", "")
    who = require()
    time.sleep(0.15)
    if not VULNERABLE:
        with LOCK:
            if key in REVOKED:
                abort(401)
            return jsonify(done=True, by=who)
    return jsonify(done=True, by=who)


@app.post("/admin/keys/<name>/revoke")
def revoke(name):
    require("admin")
    with LOCK:
        REVOKED.update(k for k, v in KEYS.items() if v == name)
    return jsonify(revoked=name)


@app.post("/admin/keys/<name>/restore")
def restore(name):
    require("admin")
    with LOCK:
        REVOKED.difference_update(k for k, v in KEYS.items() if v == name)
    return jsonify(restored=name)


@app.get("/notes")
def notes():
    who = require()
    return jsonify(notes=[{"id": i, **n} for i, n in STATE["notes"].items() if n["owner"] == who])


@app.route("/notes/<int:note_id>", methods=["GET", "PUT", "DELETE"])
def note(note_id):
    who = require()
    item = STATE["notes"].get(note_id)
    if item is None:
        abort(404)
    if request.method == "GET":
        if item["owner"] != who:
            abort(404)
        return jsonify(id=note_id, **item)
    if not VULNERABLE and item["owner"] != who:
        abort(404)
    if request.method == "PUT":
        body = request.get_json(silent=True) or {}
        item["text"] = body.get("text", item["text"])
        return jsonify(id=note_id, **item)
    del STATE["notes"][note_id]
    return "", 204


@app.get("/users/<int:uid>/profile")
def profile(uid):
    key = request.headers.get("X-API-Key", "")
    if principal() is None:
        abort(403)
    if VULNERABLE:
        if uid not in STATE["perms"].get(key, {}).get("user_ids", []):
            return jsonify(error="forbidden"), 403
        time.sleep(0.06)
        return jsonify(USERS[STATE["perms"][key]["view"]])
    snapshot = dict(STATE["perms"].get(key, {}))
    if uid not in snapshot.get("user_ids", []):
        return jsonify(error="forbidden"), 403
    time.sleep(0.06)
    return jsonify(USERS[uid])


@app.post("/admin/scope/swap")
def scope_swap():
    require("admin")
    STATE["perms"]["key-alice"] = {"user_ids": [3], "view": 3}
    return jsonify(swapped=True)


@app.post("/admin/scope/restore")
def scope_restore():
    require("admin")
    STATE["perms"]["key-alice"] = {"user_ids": [1], "view": 1}
    return jsonify(restored=True)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    app.run(host="127.0.0.1", port=port, threaded=True)
