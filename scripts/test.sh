#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what the tests need (the Python venv
# with Flask and friends from PyPI, the SARIF validator from npm, cargo-nextest if
# missing), then the Rust test suites, the Python fixture checks and the SARIF
# validation of the bundled examples.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

py="$(scripts/setup-python.sh)"

# Headless Chromium renders the HTML report in a test (Debian's package; as root in
# CI). Without it that test says SKIPPED.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "test.sh: chromium could not be installed; the HTML report test will be skipped" >&2
fi
export TOCSIN_TEST_PYTHON="$py"

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi

echo "== fixtures are valid Python and the routes oracle matches Flask's own url_map"
"$py" scripts/check_rule_fixtures.py
"$py" scripts/check_routes_fixture.py

echo "== SARIF of the examples passes Microsoft's validator"
mkdir -p target/ci
set +e
cargo run --quiet -p tocsin -- check examples tests/fixtures/rules --config tests/fixtures/rules/tocsin.toml \
    --format sarif --output target/ci/examples.sarif
status=$?
set -e
if [ "$status" -gt 1 ]; then
    echo "tocsin check failed with exit code $status" >&2
    exit "$status"
fi
scripts/validate-sarif.sh target/ci/examples.sarif
