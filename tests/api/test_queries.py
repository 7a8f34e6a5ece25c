"""Query counts: every list costs the same for 2 rows and 20 rows; creating a case has a fixed,
asserted cost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases import services
from cases.choices import AuthorKind, Channel, Direction
from slas.sweep import sla_sweep
from tests.api.conftest import TARGETS
from tests.factories import CustomerFactory, CustomerIdentityFactory, QueueFactory, SLAPolicyFactory

pytestmark = pytest.mark.django_db


def _populate(client, n, prefix):
    queue = QueueFactory(client=client)
    for index in range(n):
        customer = CustomerFactory(client=client)
        CustomerIdentityFactory(customer=customer)
        case = services.case_open(
            client=client,
            customer=customer,
            queue=queue,
            subject=f"s{index}",
            channel=Channel.EMAIL,
            opened_at=None,
            external_id=f"{prefix}-{index}",
        )
        services.interaction_append(
            case=case,
            channel=Channel.CHAT,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            body="x",
        )
    return case


LISTS = [
    "/api/v1/cases?page_size=100",
    "/api/v1/cases?page_size=100&sla_state=breached",
    "/api/v1/customers?page_size=100",
    "/api/v1/queues?page_size=100",
    "/api/v1/sla-clocks?page_size=100",
    "/api/v1/breaches?page_size=100",
    "/api/v1/sla-policies?page_size=100",
    "/api/v1/export/cases?page_size=100",
    "{case}/interactions?page_size=100",
    "{case}/timeline?page_size=100",
]


def _count(api, url) -> tuple[int, int]:
    api.get(url)  # warm: last-used time, compiled calendars
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(url)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), len(response.json()["results"])


@pytest.mark.parametrize("url", LISTS)
def test_lists_cost_the_same_for_2_and_20_rows(api_a, client_a, settings, url):
    settings.ACCORD_API_EXPORT_SAFETY_SECONDS = -3600  # export everything at once
    for n in range(3):
        SLAPolicyFactory(client=client_a, name=f"P{n}", targets=TARGETS)
    case = _populate(client_a, 2, "small")
    sla_sweep(now=case.opened_at + timedelta(days=30))
    small_url = url.format(case=f"/api/v1/cases/{case.public_id}")
    small = _count(api_a, small_url)
    case = _populate(client_a, 18, "large")
    for index in range(18):
        services.interaction_append(
            case=case,
            channel=Channel.EMAIL,
            direction=Direction.OUTBOUND,
            author_kind=AuthorKind.AGENT,
            body=str(index),
        )
    sla_sweep(now=case.opened_at + timedelta(days=30))
    large_url = url.format(case=f"/api/v1/cases/{case.public_id}")
    large = _count(api_a, large_url)
    assert large[1] > small[1] or large[1] >= 2, (small, large)
    assert large[0] == small[0], f"{url}: {small[0]} queries for {small[1]} rows, {large[0]} for {large[1]}"
    assert large[0] <= 6


CONTROL = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK")


def test_creating_a_case_costs_at_most_7_data_statements(api_a, policy_a, queue_a, customer_a):
    """The key (with the revisions of the client's queues, SLA policies and webhook
    subscriptions, which then come from caches: cases.revisions), the customer; the case and its
    timeline entry; the case SLA, the clocks and the clock events. Nothing is read back: the
    response shows the clocks as the engine wrote them. With BEGIN and COMMIT, 9 in all."""
    body = {
        "subject": "s",
        "channel": "email",
        "queue_id": queue_a.pk,
        "customer_id": str(customer_a.public_id),
    }
    api_a.post("/api/v1/cases", body, format="json")  # warm: the policy and calendar caches
    with CaptureQueriesContext(connection) as ctx:
        response = api_a.post("/api/v1/cases", body, format="json")
    assert response.status_code == 201
    assert len(response.json()["clocks"]) == 2
    data = [q["sql"] for q in ctx.captured_queries if q["sql"].split()[0].upper() not in CONTROL]
    assert len(data) <= 7, [sql[:80] for sql in data]
    assert len(ctx.captured_queries) <= 9, [q["sql"][:80] for q in ctx.captured_queries]


def test_the_created_case_reads_back_as_the_create_answered(api_a, policy_a, queue_a, customer_a):
    body = {
        "subject": "s",
        "channel": "chat",
        "queue_id": queue_a.pk,
        "customer_id": str(customer_a.public_id),
        "opened_at": "2026-01-05T09:00:00Z",
    }
    # with history: an agent's answer, then the customer's first message (older: a replay)
    history = {
        **body,
        "status": "resolved",
        "interactions": [
            {
                "external_id": "a1",
                "channel": "chat",
                "direction": "outbound",
                "author_kind": "agent",
                "body": "Fixed",
                "occurred_at": "2026-01-05T09:10:00Z",
            },
            {
                "external_id": "c1",
                "channel": "chat",
                "direction": "inbound",
                "author_kind": "customer",
                "body": "Help",
                "occurred_at": "2026-01-05T09:00:00Z",
            },
        ],
    }
    for payload in (body, history):
        created = api_a.post("/api/v1/cases", payload, format="json")
        assert created.status_code == 201, created.content
        read = api_a.get(created["Location"])
        assert created.json() == read.json()
        assert created["ETag"] == read["ETag"]
    assert {c["metric"]: c["outcome"] for c in created.json()["clocks"]}["first_response"] == "met"


@pytest.mark.parametrize("url", ["/api/v1/cases?page_size=5", "/api/v1/export/cases?page_size=5"])
def test_a_served_page_of_cases_is_freed_without_the_cyclic_collector(api_a, client_a, settings, url):
    """A page's cases hold their case SLA (which holds them back) and prefetched clocks (each
    holding its case): left so, a 100-case page was about 4,600 objects in reference cycles,
    and the full collections that free them made most of a list's p95 (decision 0009)."""
    import gc

    from cases.models import Case
    from slas.models import CaseSLA, SLAClock

    settings.ACCORD_API_EXPORT_SAFETY_SECONDS = -3600
    SLAPolicyFactory(client=client_a, targets=TARGETS)
    _populate(client_a, 6, "gc")  # a page of 5 and one more row read to see there is a next page
    api_a.get(url)  # warm
    gc.collect()
    gc.disable()
    try:
        response = api_a.get(url)
        assert response.status_code == 200 and len(response.json()["results"]) == 5
        assert all(len(r["clocks"]) == 2 for r in response.json()["results"])
        del response
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        in_cycles = [o for o in gc.garbage if type(o) in (Case, CaseSLA, SLAClock)]  # no lazy objects
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    # Django's prefetch keeps a hint to the first case of its batch on its clock query, itself in a
    # cycle: that case alone (with none of its relations) may wait for the collector.
    assert len(in_cycles) <= 1 and all(type(o) is Case for o in in_cycles), in_cycles


@pytest.mark.postgres
def test_the_breached_filter_probes_breached_clocks_by_their_own_index(api_a, client_a):
    """Each case the list walks is asked "has it a breached clock?" of the partial index of
    breached clocks (an index-only probe), not of every clock of the case (decision 0009)."""
    from django.db import transaction

    SLAPolicyFactory(client=client_a, targets=TARGETS)
    case = _populate(client_a, 3, "breached")
    sla_sweep(now=case.opened_at + timedelta(days=30))
    with CaptureQueriesContext(connection) as ctx:
        response = api_a.get("/api/v1/cases?sla_state=breached")
    assert len(response.json()["results"]) == 3
    (statement,) = [q["sql"] for q in ctx.captured_queries if "EXISTS" in q["sql"]]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few test rows: let the plan show indexes
        cursor.execute(f"EXPLAIN {statement}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "clock_breached_case" in plan, plan
