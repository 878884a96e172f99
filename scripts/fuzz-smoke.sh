#!/usr/bin/env bash
# CI smoke run of the fuzz targets in fuzz/: builds them, then runs each for
# FUZZ_SMOKE_SECONDS (default 20) from the committed seed corpus, on one core.
# Exits non-zero if a target crashes, panics, times out (10 s on one input) or goes
# over 2 GiB; the failing input is kept in fuzz/artifacts/<target>/ (ignored by git).
#
#   scripts/fuzz-smoke.sh [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); works on the stable toolchain through
# RUSTC_BOOTSTRAP. The long runs use the same flags with a longer -max_total_time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
seconds="${FUZZ_SMOKE_SECONDS:-20}"
export RUSTC_BOOTSTRAP=1
# The binary gives rayon its own stack size; here the rules run on one worker.
export RAYON_NUM_THREADS=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# Rust code here forbids `unsafe`; without a sanitizer the run is ~20x faster, and
# panics, overflows (debug assertions are on), stack overflows and hangs still fail.
cargo fuzz build -s none

# libFuzzer adds what it learns to the first corpus directory: use a scratch copy so
# the committed seeds stay as they are.
work="$(mktemp -d "${TMPDIR:-/tmp}/tocsin-fuzz-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT

failed=()
for target in "${targets[@]}"; do
    echo "== fuzz-smoke: $target for ${seconds}s"
    mkdir -p "$work/corpus/$target" "$root/fuzz/artifacts/$target"
    cp "corpus/$target/"* "$work/corpus/$target/"
    if ! cargo fuzz run -s none "$target" "$work/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$root/fuzz/artifacts/$target/" \
        >"$work/$target.log" 2>&1; then
        tail -n 60 "$work/$target.log" >&2
        echo "fuzz-smoke: $target FAILED; input in fuzz/artifacts/$target/" >&2
        failed+=("$target")
        continue
    fi
    grep -E '^(#[0-9]+ +DONE|Done )' "$work/$target.log" || tail -n 2 "$work/$target.log"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz-smoke: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz-smoke: ok (${targets[*]})"
