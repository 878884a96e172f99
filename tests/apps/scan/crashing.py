"""Answers the readiness check, then dies: the scan must finish and report."""

import os
import threading

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def index():
    # Exit shortly after the first answer, as a crash would.
    threading.Timer(0.3, lambda: os._exit(3)).start()
    return jsonify({"ok": True})


if __name__ == "__main__":
    with open(os.environ["PIDFILE"], "w") as f:
        f.write(str(os.getpid()))
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
