"""A notes API with one view for GET, PUT and DELETE: the GET branch checks that the
note belongs to the caller, the PUT and DELETE branches do not. `tocsin check` reports
BOLA002 on the lookup for DELETE,PUT; `tocsin scan` confirms it with BOLA101 (bob
changes and deletes alice's note). The fixed twin is notes_methods_fixed.py."""

import os

from flask import Flask, abort, jsonify, request

app = Flask(__name__)

# API key -> user; keys come from the environment the scan sets.
KEYS = {
    os.environ.get("NOTES_ALICE_KEY", "unset-alice"): "alice",
    os.environ.get("NOTES_BOB_KEY", "unset-bob"): "bob",
}
NOTES = {
    1: {"owner": "alice", "text": "alice's note about tulips in spring"},
    2: {"owner": "bob", "text": "bob's note about racing cars"},
}


def caller():
    user = KEYS.get(request.headers.get("X-API-Key", ""))
    if user is None:
        abort(401)
    return user


@app.get("/")
def index():
    return jsonify(ok=True)


@app.get("/notes")
def list_notes():
    who = caller()
    return jsonify(notes=[{"id": i, **n} for i, n in NOTES.items() if n["owner"] == who])


@app.route("/notes/<int:note_id>", methods=["GET", "PUT", "DELETE"])
def note(note_id):
    who = caller()
    item = NOTES.get(note_id)
    if item is None:
        abort(404)
    if request.method == "GET":
        if item["owner"] != who:
            abort(404)
        return jsonify(id=note_id, **item)
    if request.method == "PUT":
        item["text"] = (request.get_json(silent=True) or {}).get("text", item["text"])
        return jsonify(id=note_id, **item)
    del NOTES[note_id]
    return "", 204


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
