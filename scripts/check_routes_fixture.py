#!/usr/bin/env python3
"""Check tests/fixtures/routes/expected.json against the live Flask app.

Imports tests/fixtures/routes/app_pkg, calls create_app(), and derives from the
real app.url_map, for every rule: its methods (minus HEAD and OPTIONS), the
endpoint, the view (module.qualname of the innermost function, or of the view
class for MethodView / flask-restful / flask-restx resources) and its guards:
the names of the callables defined in app_pkg/auth.py that run before the view,
found from

  * decorators on the view function (walking functools.wraps' __wrapped__),
  * decorators on the view class's HTTP-method functions,
  * the class's `decorators` (MethodView) and `method_decorators` (restful/restx),
  * before_request hooks of the app and of every blueprint in the endpoint's
    blueprint chain (a nested blueprint runs its parents' hooks too).

A decorator factory's guard name is the factory's (require_scope, not decorator).
Generated routes (Flask's static route, flask-restx's root/specs/swaggerui) are
compared against expected_generated.json on rule, methods and endpoint only.

Then it sends one request without credentials to every route through the test
client: a route with guards must answer 401 or 403, one without must not.

Usage: .venv/bin/python scripts/check_routes_fixture.py   (or scripts/setup-python.sh first)
Exit status 0 when everything matches; prints "N passed, N failed" last.
"""

import json
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "routes"
GUARD_FILE = (FIXTURE / "app_pkg" / "auth.py").resolve()
IGNORED_METHODS = {"HEAD", "OPTIONS"}

try:
    import flask  # noqa: F401
    import flask_restful  # noqa: F401
    import flask_restx  # noqa: F401
except ImportError:
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        os.execv(str(venv_python), [str(venv_python), *sys.argv])
    sys.exit("check_routes_fixture: flask, flask-restful or flask-restx missing; run scripts/setup-python.sh")

sys.path.insert(0, str(FIXTURE))
from app_pkg import create_app  # noqa: E402


def unwrap_chain(fn):
    seen = set()
    while fn is not None and id(fn) not in seen:
        seen.add(id(fn))
        yield fn
        fn = getattr(fn, "__wrapped__", None)


def guard_name(fn):
    """Name of the guard whose code `fn` is, or None (code survives functools.wraps)."""
    code = getattr(fn, "__code__", None)
    if code is None or Path(code.co_filename).resolve() != GUARD_FILE:
        return None
    return code.co_qualname.split(".")[0]


def guards_in_chain(fn):
    return {name for f in unwrap_chain(fn) if (name := guard_name(f))}


def blueprint_chain(endpoint):
    names, bp = [], endpoint.rpartition(".")[0]
    while bp:
        names.append(bp)
        bp = bp.rpartition(".")[0]
    return names


def describe(app, rule):
    methods = sorted(set(rule.methods) - IGNORED_METHODS)
    view_func = app.view_functions[rule.endpoint]
    chain = list(unwrap_chain(view_func))
    guards = guards_in_chain(view_func)
    view_class = next((getattr(f, "view_class") for f in chain if hasattr(f, "view_class")), None)
    if view_class is not None:
        view = f"{view_class.__module__}.{view_class.__qualname__}"
        md = getattr(view_class, "method_decorators", None) or []
        per_method = []
        for m in methods:
            g = set()
            decorators = md.get(m.lower(), []) if isinstance(md, dict) else md
            for dec in decorators:
                if name := guard_name(dec):
                    g.add(name)
            g |= guards_in_chain(getattr(view_class, m.lower(), None))
            per_method.append(g)
        if any(g != per_method[0] for g in per_method):
            raise AssertionError(f"{rule.rule}: guards differ between methods: {per_method}")
        guards |= per_method[0] if per_method else set()
    else:
        inner = chain[-1]
        view = f"{inner.__module__}.{inner.__qualname__}"
    for bp in [None, *blueprint_chain(rule.endpoint)]:
        for hook in app.before_request_funcs.get(bp, []):
            if name := guard_name(hook):
                guards.add(name)
    return {"methods": methods, "rule": rule.rule, "endpoint": rule.endpoint, "view": view, "guards": sorted(guards)}


def sample_url(app, rule, method):
    samples = {"IntegerConverter": 1, "UUIDConverter": uuid.UUID(int=1), "PathConverter": "a/b.txt"}
    values = {arg: samples.get(type(conv).__name__, "x") for arg, conv in rule._converters.items()}
    return app.url_map.bind("localhost").build(rule.endpoint, values, method=method)


def main():
    app = create_app({"API_KEYS": {"acme": "k" * 32}, "SESSION_TOKENS": {"t" * 32: "ada"}})
    expected = json.loads((FIXTURE / "expected.json").read_text())
    generated = json.loads((FIXTURE / "expected_generated.json").read_text())
    gen_keys = {(e["rule"], tuple(e["methods"]), e["endpoint"]) for e in generated}

    actual, actual_gen = [], set()
    for rule in app.url_map.iter_rules():
        key = (rule.rule, tuple(sorted(set(rule.methods) - IGNORED_METHODS)), rule.endpoint)
        if key in gen_keys:
            actual_gen.add(key)
        else:
            actual.append(describe(app, rule))

    def k(e):
        return (e["rule"], e["methods"], e["endpoint"])

    exp_by, act_by = {json.dumps(k(e)): e for e in expected}, {json.dumps(k(e)): e for e in actual}
    passed = failed = 0
    for key in sorted(exp_by.keys() | act_by.keys()):
        e, a = exp_by.get(key), act_by.get(key)
        if e == a:
            passed += 1
        else:
            failed += 1
            print(f"MISMATCH {key}\n  expected: {e}\n  actual:   {a}")
    for key in sorted(gen_keys ^ actual_gen):
        failed += 1
        print(f"GENERATED ROUTE MISMATCH {key}: {'expected only' if key in gen_keys else 'app only'}")
    passed += len(gen_keys & actual_gen)

    # Dynamic cross-check of the introspected guards: without credentials, a
    # guarded route refuses (401/403) and an unguarded one does not.
    client = app.test_client()
    for e in actual:
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == e["endpoint"] and r.rule == e["rule"])
        for method in e["methods"]:
            resp = client.open(sample_url(app, rule, method), method=method, json={"name": "n", "user": "u"})
            refused = resp.status_code in (401, 403)
            if refused != bool(e["guards"]):
                failed += 1  # the introspection above missed or invented a guard
                print(f"DYNAMIC {method} {e['rule']}: HTTP {resp.status_code} but guards={e['guards']}")
            else:
                passed += 1

    print(f"routes fixture: {len(expected)} app routes, {len(generated)} generated routes")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
