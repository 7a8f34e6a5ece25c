"""REST API throughput on PostgreSQL (a script, not a test). Prints the figures.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/accord_bench python bench/bench_api.py \\
        [--creates 2000] [--threads 8] [--cases 200000] [--lists 200] [--bulk-batches 8]

1. Case creation over HTTP: gunicorn, 2 workers, loopback; each case matches an SLA policy, so its
   clocks are computed in the request. req/s and p50/p95 latency, loaded by wrk (4 connections,
   --wrk-seconds; `apt-get install wrk`) when it is installed: a C load generator leaves the two
   cores to the server; then by a Python client (--threads threads), which competes with the
   server for them. Every wrk response is counted by status, and the cases it created are
   checked afterwards to have their clocks.
2. Listing 100 cases with their clocks among --cases cases of one client (bulk-loaded rows with
   clocks): p50/p95 of GET /api/v1/cases?page_size=100 (first page, the page after a cursor
   halfway through the list, the breached filter).
3. Bulk upsert: POST /api/v1/cases/bulk with 500 new cases per request: rows/s, one request at a
   time, then two at once (one per server worker, as a migration tool would run it), after one
   warm-up batch on each worker.
The database named in DATABASE_URL is emptied and migrated first (created when missing).
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

print = functools.partial(print, flush=True)  # progress shows as it happens
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/accord_bench")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789abcdefghij")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.update({"DEBUG": "0", "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING"})

import psycopg  # noqa: E402
import requests  # noqa: E402


def _ensure_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def _setup(cases: int):
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from cases.api.keys import api_key_create
    from cases.models import Case, Client, Customer, Queue
    from slas.models import BusinessCalendar, SLAPolicy, SLATarget

    client = Client.objects.create(name="Bench", slug="bench", timezone="UTC")
    queue = Queue.objects.create(client=client, name="Support", slug="support", channels=["email", "chat"])
    customer = Customer.objects.create(client=client, display_name="Bench customer")
    calendar = BusinessCalendar.objects.create(client=client, name="24x7", timezone="UTC", is_24x7=True)
    policy = SLAPolicy.objects.create(client=client, name="Standard", calendar=calendar)
    SLATarget.objects.bulk_create(
        SLATarget(policy=policy, metric=metric, priority=priority, seconds=seconds)
        for metric, seconds in (("first_response", 3600), ("next_response", 7200), ("resolution", 86400))
        for priority in ("urgent", "high", "normal", "low")
    )
    key = api_key_create(client=client, name="bench", scope="read_write", throttle_rate="none")
    if cases:
        _bulk_load(client, queue, customer, policy, calendar, cases)
    return key.raw, queue.pk, customer.public_id, Case


def _bulk_load(client, queue, customer, policy, calendar, count: int) -> None:
    """Rows as the services would leave them (case, opened event, case SLA, two clocks), written
    in bulk: this is data for the read benchmark, not the write path being measured."""
    from django.utils import timezone

    from cases.models import Case, CaseEvent
    from slas.models import CaseSLA, SLAClock

    started = time.perf_counter()
    version = policy.history.order_by("history_id").values_list("history_id", flat=True).last()
    now = timezone.now()
    batch = 5000
    for offset in range(0, count, batch):
        rows = []
        for index in range(offset, min(count, offset + batch)):
            opened = now - timedelta(minutes=count - index)
            rows.append(
                Case(
                    client=client,
                    customer=customer,
                    queue=queue,
                    subject=f"Loaded case {index}",
                    origin_channel="email",
                    current_channel="email",
                    opened_at=opened,
                    last_activity_at=opened,
                    external_id=f"LOAD-{index}",
                )
            )
        Case.objects.bulk_create(rows, batch_size=batch)
        CaseEvent.objects.bulk_create(
            [
                CaseEvent(
                    case=c, client=client, kind="opened", occurred_at=c.opened_at, after={"status": "new"}
                )
                for c in rows
            ],
            batch_size=batch,
        )
        CaseSLA.objects.bulk_create(
            [
                CaseSLA(case=c, client=client, policy=policy, policy_version=version, calendar=calendar)
                for c in rows
            ],
            batch_size=batch,
        )
        clocks = []
        for c in rows:
            for metric, seconds in (("first_response", 3600), ("resolution", 86400)):
                due = c.opened_at + timedelta(seconds=seconds)
                clocks.append(
                    SLAClock(
                        client=client,
                        case=c,
                        policy=policy,
                        policy_version=version or 0,
                        calendar=calendar,
                        metric=metric,
                        target_seconds=seconds,
                        started_at=c.opened_at,
                        due_at=due,
                        warn_at=c.opened_at + timedelta(seconds=seconds * 0.8),
                        breached_at=due if due < now else None,
                    )
                )
        SLAClock.objects.bulk_create(clocks, batch_size=batch)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"loaded {count:,} cases with clocks in {time.perf_counter() - started:.0f} s")


def _middle_cursor(Case) -> str:
    """The cursor a client walking the cases in opening order holds halfway through the list
    (as the API signs it): the page after it is as deep as a page gets."""
    from cases.api.pagination import KeysetPagination, encode_position

    ordering = ["opened_at", "id"]
    cases = Case.objects.order_by(*ordering)
    row = cases.values_list(*ordering)[cases.count() // 2]
    return encode_position(list(row), salt=KeysetPagination.salt, extra={"o": ordering})


def _serve(port: int) -> subprocess.Popen:
    from _http import gunicorn

    process = gunicorn(port, timeout=600)
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/health/", timeout=5)
            return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


def _run(threads: int, jobs: list, call) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    index = iter(range(len(jobs)))

    def worker():
        session = requests.Session()
        while True:
            with lock:
                i = next(index, None)
            if i is None:
                return
            start = time.perf_counter()
            call(session, jobs[i])
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started, latencies


def _wrk_create(url: str, body: dict, headers: dict, seconds: int) -> None:
    """Case creation loaded by wrk (4 connections): req/s, p50/p95, every response's status; then
    the cases it made are checked to have their two clocks each."""
    import json

    from _http import wrk

    from cases.models import Case
    from slas.models import SLAClock

    last = Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    requests_lua = (
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = {json.dumps(headers["Authorization"])}\n'
    )
    result = wrk(url, seconds, requests_lua)
    made = Case.objects.filter(pk__gt=last)
    clocks = SLAClock.objects.filter(case__in=made).count()
    print(
        f"case create over HTTP (gunicorn 2 workers, wrk 4 connections, clocks computed): "
        f"{result.summary()}; {made.count():,} cases made, {clocks:,} clocks"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--lists", type=int, default=200)
    parser.add_argument("--bulk-batches", type=int, default=8)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--wrk-seconds", type=int, default=20)
    args = parser.parse_args()

    _ensure_database(os.environ["DATABASE_URL"])
    print("migrating and loading…", flush=True)
    raw, queue_id, customer_id, Case = _setup(args.cases)
    base = f"http://127.0.0.1:{args.port}/api/v1"
    headers = {"Authorization": f"Bearer {raw}", "Content-Type": "application/json"}
    server = _serve(args.port)
    try:
        # 1. Case creation over HTTP.
        body = {
            "subject": "Bench case",
            "channel": "email",
            "queue_id": queue_id,
            "customer_id": str(customer_id),
        }

        def create(session, _):
            response = session.post(f"{base}/cases", json=body, headers=headers)
            assert response.status_code == 201, response.text
            assert len(response.json()["clocks"]) == 2

        print("server up; measuring…", flush=True)
        _run(args.threads, list(range(100)), create)  # warm up both workers
        if shutil.which("wrk"):
            _wrk_create(f"{base}/cases", body, headers, args.wrk_seconds)
        elapsed, latencies = _run(args.threads, list(range(args.creates)), create)
        p50, p95 = _percentiles(latencies)
        print(
            f"case create over HTTP (gunicorn 2 workers, Python client {args.threads} threads, clocks "
            "computed): "
            f"{args.creates / elapsed:,.0f} req/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms"
        )

        # 2. Listing 100 cases with clocks among the loaded ones.
        session = requests.Session()
        first = session.get(f"{base}/cases?page_size=100", headers=headers).json()
        assert len(first["results"]) == 100 and all(len(r["clocks"]) == 2 for r in first["results"])
        deep = _middle_cursor(Case)

        for label, url in (
            ("first page", f"{base}/cases?page_size=100"),
            (
                "cursor page, middle of the list",
                f"{base}/cases?page_size=100&ordering=opened_at&cursor={deep}",
            ),
            ("breached filter", f"{base}/cases?page_size=100&sla_state=breached"),
        ):

            def get(session, _, url=url):
                response = session.get(url, headers=headers)
                assert response.status_code == 200, response.text

            _, latencies = _run(1, list(range(args.lists)), get)
            p50, p95 = _percentiles(latencies)
            total = Case.objects.count()
            print(f"list 100 cases with clocks among {total:,} ({label}): p50 {p50:.1f} ms, p95 {p95:.1f} ms")

        # 3. Bulk upsert of new cases.
        batches = [
            {
                "items": [
                    {**body, "external_id": f"BULK-{b}-{i}-{uuid.uuid4().hex[:6]}", "priority": "high"}
                    for i in range(500)
                ]
            }
            for b in range(args.bulk_batches)
        ]

        def bulk(session, payload):
            response = session.post(f"{base}/cases/bulk", json=payload, headers=headers, timeout=600)
            assert response.status_code == 200 and response.json()["created"] == 500, response.text[:300]

        # Warm up: one batch on each worker at once, so neither pays its first bulk request
        # (imports, caches, statements prepared on its connection) inside the measurement.
        first = batches[0]["items"]
        warm = [
            {"items": [{**item, "external_id": f"WARM-{w}-{item['external_id']}"} for item in first]}
            for w in range(2)
        ]
        _run(2, warm, bulk)
        elapsed, latencies = _run(1, batches, bulk)
        rows = 500 * args.bulk_batches
        print(
            f"bulk upsert (500 new cases per request, 1 client): {rows / elapsed:,.0f} rows/s "
            f"({statistics.mean(latencies):.2f} s per request)"
        )
        # As a migration tool would run it: one batch in flight per server worker.
        parallel = [
            {"items": [{**item, "external_id": f"{item['external_id']}-P{copy}"} for item in batch["items"]]}
            for copy in range(2)
            for batch in batches
        ]
        elapsed, latencies = _run(2, parallel, bulk)
        rate = len(parallel) * 500 / elapsed
        print(
            f"bulk upsert (500 new cases per request, 2 clients at once): {rate:,.0f} rows/s "
            f"({statistics.mean(latencies):.2f} s per request)"
        )
        # Re-sending the same batches: every item unchanged.
        elapsed, _ = _run(1, batches, lambda s, p: s.post(f"{base}/cases/bulk", json=p, headers=headers))
        print(f"bulk upsert, same items again (all unchanged): {rows / elapsed:,.0f} rows/s")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
