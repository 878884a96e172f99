#!/usr/bin/env python3
"""Lint tests/fixtures/rules/: structure and expect-comment conventions (no tocsin needed).

Checks that every fixture compiles as Python 3.11, that each `<style>_bad` has a
`<style>_good` twin (file or package), that bad fixtures carry at least one
`# expect: CODE` comment and only for their own rule directory's CODE, and that
good fixtures (and everything under a tests/ directory) carry none. The precision
corpus (tests/fixtures/precision/, code that must stay silent) must compile and carry
no expect comments either.
Prints "N passed, N failed" last; exit status 1 on any failure.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "tests" / "fixtures" / "rules"
PRECISION = ROOT / "tests" / "fixtures" / "precision"
EXPECT = re.compile(r"#\s*expect:\s*([A-Z]+[0-9]+)\s*$")
ANY_EXPECT = re.compile(r"#\s*expect\b")


def expects(path: Path) -> list[tuple[int, str]]:
    found = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        m = EXPECT.search(line)
        if m:
            found.append((lineno, m.group(1)))
        elif ANY_EXPECT.search(line):
            found.append((lineno, "MALFORMED"))
    return found


def main() -> int:
    passed = failed = 0

    def check(ok: bool, msg: str) -> None:
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL", msg)

    for rule_dir in sorted(p for p in RULES.iterdir() if p.is_dir()):
        code = rule_dir.name
        fixtures = sorted(p for p in rule_dir.iterdir() if p.stem.endswith(("_bad", "_good")))
        styles = {p.stem.rsplit("_", 1)[0] for p in fixtures}
        check(len(styles) >= 3, f"{code}: only {len(styles)} styles")
        for style in sorted(styles):
            for variant in ("bad", "good"):
                check(
                    (rule_dir / f"{style}_{variant}.py").is_file() or (rule_dir / f"{style}_{variant}").is_dir(),
                    f"{code}/{style}: missing {variant} twin",
                )
        for fixture in fixtures:
            files = sorted(fixture.rglob("*.py")) if fixture.is_dir() else [fixture]
            marks = []
            for f in files:
                src = f.read_text()
                try:
                    compile(src, str(f), "exec")
                    check(True, "")
                except SyntaxError as err:
                    check(False, f"{f.relative_to(RULES)}: {err}")
                marks += [(f, n, c) for n, c in expects(f)]
            rel = fixture.relative_to(RULES)
            if fixture.stem.endswith("_bad"):
                check(bool(marks), f"{rel}: bad fixture without '# expect: {code}'")
                for f, n, c in marks:
                    check(c == code, f"{f.relative_to(RULES)}:{n}: expect {c} in {code}/")
            else:
                check(not marks, f"{rel}: good fixture has expect comments {marks}")
        for f in sorted(rule_dir.glob("tests/**/*.py")):
            check(not expects(f), f"{f.relative_to(RULES)}: test-file fixture must have no expect comments")
            try:
                compile(f.read_text(), str(f), "exec")
                check(True, "")
            except SyntaxError as err:
                check(False, f"{f.relative_to(RULES)}: {err}")

    for f in sorted(PRECISION.rglob("*.py")) if PRECISION.is_dir() else []:
        rel = f.relative_to(PRECISION.parent)
        check(not expects(f), f"{rel}: precision fixture must have no expect comments")
        try:
            compile(f.read_text(), str(f), "exec")
            check(True, "")
        except SyntaxError as err:
            check(False, f"{rel}: {err}")

    total = sum(len(expects(f)) for f in RULES.rglob("*_bad*/**/*.py")) + sum(
        len(expects(f)) for f in RULES.glob("*/*_bad.py")
    )
    print(f"rule fixtures: {total} expected findings")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
