#!/usr/bin/env bash
# Benchmark (not a test): tocsin vs ruff (S rules) vs bandit on a large real Python tree.
#
#   bench/bench.sh                 # full run (builds tocsin with cargo --release)
#   BENCH_SKIP_TOCSIN=1 bench/bench.sh   # ruff + bandit only
#   BENCH_NO_BUILD=1 bench/bench.sh      # use an already built $TOCSIN_BIN
#
# Everything downloaded or built goes to bench/work/ (gitignored).
# Knobs (env): BENCH_PKG (pip requirement of an sdist, default django==5.1.4),
#              BENCH_RUNS (runs for tocsin and ruff, default 3).
set -euo pipefail

# --- the tocsin command line (TREE is appended) ------------------------------
TOCSIN_BIN="${TOCSIN_BIN:-target/release/tocsin}"
TOCSIN_ARGS="${TOCSIN_ARGS:-check --exit-zero --format concise --no-cache}"
TOCSIN_FALLBACK_ARGS="check"   # used when the flags above are unknown to the binary
# ------------------------------------------------------------------------------

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/bench/work"
PKG="${BENCH_PKG:-django==5.1.4}"
RUNS="${BENCH_RUNS:-3}"
SKIP_TOCSIN="${BENCH_SKIP_TOCSIN:-0}"
cd "$ROOT"
mkdir -p "$WORK/src" "$WORK/logs"
rm -f "$WORK"/logs/*   # the table reads every log of this run

log() { echo "bench: $*" >&2; }

# --- tools --------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
    log "installing GNU time"
    apt-get update -qq && apt-get install -y -qq time >/dev/null
fi

VENV="$WORK/venv"
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/ruff" ] || [ ! -x "$VENV/bin/bandit" ]; then
    log "installing ruff and bandit"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check ruff bandit
fi
RUFF="$VENV/bin/ruff"
BANDIT="$VENV/bin/bandit"

# --- the tree -----------------------------------------------------------------
PKG_NAME="${PKG%%[=<>!~]*}"
if ! ls "$WORK"/src/*.tar.gz >/dev/null 2>&1; then
    log "downloading sdist $PKG"
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check \
        --no-deps --no-binary :all: --dest "$WORK/src" "$PKG"
fi
SDIST="$(ls "$WORK"/src/*.tar.gz | head -n1)"
TREE="$WORK/tree/$(basename "$SDIST" .tar.gz)"
if [ ! -d "$TREE" ]; then
    log "unpacking $(basename "$SDIST")"
    mkdir -p "$WORK/tree"
    tar -xzf "$SDIST" -C "$WORK/tree"
fi
PY_FILES="$(find "$TREE" -name '*.py' -type f | wc -l)"
PY_LINES="$(find "$TREE" -name '*.py' -type f -print0 | xargs -0 cat | wc -l)"
log "tree $TREE: $PY_FILES .py files, $PY_LINES lines"

# --- tocsin -------------------------------------------------------------------
TOCSIN_CMD=()
if [ "$SKIP_TOCSIN" != "1" ]; then
    if [ "${BENCH_NO_BUILD:-0}" != "1" ]; then
        log "building tocsin (cargo build --release)"
        cargo build --release --quiet
    fi
    help="$("$TOCSIN_BIN" check --help 2>&1 || true)"
    args="$TOCSIN_ARGS"
    for flag in $TOCSIN_ARGS; do
        case "$flag" in
            --*) grep -q -- "$flag" <<<"$help" || { log "tocsin lacks $flag; using '$TOCSIN_FALLBACK_ARGS'"; args="$TOCSIN_FALLBACK_ARGS"; break; } ;;
        esac
    done
    read -r -a TOCSIN_CMD <<<"$TOCSIN_BIN $args"
fi

# --- measurement ---------------------------------------------------------------
# measure NAME RUN CMD...: runs CMD under /usr/bin/time -v; exit codes 0 and 1 are
# accepted (1 = "findings"); the time report goes to logs/NAME.RUN.time.
measure() {
    local name="$1" run="$2"; shift 2
    local tfile="$WORK/logs/$name.$run.time"
    local rc=0
    /usr/bin/time -v -o "$tfile" "$@" >"$WORK/logs/$name.$run.out" 2>"$WORK/logs/$name.$run.err" || rc=$?
    if [ "$rc" -gt 1 ]; then
        log "$name run $run exited $rc; see $WORK/logs/$name.$run.err"
        tail -n 5 "$WORK/logs/$name.$run.err" >&2 || true
        return 1
    fi
    log "$name run $run: $(grep -E 'Elapsed' "$tfile" | sed 's/.*: //') wall (exit $rc)"
}

TOOLS=()
if [ "$SKIP_TOCSIN" != "1" ]; then
    for i in $(seq 1 "$RUNS"); do measure tocsin "$i" "${TOCSIN_CMD[@]}" "$TREE"; done
    TOOLS+=(tocsin)
fi
for i in $(seq 1 "$RUNS"); do
    measure ruff "$i" "$RUFF" check --select S --no-cache --exit-zero --quiet "$TREE"
done
TOOLS+=(ruff)
measure bandit 1 "$BANDIT" -q -r "$TREE" -f json -o /dev/null
TOOLS+=(bandit)

log "versions: ruff $("$RUFF" --version | awk '{print $2}'), $("$BANDIT" --version 2>/dev/null | head -n1)"
[ "$SKIP_TOCSIN" = "1" ] || log "tocsin: ${TOCSIN_CMD[*]} TREE"

# --- table ---------------------------------------------------------------------
python3 - "$WORK/logs" "$PY_LINES" "$PY_FILES" "$TREE" "${TOOLS[@]}" <<'PYEOF'
import glob, os, re, statistics, sys

logs, lines, files, tree, tools = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]

def parse(path):
    text = open(path).read()
    def num(label):
        return float(re.search(re.escape(label) + r":\s*([\d.]+)", text).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\):\s*([\d:.]+)", text).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    return {
        "wall": secs,
        "cpu": num("User time (seconds)") + num("System time (seconds)"),
        "rss": num("Maximum resident set size (kbytes)") / 1024.0,
    }

stats = {}
for tool in tools:
    runs = [parse(p) for p in sorted(glob.glob(os.path.join(logs, f"{tool}.*.time")))]
    stats[tool] = {
        "n": len(runs),
        "wall": statistics.median(r["wall"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "rss": max(r["rss"] for r in runs),
    }

print(f"\ntree: {tree}\n      {files} .py files, {lines} lines of Python\n")
print(f"{'tool':<8} {'runs':>4} {'wall med (s)':>13} {'user+sys (s)':>13} {'peak RSS (MiB)':>15} {'kLOC/s':>8}")
for tool, s in stats.items():
    rate = lines / 1000.0 / s["wall"] if s["wall"] > 0 else float("inf")
    print(f"{tool:<8} {s['n']:>4} {s['wall']:>13.2f} {s['cpu']:>13.2f} {s['rss']:>15.1f} {rate:>8.0f}")

def ratio(a, b, key):
    if a in stats and b in stats and stats[b][key] > 0:
        return f"{stats[a][key] / stats[b][key]:.2f}x"
    return "n/a"

print()
for a, b in (("tocsin", "ruff"), ("bandit", "tocsin"), ("bandit", "ruff")):
    print(f"{a}/{b}: wall {ratio(a, b, 'wall')}, cpu {ratio(a, b, 'cpu')}, rss {ratio(a, b, 'rss')}")
PYEOF
