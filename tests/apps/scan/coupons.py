"""A coupon API whose redeem route reads, checks and writes in separate steps
(TOC003 statically), but every request runs under one global lock taken in a
before_request hook, so the race cannot happen: `tocsin scan` must report the
candidate as refuted, not drop it and not confirm it."""

import os
import threading
import time

from flask import Flask, g, jsonify

app = Flask(__name__)

USED: dict[str, bool] = {}
_serial = threading.Lock()


@app.before_request
def one_request_at_a_time():
    _serial.acquire()
    g.locked = True


@app.teardown_request
def release(_exc):
    if g.pop("locked", False):
        _serial.release()


@app.get("/")
def index():
    return jsonify({"ok": True})


@app.post("/coupons/<code>/redeem")
def redeem(code):
    if code in USED:
        return jsonify({"error": "already redeemed"}), 409
    time.sleep(0.02)  # a database round trip
    USED[code] = True
    return jsonify({"redeemed": code})


@app.post("/coupons/reset")
def reset():
    USED.clear()
    return "", 204


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
