"""Inbound ingestion on PostgreSQL: N mixed-channel signed events (SMS, WhatsApp, chat, e-mail,
voice, social, portal; about a third open a new case, the rest follow up: `plan`) through the real
endpoint, with an SLA policy applying, first in one process through Django's test client, then
over HTTP to gunicorn (2 workers, loopback). Prints events/s and p50/p95 latency, and for the
one-process run the WAL flushes per event (each is a wait for the disk: decision 0010), the WAL
bytes per event, and the CPU time per event of the process and of its PostgreSQL backend (they
move less than the wall time when a shared machine's speed changes: decision 0012).

    python bench/bench_ingest.py [--events 10000] [--http-threads 4] [--skip-http]

BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/accord_bench_ingest) is created
if missing and migrated. Only loopback traffic; bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/accord_bench_ingest"
ENV = {
    "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
}
ADAPTERS = ("sms", "whatsapp", "chat", "email", "voice", "social", "portal")


def django_setup() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    sys.path.insert(0, str(ROOT))
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def connectors() -> dict:
    from cases.models import Client
    from connectors.choices import ADAPTER_CHANNEL
    from connectors.models import Connector
    from tests.factories import ClientFactory, QueueFactory, SLAPolicyFactory

    client = Client.objects.filter(slug="bench-ingest").first()
    if client is None:
        client = ClientFactory(slug="bench-ingest", name="Bench ingest")
        SLAPolicyFactory(
            client=client,
            targets={
                (metric, priority): 3600
                for metric in ("first_response", "next_response", "resolution")
                for priority in ("urgent", "high", "normal", "low")
            },
        )
    queue = client.queues.first() or QueueFactory(client=client, name="Bench", slug="bench")
    result = {}
    for adapter in ADAPTERS:
        result[adapter], _ = Connector.objects.get_or_create(
            slug=f"bench-{adapter}",
            defaults={
                "client": client,
                "name": f"Bench {adapter}",
                "adapter": adapter,
                "channel": ADAPTER_CHANNEL[adapter],
                "default_queue": queue,
                "signing_secret": f"acs_bench_{adapter}",
            },
        )
    return result


def payload(adapter: str, run: str, index: int, person: int) -> tuple[bytes, str]:
    """One native payload: `person` (one of ~N/3 people) writes message `index`."""
    phone = f"+1415{200 + person // 10_000:03d}{person % 10_000:04d}"  # valid up to 8,000,000
    email = f"person{person}@bench.example"
    mid = f"{run}-{index}"
    now = datetime.now(UTC)
    at = now.isoformat()
    if adapter == "sms":
        body = {"MessageSid": f"SM{mid}", "From": phone, "To": "+18005550100", "Body": f"sms {index} bill"}
        return urlencode(body).encode(), "application/x-www-form-urlencoded"
    if adapter == "whatsapp":
        message = {
            "from": phone[1:],
            "id": f"wamid.{mid}",
            "timestamp": str(int(now.timestamp())),
            "type": "text",
            "text": {"body": f"whatsapp {index}"},
        }
        value = {
            "messaging_product": "whatsapp",
            "contacts": [{"profile": {"name": "P"}, "wa_id": phone[1:]}],
            "messages": [message],
        }
        data = {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "messages", "value": value}]}],
        }
        return json.dumps(data).encode(), "application/json"
    if adapter == "chat":
        data = {
            "event": "message",
            "event_id": mid,
            "session_id": f"{run}-s{person}",
            "occurred_at": at,
            "visitor": {"id": f"{run}-v{person}", "email": email},
            "message": {"id": f"m-{mid}", "author": "customer", "text": f"chat {index}"},
        }
        return json.dumps(data).encode(), "application/json"
    if adapter == "email":
        raw = (
            f"From: Person {person} <{email}>\r\nTo: support@bench.example\r\nSubject: Mail {index}\r\n"
            f"Date: {format_datetime(now)}\r\nMessage-ID: <{mid}@bench.example>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nBody of mail {index}\r\n"
        )
        return raw.encode(), "message/rfc822"
    if adapter == "voice":
        data = {
            "call_id": f"call-{mid}",
            "caller": phone,
            "queue_entered_at": at,
            "answered_at": now.isoformat() if index % 3 else None,
            "abandoned_at": None if index % 3 else now.isoformat(),
            "agent": "sam",
        }
        return json.dumps(data).encode(), "application/json"
    if adapter == "social":
        data = {
            "platform": "x",
            "handle": f"bench_{person}",
            "message_id": mid,
            "kind": "post",
            "text": f"social {index}",
            "created_at": at,
        }
        return json.dumps(data).encode(), "application/json"
    data = {"submission_id": mid, "email": email, "subject": f"Form {index}", "body": f"portal {index}"}
    return urlencode(data).encode(), "application/x-www-form-urlencoded"


def people_used() -> int:
    """How many people earlier runs made up: a run's people come after them, so that every run
    opens its third of new cases, on a fresh database or not (a known person's next message
    would join the case an earlier run left open)."""
    from cases.models import Customer

    return Customer.objects.filter(client__slug="bench-ingest").count()


def cases_opened() -> int:
    from cases.models import Case

    return Case.objects.filter(client__slug="bench-ingest").count()


# The identity an adapter's payloads name their sender by. Nothing in a payload links a phone
# number to an e-mail address, so a person writing on both would be two customers to Accord.
SENDER_IDENTITY = {
    "sms": "phone",
    "whatsapp": "phone",
    "voice": "phone",
    "chat": "email",  # the visitor gives an address
    "email": "email",
    "portal": "email",
    "social": "handle",
}


def plan(events: int, run: str, first_person: int):
    """Payloads made at send time (their timestamps are current, as a live sender's are). The
    channels take turns; each person writes about three messages, far apart, on the channels of
    their identity (SMS, WhatsApp and voice share a number; chat, e-mail and portal an address):
    about a third of the events open a case, the rest follow up, some on another channel."""
    adapters = [ADAPTERS[i % len(ADAPTERS)] for i in range(events)]
    sizes = Counter(SENDER_IDENTITY[adapter] for adapter in adapters)
    people, start, sent = {}, {}, Counter()
    for identity, count in sizes.items():
        people[identity] = max(1, count // 3)
        start[identity] = first_person + sum(people.values()) - people[identity]
    for i, adapter in enumerate(adapters):
        identity = SENDER_IDENTITY[adapter]
        person = start[identity] + (sent[identity] * 7919) % people[identity]
        sent[identity] += 1
        yield (adapter, *payload(adapter, run, i, person))


def report(label: str, latencies: list[float], elapsed: float, statuses: dict) -> None:
    latencies = sorted(latencies)
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    print(
        f"{label:<34} {len(latencies):>6} events  {len(latencies) / elapsed:8.1f} events/s  "
        f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  statuses {dict(sorted(statuses.items()))}"
    )


def _wal_flushes() -> int:
    """WAL syncs of the whole server so far (pg_stat_wal); the server should be otherwise quiet.
    Django's connection is closed first: a backend reports its statistics when it disconnects."""
    import psycopg
    from django.db import connection

    connection.close()
    time.sleep(1.2)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as probe:
        return probe.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0]


