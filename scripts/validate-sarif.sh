#!/usr/bin/env bash
# Validates SARIF files with Microsoft's SARIF multitool plus a JSON-schema check, and
# exits 1 if either reports an error (warnings are printed, not fatal).
#
#   scripts/validate-sarif.sh FILE...
#
# Installs the pinned validators into tools/sarif/node_modules on first use (needs npm
# and the npm registry).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/tools/sarif"

if [ "$#" -eq 0 ]; then
    echo "usage: scripts/validate-sarif.sh FILE..." >&2
    exit 2
fi

case "$(uname -s)" in
    Linux) platform=linux ;;
    Darwin) platform=darwin ;;
    *) echo "validate-sarif: unsupported platform $(uname -s)" >&2; exit 2 ;;
esac
multitool="$tools/node_modules/@microsoft/sarif-multitool-$platform/Sarif.Multitool"

if [ ! -f "$multitool" ] || [ ! -d "$tools/node_modules/ajv-formats" ]; then
    echo "validate-sarif: installing the validators into tools/sarif" >&2
    (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
# The package sets the executable bit in a postinstall script, which npm may skip.
[ -x "$multitool" ] || chmod u+x "$multitool"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# No ICU is needed to validate JSON, and some machines have none.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1

status=0
index=0
for file in "$@"; do
    if [ ! -f "$file" ]; then
        echo "$file: no such file" >&2
        status=1
        continue
    fi
    index=$((index + 1))
    out="$work/$index.sarif"
    # The binary is run directly: the package's bin.js goes through a shell, which
    # would split paths with spaces. Its exit code only says whether it ran.
    if ! "$multitool" validate "$file" -o "$out" --quiet >"$work/log" 2>&1; then
        cat "$work/log" >&2
        echo "$file: the validator failed to run" >&2
        status=1
        continue
    fi
    if [ ! -f "$out" ]; then
        cat "$work/log" >&2
        echo "$file: the validator wrote no output" >&2
        status=1
        continue
    fi
    node "$tools/check.cjs" "$file" "$out" || status=1
done
exit "$status"
