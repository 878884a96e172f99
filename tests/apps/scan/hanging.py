"""Ready on /, then never answers anything else: the scan's own timeout must stop it."""

import os
import time

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify({"ok": True})


@app.get("/slow")
def slow():
    time.sleep(1000)
    return ""


if __name__ == "__main__":
    with open(os.environ["PIDFILE"], "w") as f:
        f.write(str(os.getpid()))
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
