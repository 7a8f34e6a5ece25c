"""The agent workspace on PostgreSQL with 200,000 cases: p50/p95 of my work (the queue page), the
case page (a typical case, and one with a 5,000-entry timeline) and the supervisor board, with the
number of queries each costs. Requests go through Django's test client (middleware, sessions,
templates included; no network).

Data (built once with set-based SQL, reused while its size matches): one client, 20 queues, 10
agents, 20,000 customers; 200,000 cases over 90 days of which 15% unresolved (40% of those
assigned); first-response and resolution clocks on every case (running, at risk, breached, paused
or stopped); three messages per case and its timeline (about 1.2 million timeline entries).
The benchmarked agent works 4 queues (about 4,800 unresolved cases to rank: the unassigned ones of
those queues and their own), the supervisor supervises 4.

    python bench/bench_ui.py [--cases 200000] [--requests 50]

Database: `accord_bench_ui` on the BENCH_DATABASE_URL server (default postgres://postgres@127.0.0.1:5432),
created and migrated if missing.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _setup import django_setup

DATABASE = "accord_bench_ui"
SLUG = "bench-ui"
QUEUES = 20
AGENTS = 10
CUSTOMERS = 20_000
LONG_TIMELINE = 5_000
LONG_SUBJECT = "Bench case with a long timeline"


def build(total: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection

    from cases.choices import Role
    from cases.models import Case, Client, Queue
    from tests.factories import SLAPolicyFactory

    targets = {
        (metric, priority): seconds * (1 if metric == "first_response" else 24)
        for metric in ("first_response", "resolution")
        for priority, seconds in (("urgent", 600), ("high", 1800), ("normal", 3600), ("low", 7200))
    }
    client = Client.objects.create(name="Bench UI", slug=SLUG, timezone="UTC")
    policy = SLAPolicyFactory(client=client, name="Bench UI standard", targets=targets)
    queues = [
        Queue.objects.create(client=client, name=f"Queue {i:02d}", slug=f"queue-{i:02d}", channels=[])
        for i in range(QUEUES)
    ]
    users = get_user_model().objects
    agents = []
    for i in range(AGENTS):
        agent = users.create_user(username=f"bench-agent-{i}", password="bench-agent", is_staff=True)
        agent.groups.add(Group.objects.get(name=Role.AGENT))
        client.staff.add(agent)
        agents.append(agent)
    for index, queue in enumerate(queues):
        queue.agents.add(agents[index % AGENTS], agents[(index + 1) % AGENTS])
    supervisor = users.create_user(username="bench-supervisor", password="bench-supervisor", is_staff=True)
    supervisor.groups.add(Group.objects.get(name=Role.SUPERVISOR))
    client.staff.add(supervisor)
    for queue in queues[:4]:
        queue.supervisors.add(supervisor)

    params = {
        "client": client.pk,
        "queues": [q.pk for q in queues],
        "agents": [a.pk for a in agents],
        "policy": policy.pk,
        "calendar": policy.calendar_id,
        "total": total,
        "customers": CUSTOMERS,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO cases_customer (public_id, client_id, display_name, segment, is_vip, language,
                created_at, updated_at)
            SELECT gen_random_uuid(), %(client)s, 'Customer ' || g, 'standard', g %% 50 = 0, 'en',
                now(), now()
            FROM generate_series(1, %(customers)s) g
            """,
            params,
        )
        cursor.execute("SELECT min(id) FROM cases_customer WHERE client_id = %s", [client.pk])
        params["first_customer"] = cursor.fetchone()[0]
        cursor.execute(
            """
            INSERT INTO cases_customeridentity (client_id, customer_id, kind, value, created_at)
            SELECT client_id, id, 'email', 'customer' || id || '@example.com', now()
            FROM cases_customer WHERE client_id = %(client)s
            """,
            params,
        )
        # 15% unresolved (g %% 100 < 15), opened in the last 3 days; the rest resolved or closed over 90 days.
        cursor.execute(
            """
            INSERT INTO cases_case (public_id, client_id, customer_id, queue_id, subject, status, priority,
                origin_channel, current_channel, assignee_id, tier, external_id, version, opened_at,
                first_responded_at, resolved_at, closed_at, reopen_count, last_activity_at, created_at,
                updated_at)
            SELECT gen_random_uuid(), %(client)s, %(first_customer)s + (g * 7) %% %(customers)s,
                (%(queues)s::bigint[])[1 + (g / 100) %% 20],
                'Bench case ' || g, s.status,
                (ARRAY['urgent','high','normal','normal','low'])[1 + (g / 3) %% 5],
                (ARRAY['email','chat','voice','sms','whatsapp','social','portal'])[1 + (g / 11) %% 7],
                (ARRAY['email','chat','voice','sms','whatsapp','social','portal'])[1 + (g / 11) %% 7],
                CASE WHEN s.unresolved AND (g / 7) %% 5 >= 2 THEN NULL
                     ELSE (%(agents)s::bigint[])[1 + (g / 13) %% 10] END,
                1, '', 1, s.opened_at,
                CASE WHEN s.status = 'new' THEN NULL ELSE s.opened_at + interval '10 minutes' END,
                CASE WHEN s.unresolved THEN NULL ELSE s.opened_at + interval '5 hours' END,
                CASE WHEN s.status = 'closed' THEN s.opened_at + interval '3 days' END,
                0, s.opened_at + interval '20 minutes', now(), now()
            FROM generate_series(1, %(total)s) g
            CROSS JOIN LATERAL (
                SELECT g %% 100 < 15 AS unresolved,
                    CASE WHEN g %% 100 < 15
                             THEN (ARRAY['new','open','pending','open','new'])[1 + (g / 100) %% 5]
                         WHEN g %% 100 < 90 THEN 'resolved' ELSE 'closed' END AS status,
                    CASE WHEN g %% 100 < 15 THEN now() - ((g * 37) %% 4320) * interval '1 minute'
                         ELSE now() - interval '3 days' - ((g * 53) %% 125000) * interval '1 minute'
                    END AS opened_at
            ) s
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO slas_casesla (case_id, client_id, policy_id, policy_version, calendar_id, snapshot,
                unmatched_reason, engine_state, last_event_at, updated_at)
            SELECT id, client_id, %(policy)s, 1, %(calendar)s, '{}', '', '{}', opened_at, now()
            FROM cases_case WHERE client_id = %(client)s
            """,
            params,
        )
        # Clocks. Resolved cases: both stopped (met). Unresolved: first response running (due from 2 h
        # ago to 8 h ahead) on new cases, met otherwise; resolution running, or paused when pending.
        cursor.execute(
            """
            INSERT INTO slas_slaclock (client_id, case_id, policy_id, policy_version, calendar_id, metric,
                cycle, warning_percent, target_seconds, started_at, due_at, warn_at, paused_since,
                paused_seconds, pauses, stopped_at, outcome, breached_at, warned_at, updated_at)
            SELECT c.client_id, c.id, %(policy)s, 1, %(calendar)s, m.metric, 1, 80, 3600, c.opened_at,
                t.due, t.due - interval '12 minutes', t.paused, 0, '[]', t.stopped,
                CASE WHEN t.stopped IS NULL THEN '' ELSE 'met' END,
                CASE WHEN t.stopped IS NULL AND t.due < now() - interval '1 minute' THEN t.due END,
                CASE WHEN t.stopped IS NULL AND t.due - interval '12 minutes' < now() - interval '1 minute'
                     THEN t.due - interval '12 minutes' END,
                now()
            FROM cases_case c
            CROSS JOIN (VALUES ('first_response'), ('resolution')) AS m(metric)
            CROSS JOIN LATERAL (
                SELECT
                    CASE WHEN c.status IN ('resolved', 'closed') THEN c.opened_at + interval '1 hour'
                         WHEN m.metric = 'first_response' AND c.status <> 'new'
                             THEN c.opened_at + interval '1 hour'
                         WHEN m.metric = 'first_response'
                             THEN now() + ((c.id * 13) %% 600 - 120) * interval '1 minute'
                         WHEN c.status = 'pending' THEN NULL
                         ELSE now() + ((c.id * 17) %% 4320 - 300) * interval '1 minute' END AS due,
                    CASE WHEN m.metric = 'resolution' AND c.status = 'pending'
                         THEN c.opened_at + interval '30 minutes' END AS paused,
                    CASE WHEN c.status IN ('resolved', 'closed') THEN c.opened_at + interval '30 minutes'
                         WHEN m.metric = 'first_response' AND c.status <> 'new'
                             THEN c.opened_at + interval '10 minutes' END AS stopped
            ) t
            WHERE c.client_id = %(client)s
            """,
            params,
        )
        # Three messages per case (customer, agent, customer), and the timeline: opened + one entry per
        # message + resolved for resolved cases.
        cursor.execute(
            """
            INSERT INTO cases_interaction (public_id, client_id, case_id, channel, direction, author_kind,
                author_id, body, occurred_at, source, external_id, thread_key, metadata, delivery_status,
                created_at)
            SELECT gen_random_uuid(), c.client_id, c.id, c.origin_channel, m.direction, m.author_kind,
                CASE WHEN m.author_kind = 'agent' THEN c.assignee_id END,
                'Message ' || m.n || ' of case ' || c.id || '. Lorem ipsum dolor sit amet, consectetur.',
                c.opened_at + m.n * interval '10 minutes', '', '', '', '{}', '', now()
            FROM cases_case c
            CROSS JOIN (
                VALUES (0, 'inbound', 'customer'), (1, 'outbound', 'agent'), (2, 'inbound', 'customer')
            ) AS m(n, direction, author_kind)
            WHERE c.client_id = %(client)s
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO cases_caseevent (case_id, client_id, kind, actor_id, actor_label, interaction_id,
                before, after, reason, occurred_at, recorded_at)
            SELECT id, client_id, 'opened', NULL, 'bench', NULL, '{}'::jsonb,
                jsonb_build_object('status', 'new', 'priority', priority, 'channel', origin_channel),
                '', opened_at, now()
            FROM cases_case WHERE client_id = %(client)s
            UNION ALL
            SELECT i.case_id, i.client_id, 'interaction', i.author_id, '', i.id, '{}'::jsonb,
                jsonb_build_object('channel', i.channel, 'direction', i.direction), '', i.occurred_at, now()
            FROM cases_interaction i WHERE i.client_id = %(client)s
            UNION ALL
            SELECT id, client_id, 'resolved', assignee_id, '', NULL, '{"status": "open"}'::jsonb,
                '{"status": "resolved"}'::jsonb, '', resolved_at, now()
            FROM cases_case WHERE client_id = %(client)s AND resolved_at IS NOT NULL
            """,
            params,
        )
    long_case = (
        Case.objects.filter(client=client, status="open", queue_id__in=params["queues"][:2])
        .exclude(assignee=None)
        .order_by("id")
        .first()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH made AS (
                INSERT INTO cases_interaction (public_id, client_id, case_id, channel, direction, author_kind,
                    body, occurred_at, source, external_id, thread_key, metadata, delivery_status, created_at)
                SELECT gen_random_uuid(), c.client_id, c.id, 'chat', 'inbound', 'customer',
                    'Long conversation line ' || g, c.opened_at + g * interval '1 second',
                    '', '', '', '{}', '', now()
                FROM cases_case c CROSS JOIN generate_series(1, %(n)s) g WHERE c.id = %(case)s
                RETURNING id, case_id, client_id, occurred_at
            )
            INSERT INTO cases_caseevent (case_id, client_id, kind, actor_label, interaction_id, before, after,
                reason, occurred_at, recorded_at)
            SELECT case_id, client_id, 'interaction', '', id, '{}', '{}', '', occurred_at, now() FROM made
            """,
            {"n": LONG_TIMELINE, "case": long_case.pk},
        )
        cursor.execute("UPDATE cases_case SET subject = %s WHERE id = %s", [LONG_SUBJECT, long_case.pk])


def analyze() -> None:
    """Steady state: autovacuum has visited the tables (visibility map, statistics)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "cases_customer",
            "cases_case",
            "cases_interaction",
            "cases_caseevent",
            "slas_slaclock",
            "slas_casesla",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def measure(client, url: str, requests: int) -> tuple[float, float, int, float]:
    """p50 and p95 of `requests` GETs of `url` (ms), its query count and the queries' time (ms)."""
    from django.core.signals import request_started
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        assert client.get(url, secure=True).status_code == 200, url
    request_started.disconnect(reset_queries)  # or the log is emptied under the capture
    try:
        with CaptureQueriesContext(connection) as captured:
            client.get(url, secure=True)
    finally:
        request_started.connect(reset_queries)
    query_count = len(captured)
    query_ms = sum(float(query["time"]) for query in captured.captured_queries) * 1000
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, secure=True)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
    return statistics.median(timings) * 1000, p95 * 1000, query_count, query_ms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument(
        "--rebuild", action="store_true", help="Drop the benchmark's data and build it again."
    )
    args = parser.parse_args()
    database_url = django_setup(DATABASE)
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client as TestClient
    from django.test.utils import override_settings
    from django.urls import reverse

    from cases.models import Case, CaseEvent, Client

    existing = Client.objects.filter(slug=SLUG).first()
    if existing is not None and Case.objects.filter(client=existing).count() != args.cases:
        print(f"the benchmark data does not match --cases: drop the database and run again ({database_url})")
        print(f"  psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE {DATABASE}'")
        raise SystemExit(2)
    if existing is None:
        started = time.perf_counter()
        with transaction.atomic():
            build(args.cases)
        analyze()
        print(f"built {args.cases:,} cases in {time.perf_counter() - started:.1f} s")
    client_row = Client.objects.get(slug=SLUG)
    print(
        f"data: {Case.objects.filter(client=client_row).count():,} cases "
        f"({Case.objects.filter(client=client_row).unresolved().count():,} unresolved), "
        f"{CaseEvent.objects.filter(client=client_row).count():,} timeline entries"
    )

    users = get_user_model().objects
    agent, supervisor = users.get(username="bench-agent-0"), users.get(username="bench-supervisor")
    agent_client, supervisor_client = TestClient(), TestClient()
    agent_client.force_login(agent)
    supervisor_client.force_login(supervisor)
    typical = Case.objects.filter(client=client_row, assignee=agent, status="open").order_by("-id").first()
    long_id = Case.objects.get(client=client_row, subject=LONG_SUBJECT).public_id
    pages = [
        ("my work, page 1", agent_client, reverse("workspace:my-work")),
        ("my work, page 20", agent_client, reverse("workspace:my-work") + "?page=20"),
        (
            "my work, urgent e-mail",
            agent_client,
            reverse("workspace:my-work") + "?priority=urgent&channel=email",
        ),
        ("case page, 4 timeline entries", agent_client, reverse("workspace:case", args=[typical.public_id])),
        (
            f"case page, {LONG_TIMELINE:,}+ timeline entries",
            agent_client,
            reverse("workspace:case", args=[long_id]),
        ),
        ("supervisor board", supervisor_client, reverse("workspace:supervisor")),
    ]
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Not setup_test_environment(): its instrumented template rendering would be measured too.
    with override_settings(STORAGES=storages, SECURE_SSL_REDIRECT=False, ALLOWED_HOSTS=["testserver"]):
        for label, http, url in pages:
            p50, p95, queries, query_ms = measure(http, url, args.requests)
            print(
                f"{label:<36} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   {queries:2d} queries "
                f"({query_ms:.1f} ms in the database)"
            )


if __name__ == "__main__":
    main()
