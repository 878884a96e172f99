#!/usr/bin/env bash
# Peak memory and wall time of `tocsin check` on two hostile trees (issue 5), printed
# as a table. Not a test: numbers depend on the machine.
#
#   scripts/bench-hostile.sh            # builds target/release/tocsin if missing
#   TOCSIN=path/to/tocsin scripts/bench-hostile.sh
#
# Cases, generated in a temporary directory and deleted afterwards:
#   100k-files   1000 packages x 100 small modules importing each other
#   50MB-module  one generated module of 50 MB of data rows (dict literals)
# Needs python3 (generation) and GNU time (/usr/bin/time -v).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${TOCSIN:-$root/target/release/tocsin}"
if [ ! -x "$bin" ]; then
    (cd "$root" && cargo build --release -p tocsin)
fi
if [ ! -x /usr/bin/time ]; then
    echo "bench-hostile: needs GNU time at /usr/bin/time" >&2
    exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/tocsin-bench-hostile.XXXXXX")"
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import os, sys
work = sys.argv[1]
tree = os.path.join(work, "100k-files")
for d in range(1000):
    package = os.path.join(tree, "pkg%03d" % d)
    os.makedirs(package)
    open(os.path.join(package, "__init__.py"), "w").close()
    for f in range(99):
        with open(os.path.join(package, "m%02d.py" % f), "w") as out:
            out.write("from . import m%02d\nVALUE_%d = %d\n\n\ndef f%d(x):\n    return x + VALUE_%d\n"
                      % ((f + 1) % 99, f, f, f, f))
module_dir = os.path.join(work, "50MB-module")
os.makedirs(module_dir)
size, row = 0, 0
with open(os.path.join(module_dir, "generated.py"), "w") as out:
    while size < 50 * 1000 * 1000:
        line = 'ROW_%07d = {"id": %d, "name": "row-%d", "tags": ["a", "b"], "ok": True}\n' % (row, row, row)
        out.write(line)
        size += len(line)
        row += 1
PY

printf '%-12s %8s %9s %8s %12s %5s %7s\n' case files MB wall_s peak_rss_MiB exit errors
for case in 100k-files 50MB-module; do
    dir="$work/$case"
    files="$(find "$dir" -name '*.py' | wc -l)"
    mb="$(du -sm --apparent-size "$dir" | cut -f1)"
    set +e
    /usr/bin/time -v -o "$work/time.txt" "$bin" check --isolated --format json "$dir" \
        >"$work/report.json" 2>"$work/stderr.txt"
    code=$?
    set -e
    wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }')"
    rss_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
    errors="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["errors"])' \
        "$work/report.json" 2>/dev/null || echo '?')"
    printf '%-12s %8s %9s %8s %12s %5s %7s\n' "$case" "$files" "$mb" "$wall" \
        "$((rss_kb / 1024))" "$code" "$errors"
done
