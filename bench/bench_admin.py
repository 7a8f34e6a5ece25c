"""Admin lists at scale on PostgreSQL: p50/p95 and queries of the changelists of the tables that
grow with traffic, as a superuser and as a client-scoped supervisor, through Django's test client.

Data: bench_ui.py's (200,000 cases, about 1.2 million timeline entries, their clocks; built
once and reused, in its database `accord_bench_ui`), plus 1,000,000 inbound events of one
connector (0.2% failed), added once with set-based SQL.

    python bench/bench_admin.py [--requests 10]

What it shows (cases/admin_lists.py): a list reads its page, newest first by primary key, and
its count; filters read the small tables; no date drill-down.
"""

from __future__ import annotations

import argparse
import time

import bench_ui
from _setup import django_setup

EVENTS = 1_000_000
CONNECTOR = "bench-admin-sms"


def inbound_events(client_id: int, queue_id: int) -> int:
    """The connector's inbound events, inserted once; their count."""
    from django.db import connection, transaction

    from connectors.models import Connector, InboundEvent

    connector, created = Connector.objects.get_or_create(
        slug=CONNECTOR,
        defaults={
            "client_id": client_id,
            "name": "Bench admin SMS",
            "adapter": "sms",
            "channel": "sms",
            "default_queue_id": queue_id,
            "signing_secret": "acs_bench_admin",
        },
    )
    if created or not InboundEvent.objects.filter(connector=connector).exists():
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO connectors_inboundevent (client_id, connector_id, via, external_id, status,
                    content_type, payload, error, attempts, received_at, processed_at)
                SELECT %(client)s, %(connector)s, 'webhook', 'bench-' || g,
                    CASE WHEN g %% 500 = 0 THEN 'failed' ELSE 'processed' END,
                    'application/x-www-form-urlencoded',
                    convert_to('MessageSid=SM' || g || '&From=%%2B14155550100&Body=hello', 'UTF8'),
                    CASE WHEN g %% 500 = 0 THEN 'phone: not a valid number' ELSE '' END, 1,
                    now() - (%(total)s - g) * interval '2 seconds', now()
                FROM generate_series(1, %(total)s) AS g
                """,
                {"client": client_id, "connector": connector.pk, "total": EVENTS},
            )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE connectors_inboundevent")
        print(f"inserted {EVENTS:,} inbound events in {time.perf_counter() - started:.1f} s")
    return InboundEvent.objects.filter(connector=connector).count()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    django_setup(bench_ui.DATABASE)
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client as TestClient
    from django.test.utils import override_settings

    from cases.models import Case, CaseEvent, Client

    client_row = Client.objects.filter(slug=bench_ui.SLUG).first()
    if client_row is None:
        started = time.perf_counter()
        with transaction.atomic():
            bench_ui.build(200_000)
        bench_ui.analyze()
        print(f"built 200,000 cases in {time.perf_counter() - started:.1f} s")
        client_row = Client.objects.get(slug=bench_ui.SLUG)
    events = inbound_events(client_row.pk, client_row.queues.order_by("pk").first().pk)
    print(
        f"data: {Case.objects.count():,} cases, {CaseEvent.objects.count():,} timeline entries, "
        f"{events:,} inbound events"
    )
    users = get_user_model().objects
    superuser = users.filter(username="bench-admin").first() or users.create_superuser(
        "bench-admin", "bench-admin@example.com", "bench-admin"
    )
    browsers = {"superuser": TestClient(), "supervisor": TestClient()}
    browsers["superuser"].force_login(superuser)
    browsers["supervisor"].force_login(users.get(username="bench-supervisor"))
    pages = [
        "/admin/cases/case/",
        "/admin/cases/case/?status__exact=open",
        "/admin/cases/customer/",
        "/admin/cases/interaction/",
        "/admin/cases/caseevent/",
        "/admin/slas/slaclock/",
        "/admin/slas/casesla/",
        "/admin/connectors/connector/",
        "/admin/connectors/inboundevent/",
        "/admin/connectors/inboundevent/?status__exact=failed",
    ]
    storages = {  # as bench_ui.py: no manifest needed, no HTTPS redirect, the test client's host
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    print(f"{'page':<55} {'who':<11} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'in SQL ms':>10}")
    with override_settings(STORAGES=storages, SECURE_SSL_REDIRECT=False, ALLOWED_HOSTS=["testserver"]):
        for url in pages:
            for who, browser in browsers.items():
                p50, p95, queries, query_ms = bench_ui.measure(browser, url, args.requests)
                print(f"{url:<55} {who:<11} {p50:8.1f} {p95:8.1f} {queries:8d} {query_ms:10.1f}")


if __name__ == "__main__":
    main()
