"""The yardstick: what a bare DRF create endpoint does on this machine, measured the ways the
issues' targets are (a script, not a test). Prints req/s and p50/p95.

    python bench/bench_yardstick.py [--creates 2000] [--wrk-seconds 20]

The issues quote their targets next to a bare DRF create on their machine (about 200/s in one
process through Django's test client, about 330/s over HTTP with gunicorn, 2 workers); this
measures the same endpoint here, with Accord's settings and middleware on PostgreSQL, so the
figures of bench_ingest.py and bench_api.py can be read against it: 1. one process, Django's test
client; 2. over HTTP, gunicorn 2 workers on loopback, loaded by wrk (4 connections) when it is
installed (`apt-get install wrk`; bench/run_all.sh installs it).
Database: accord_bench_yardstick on BENCH_DATABASE_URL's server (created and migrated).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["DJANGO_SETTINGS_MODULE"] = "yardstick_settings"
os.environ.update({"DEBUG": "0", "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING"})
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")

from _http import gunicorn, wrk  # noqa: E402
from _setup import django_setup  # noqa: E402

URL = "/yardstick/groups"
# Each request names a new group: "<prefix><n>".
REQUESTS_LUA = """
counter = 0
function request()
  counter = counter + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"name": "%s' .. counter .. '"}')
end
"""


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def test_client(creates: int) -> None:
    from django.test import Client

    http = Client()
    prefix = uuid.uuid4().hex[:8]
    for i in range(100):  # warm up
        http.post(URL, {"name": f"w{prefix}{i}"}, content_type="application/json")
    latencies, statuses = [], {}
    started = time.perf_counter()
    for i in range(creates):
        t0 = time.perf_counter()
        response = http.post(URL, {"name": f"{prefix}{i}"}, content_type="application/json")
        latencies.append(time.perf_counter() - t0)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    elapsed = time.perf_counter() - started
    p50, p95 = _percentiles(latencies)
    print(
        f"bare DRF create, one process, test client: {creates / elapsed:,.0f} req/s, "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms; statuses {statuses}"
    )


def over_http(seconds: int, port: int = 8766) -> None:
    import requests

    if not shutil.which("wrk"):
        print("bare DRF create over HTTP: skipped (wrk is not installed)")
        return
    server = gunicorn(port, pythonpath=f"{HERE.parent},{HERE}")
    try:
        url = f"http://127.0.0.1:{port}{URL}"
        for _ in range(100):
            try:
                requests.post(url, json={"name": uuid.uuid4().hex}, timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        wrk(url, 3, REQUESTS_LUA % uuid.uuid4().hex[:8])  # warm up both workers
        result = wrk(url, seconds, REQUESTS_LUA % uuid.uuid4().hex[:8])
        print(f"bare DRF create over HTTP (gunicorn 2 workers, wrk 4 connections): {result.summary()}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--wrk-seconds", type=int, default=20)
    args = parser.parse_args()
    url = django_setup("accord_bench_yardstick")
    print(f"database {url.rsplit('@', 1)[-1]}")
    test_client(args.creates)
    over_http(args.wrk_seconds)


if __name__ == "__main__":
    main()
