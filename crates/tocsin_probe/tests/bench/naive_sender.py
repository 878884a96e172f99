"""Naive concurrent sender: a thread pool posting with the requests library."""
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

url, n = sys.argv[1], int(sys.argv[2])


def send(i):
    return requests.post(url, data=f"payload-{i}", headers={"Connection": "close"}, timeout=10).status_code


with ThreadPoolExecutor(max_workers=n) as pool:
    statuses = list(pool.map(send, range(n)))
print(sum(1 for s in statuses if s == 200))
