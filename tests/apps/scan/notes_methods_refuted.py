"""notes_methods.py with the owner enforced for PUT and DELETE by a policy looked up by
name at run time, which reading the source cannot follow: `tocsin check` still reports
BOLA002, and `tocsin scan` must come back with it refuted (BOLA101 tried the objects it
discovered from /notes and the flaw did not show), not confirmed and not dropped."""

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


class Policy:
    @staticmethod
    def enforce_put(item, who):
        if item["owner"] != who:
            abort(404)

    enforce_delete = enforce_put


POLICY = Policy()


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
    getattr(POLICY, "enforce_" + request.method.lower())(item, who)
    if request.method == "PUT":
        item["text"] = (request.get_json(silent=True) or {}).get("text", item["text"])
        return jsonify(id=note_id, **item)
    del NOTES[note_id]
    return "", 204


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
