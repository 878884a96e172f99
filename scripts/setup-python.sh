#!/usr/bin/env bash
# Idempotent: create <repo>/.venv if missing and install scripts/requirements-test.txt.
# Prints the venv's python path on stdout (everything else goes to stderr).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/scripts/requirements-test.txt"
PY="$VENV/bin/python"
STAMP="$VENV/.tocsin-requirements.sha256"

if [ ! -x "$PY" ]; then
    echo "setup-python: creating $VENV" >&2
    python3 -m venv "$VENV"
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    echo "setup-python: installing $(basename "$REQ")" >&2
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
    echo "$want" > "$STAMP"
else
    echo "setup-python: requirements already installed" >&2
fi

echo "$PY"