def _backend_cpu_seconds(pid: int) -> float | None:
    """CPU time of the PostgreSQL backend `pid` (user + system), if it runs on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_test_client(connector_map: dict, events: int) -> None:
    from django.db import connection
    from django.test import Client as HttpClient

    from connectors import signing

    flushes = _wal_flushes()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), pg_current_wal_lsn()")
        backend, wal_start = cursor.fetchone()
    backend_cpu = _backend_cpu_seconds(backend)
    http = HttpClient()
    cases_before = cases_opened()
    work = plan(events, f"tc{uuid.uuid4().hex[:6]}", people_used())
    latencies, statuses = [], {}
    cpu = time.process_time()
    started = time.perf_counter()
    for adapter, body, content_type in work:
        connector = connector_map[adapter]
        headers = signing.sign(connector.signing_secret, int(time.time()), body)
        t0 = time.perf_counter()
        response = http.post(
            f"/api/v1/connectors/{connector.slug}/events",
            data=body,
            content_type=content_type,
            headers=headers,
        )
        latencies.append(time.perf_counter() - t0)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    report("test client, one process", latencies, time.perf_counter() - started, statuses)
    cpu = time.process_time() - cpu
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [wal_start])
        wal_bytes = float(cursor.fetchone()[0])
    backend_cpu = _backend_cpu_seconds(backend) - backend_cpu if backend_cpu is not None else None
    flushes = _wal_flushes() - flushes
    opened = cases_opened() - cases_before
    print(f"{'':<34} cases opened: {opened} ({opened / events:.0%} of the events; the rest followed up)")
    print(f"{'':<34} WAL flushes (commits that wait for the disk) per event: {flushes / events:.2f}")
    print(f"{'':<34} WAL written per event: {wal_bytes / events:,.0f} bytes")
    # CPU per event: the ceiling the process's own work sets, whatever the database's speed
    # (this process includes the test client and making and signing the payloads).
    backend_text = f"{backend_cpu / events * 1000:.2f} ms" if backend_cpu is not None else "not local"
    print(
        f"{'':<34} CPU per event: this process {cpu / events * 1000:.2f} ms, "
        f"its PostgreSQL backend {backend_text}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_gunicorn(connector_map: dict, events: int, threads: int) -> None:
    import requests
    from _http import gunicorn

    from connectors import signing

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = gunicorn(port, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/health/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        work = plan(events, f"http{uuid.uuid4().hex[:6]}", people_used())
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        cursor = iter(work)

        def worker():
            session = requests.Session()
            while True:
                with lock:
                    item = next(cursor, None)
                if item is None:
                    return
                adapter, body, content_type = item
                connector = connector_map[adapter]
                headers = {
                    "Content-Type": content_type,
                    **signing.sign(connector.signing_secret, int(time.time()), body),
                }
                t0 = time.perf_counter()
                response = session.post(
                    f"http://127.0.0.1:{port}/api/v1/connectors/{connector.slug}/events",
                    data=body,
                    headers=headers,
                    timeout=30,
                )
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=900)
        report(
            f"HTTP, gunicorn 2 workers, {threads} clients", latencies, time.perf_counter() - started, statuses
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--http-threads", type=int, default=4)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    url = django_setup()
    connector_map = connectors()
    print(f"database {url.rsplit('@', 1)[-1]}, {args.events} mixed-channel signed events per run")
    bench_test_client(connector_map, args.events)
    if not args.skip_http:
        bench_gunicorn(connector_map, args.events, args.http_threads)


if __name__ == "__main__":
    main()
