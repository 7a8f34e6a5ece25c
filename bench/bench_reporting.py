"""The governance dashboard's panels on PostgreSQL with 1,000,000 cases and 2,000,000 clocks
(first response and resolution, decided over 90 days), 300,000 voice contacts with queue data
and 100,000 surveys, all of one client (the worst case for the per-client filter).

    python bench/bench_reporting.py [--cases 1000000] [--rebuild] [--runs 3]

Each panel is timed for the last 30 days (median of --runs), then the whole dashboard page
through Django's test client. The data is built once and reused (--rebuild to start over).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from _setup import django_setup


def build(cases: int) -> None:
    from django.db import connection

    from cases.models import Client
    from tests.factories import ClientFactory, CustomerFactory, QueueFactory, SLAPolicyFactory

    client = ClientFactory(slug="bench-reporting", name="Bench reporting", timezone="UTC")
    policy = SLAPolicyFactory(client=client)
    queue, customer = QueueFactory(client=client), CustomerFactory(client=client)
    params = {"client": client.pk, "customer": customer.pk, "queue": queue.pk, "cases": cases}
    params |= {"policy": policy.pk, "calendar": policy.calendar_id}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO cases_case (public_id, client_id, customer_id, queue_id, subject, status, priority,
                origin_channel, current_channel, tier, external_id, version, opened_at, last_activity_at,
                created_at, updated_at, reopen_count, resolved_at, first_contact_resolution)
            SELECT gen_random_uuid(), %(client)s, %(customer)s, %(queue)s, 'bench',
                CASE WHEN i %% 10 = 0 THEN 'open' ELSE 'resolved' END, 'normal',
                (ARRAY['voice','chat','email','sms','whatsapp','social','portal'])[1 + i %% 7],
                (ARRAY['voice','chat','email','sms','whatsapp','social','portal'])[1 + i %% 7],
                1, '', 1, o, o, o, o, 0,
                CASE WHEN i %% 10 = 0 THEN NULL ELSE o + interval '5 hours' END,
                CASE WHEN i %% 10 = 0 THEN NULL ELSE i %% 3 <> 0 END
            FROM (SELECT i, now() - random() * interval '90 days' AS o FROM generate_series(1, %(cases)s) i) s
            """,
            params,
        )
        # Two decided clocks per resolved case: first response (15 %% missed) and resolution (20 %%).
        cursor.execute(
            """
            INSERT INTO slas_slaclock (client_id, case_id, channel, queue_id, policy_id, policy_version,
                calendar_id, metric, cycle, warning_percent, target_seconds, started_at, due_at, stopped_at,
                outcome, breached_at, paused_seconds, pauses, updated_at)
            SELECT c.client_id, c.id, c.origin_channel, c.queue_id, %(policy)s, 1, %(calendar)s, m.metric,
                1, 80, m.target, c.opened_at,
                c.opened_at + m.target * interval '1 second',
                c.opened_at
                    + (CASE WHEN random() < m.missed THEN 1.5 ELSE 0.5 END) * m.target * interval '1 second',
                '', NULL, 0, '[]', now()
            FROM cases_case c CROSS JOIN (VALUES ('first_response', 3600, 0.15), ('resolution', 86400, 0.2))
                AS m(metric, target, missed)
            WHERE c.client_id = %(client)s
            """,
            params,
        )
        cursor.execute(
            """
            UPDATE slas_slaclock SET outcome = CASE WHEN stopped_at > due_at THEN 'missed' ELSE 'met' END,
                breached_at = CASE WHEN stopped_at > due_at THEN due_at END
            WHERE client_id = %(client)s
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO slas_breach (clock_id, case_id, client_id, metric, priority, channel, breached_at,
                detected_by, detected_at, void_reason)
            SELECT k.id, k.case_id, k.client_id, k.metric, 'normal', 'email', k.breached_at, 'sweep',
                now(), ''
            FROM slas_slaclock k WHERE k.client_id = %(client)s AND k.breached_at IS NOT NULL
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO cases_interaction (public_id, client_id, case_id, channel, direction, author_kind,
                body, occurred_at, source, external_id, thread_key, metadata, delivery_status, created_at)
            SELECT gen_random_uuid(), c.client_id, c.id, 'voice', 'inbound', 'customer', 'Inbound call',
                c.opened_at, 'bench', '', '',
                jsonb_build_object('wait_seconds', (random() * 60)::int, 'abandoned', random() < 0.07,
                                   'talk_seconds', 60 + (random() * 600)::int),
                '', now()
            FROM cases_case c WHERE c.client_id = %(client)s AND c.origin_channel = 'voice'
            UNION ALL
            SELECT gen_random_uuid(), c.client_id, c.id, 'chat', 'inbound', 'customer', 'Hi',
                c.opened_at, 'bench', '', '',
                jsonb_build_object('wait_seconds', (random() * 90)::int, 'abandoned', random() < 0.05),
                '', now()
            FROM cases_case c WHERE c.client_id = %(client)s AND c.origin_channel = 'chat'
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO cases_satisfactionsurvey (public_id, client_id, case_id, csat, nps, comment,
                answered_at)
            SELECT gen_random_uuid(), c.client_id, c.id, 1 + (random() * 4)::int, (random() * 10)::int, '',
                c.opened_at + interval '1 day'
            FROM cases_case c WHERE c.client_id = %(client)s AND c.id %% 10 = 1
            """,
            params,
        )
    for table in (
        "cases_case",
        "slas_slaclock",
        "slas_breach",
        "cases_interaction",
        "cases_satisfactionsurvey",
    ):
        connection.cursor().execute(f"VACUUM ANALYZE {table}")
    assert Client.objects.filter(slug="bench-reporting").exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    django_setup("accord_bench_reporting")
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext

    from cases.models import Case, Client
    from governance import dashboard, metrics
    from governance.kpis import contract_measure, service_level_by_interval
    from reporting.dashboard import SUMMARY_KPIS
    from slas.models import SLAClock

    if args.rebuild:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE cases_case, slas_slaclock, slas_breach, cases_interaction, "
                "cases_satisfactionsurvey, cases_client CASCADE"
            )
    if not Client.objects.filter(slug="bench-reporting").exists():
        started = time.perf_counter()
        build(args.cases)
        print(f"built in {time.perf_counter() - started:.0f} s")
    client = Client.objects.get(slug="bench-reporting")
    # Steady state: autovacuum has visited the tables (visibility map set, so the clock_decided
    # index answers without reading the table), as it would have in production.
    for table in ("slas_slaclock", "cases_case", "cases_interaction"):
        connection.cursor().execute(f"VACUUM ANALYZE {table}")
    print(
        f"data: {Case.objects.filter(client=client).count():,} cases, "
        f"{SLAClock.objects.filter(client=client).count():,} clocks"
    )
    ids = [client.pk]
    end = datetime.now(UTC)
    start = end - timedelta(days=30)
    panels = {
        **{
            f"kpi {kpi}": (
                lambda kpi=kpi: contract_measure(
                    kpi, client_ids=ids, start=start, end=end, threshold_seconds=20
                )
            )
            for kpi, _ in SUMMARY_KPIS
        },
        "attainment by channel (governance.metrics)": lambda: metrics.attainment_by_channel(
            client_ids=ids, start=start, end=end
        ),
        "clocks by metric, channel, hour (dashboard: channel, trend, heatmap, tiles)": lambda: (
            dashboard.decided_clocks_by_hour(client_ids=ids, start=start, end=end, tz=UTC)
        ),
        "attainment by queue": lambda: dashboard.attainment_by_queue(client_ids=ids, start=start, end=end),
        "attainment by client": lambda: dashboard.attainment_by_client(client_ids=ids, start=start, end=end),
        "service level by 30-minute interval": lambda: service_level_by_interval(
            client_ids=ids, start=start, end=end, tz=UTC
        ),
        "escalation rate by channel": lambda: metrics.escalation_rate_by_channel(
            client_ids=ids, start=start, end=end
        ),
        "response times (median, p90)": lambda: dashboard.response_times(
            client_ids=ids, start=start, end=end
        ),
        "backlog by status and age": lambda: dashboard.backlog(client_ids=ids, now=end),
        "breach ageing": lambda: metrics.breach_ageing(client_ids=ids, now=end),
        "top root causes": lambda: dashboard.top_root_causes(client_ids=ids, start=start, end=end),
        "overdue actions": lambda: dashboard.overdue_actions(client_ids=ids, today=end.date()),
    }
    for name, panel in panels.items():
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            panel()
            timings.append(time.perf_counter() - started)
        print(
            f"{name:<44} median {statistics.median(timings) * 1000:7.1f} ms  "
            f"max {max(timings) * 1000:7.1f} ms"
        )
    user, _ = get_user_model().objects.get_or_create(
        username="bench-root", defaults={"is_superuser": True, "is_staff": True}
    )
    from django.test.utils import override_settings

    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    override = override_settings(STORAGES=storages, ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False)
    override.enable()
    http = HttpClient()
    http.force_login(user)
    query = {"client": client.slug, "start": start.date().isoformat(), "end": end.date().isoformat()}
    timings = []
    for _ in range(args.runs):
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            response = http.get("/reporting/", query)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    print(
        f"{'whole dashboard page (HTTP, test client)':<44} "
        f"median {statistics.median(timings) * 1000:7.1f} ms  "
        f"max {max(timings) * 1000:7.1f} ms  ({len(queries)} queries)"
    )


if __name__ == "__main__":
    main()
