"""Show the check/use race against a locally running seed_toctou app.

    TOCSIN_DEMO_USER_KEY=u TOCSIN_DEMO_ADMIN_KEY=a python race_demo.py [http://127.0.0.1:5000]

Sends one profile request, revokes the key while that request sits in the
check/use gap, and reports whether the profile was still served after the
revocation had completed. Only talks to the given local URL; one request each.
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
USER_KEY = os.environ["TOCSIN_DEMO_USER_KEY"]
ADMIN_KEY = os.environ["TOCSIN_DEMO_ADMIN_KEY"]
DELAY = float(os.environ.get("TOCSIN_DEMO_TOCTOU_DELAY", "0.05"))


def call(method: str, path: str, headers: dict) -> tuple[int, dict]:
    req = urllib.request.Request(BASE + path, method=method, headers=headers, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            return err.code, json.loads(body or b"{}")
        except ValueError:
            return err.code, {}


def main() -> int:
    result = {}

    def victim() -> None:
        result["status"], result["body"] = call("GET", "/users/1/profile", {"X-API-Key": USER_KEY})
        result["done_at"] = time.time()

    t = threading.Thread(target=victim)
    t.start()
    time.sleep(DELAY / 2)  # land the revoke inside the gap
    status, body = call("POST", "/admin/keys/user/revoke", {"X-Admin-Key": ADMIN_KEY})
    revoked_done = time.time()
    t.join()
    after_status, _ = call("GET", "/users/1/profile", {"X-API-Key": USER_KEY})

    print(f"revoke: HTTP {status} (completed at {revoked_done:.3f})")
    print(f"in-flight profile request: HTTP {result['status']} (completed at {result['done_at']:.3f})")
    print(f"profile request after revoke: HTTP {after_status}")
    raced = status == 200 and result["status"] == 200 and result["done_at"] > revoked_done
    print("TOCTOU reproduced: data served after the key was revoked" if raced else "race not reproduced")
    return 0 if raced else 1


if __name__ == "__main__":
    sys.exit(main())
