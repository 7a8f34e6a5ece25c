"""Upsert by external id and bulk upserts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.utils import timezone

from cases.models import Case, CaseEvent, Interaction
from slas.models import CaseSLA, ClockEvent, SLAClock
from tests.api.conftest import key_client

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday


def _doc(queue, customer, **extra):
    return {
        "subject": "Billing question",
        "channel": "email",
        "queue_id": queue.pk,
        "customer_id": str(customer.public_id),
        **extra,
    }


def test_put_creates_then_updates_through_services(api_a, policy_a, queue_a, customer_a, agent_a, client_a):
    url = "/api/v1/cases/by-external-id/CRM-100"
    created = api_a.put(url, _doc(queue_a, customer_a, opened_at=T0.isoformat()), format="json")
    assert created.status_code == 201
    assert created.json()["external_id"] == "CRM-100"
    from tests.factories import QueueFactory

    other_queue = QueueFactory(client=client_a)
    update = {
        "subject": "Billing question (refund)",
        "priority": "high",
        "queue_id": other_queue.pk,
        "assignee_id": agent_a.pk,
        "status": "pending",
        "occurred_at": "2026-01-05T09:20:00Z",
        "reason": "synced from CRM",
    }
    updated = api_a.put(url, update, format="json")
    assert updated.status_code == 200
    body = updated.json()
    assert (body["subject"], body["priority"], body["queue_id"], body["assignee_id"], body["status"]) == (
        "Billing question (refund)",
        "high",
        other_queue.pk,
        agent_a.pk,
        "pending",
    )
    case = Case.objects.get(external_id="CRM-100")
    kinds = list(CaseEvent.objects.filter(case=case).order_by("id").values_list("kind", flat=True))
    assert kinds == ["opened", "updated", "queue_changed", "priority_changed", "assigned", "status_changed"]
    assert set(
        CaseEvent.objects.filter(case=case).exclude(kind="opened").values_list("reason", flat=True)
    ) == {"synced from CRM"}
    # Priority changed at 09:20: the first response target is recomputed from the clock's start.
    clock = SLAClock.objects.get(case=case, metric="first_response")
    assert clock.target_seconds == 1800
    # Sending the same document again changes nothing.
    version = case.version
    again = api_a.put(url, update, format="json")
    assert again.status_code == 200
    assert Case.objects.get(pk=case.pk).version == version


def test_put_refuses_immutable_changes(api_a, queue_a, customer_a, client_a):
    url = "/api/v1/cases/by-external-id/CRM-7"
    api_a.put(url, _doc(queue_a, customer_a), format="json")
    from tests.factories import CustomerFactory

    other = CustomerFactory(client=client_a)
    response = api_a.put(url, {"channel": "voice", "customer_id": str(other.public_id)}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"channel", "customer_id"}
    response = api_a.put("/api/v1/cases/by-external-id/CRM-8", {"subject": "no queue"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"channel", "queue_id", "customer_id"}


def test_put_with_if_match_and_if_none_match(api_a, queue_a, customer_a):
    url = "/api/v1/cases/by-external-id/CRM-9"
    assert api_a.put(url, _doc(queue_a, customer_a), format="json", HTTP_IF_MATCH='"1"').status_code == 412
    assert not Case.objects.exists()
    created = api_a.put(url, _doc(queue_a, customer_a), format="json", HTTP_IF_NONE_MATCH="*")
    assert created.status_code == 201
    assert api_a.put(url, {"priority": "low"}, format="json", HTTP_IF_NONE_MATCH="*").status_code == 412
    etag = created["ETag"]
    assert api_a.put(url, {"priority": "low"}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    stale = api_a.put(url, {"priority": "urgent"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert Case.objects.get().priority == "low"


def test_historical_sync_gives_the_clocks_it_would_have_had(api_a, policy_a, queue_a, customer_a):
    doc = _doc(
        queue_a,
        customer_a,
        opened_at="2026-01-05T09:00:00Z",
        status="resolved",
        occurred_at="2026-01-05T15:00:00Z",
        first_contact_resolution=True,
        interactions=[
            {
                "external_id": "m2",
                "channel": "email",
                "direction": "outbound",
                "author_kind": "agent",
                "body": "fixed",
                "occurred_at": "2026-01-05T11:30:00Z",
            },
            {
                "external_id": "m1",
                "channel": "email",
                "direction": "inbound",
                "author_kind": "customer",
                "body": "help",
                "occurred_at": "2026-01-05T09:00:00Z",
            },
        ],
    )
    response = api_a.put("/api/v1/cases/by-external-id/OLD-1", doc, format="json")
    assert response.status_code == 201, response.content
    clocks = {c["metric"]: c for c in response.json()["clocks"]}
    assert clocks["first_response"]["stopped_at"] == "2026-01-05T11:30:00Z"
    assert clocks["first_response"]["outcome"] == "missed"  # 1 h target
    assert clocks["resolution"]["stopped_at"] == "2026-01-05T15:00:00Z"
    assert clocks["resolution"]["outcome"] == "met"
    assert response.json()["sla"]["state"] == "breached"
    # Re-sending the item duplicates nothing.
    api_a.put("/api/v1/cases/by-external-id/OLD-1", doc, format="json")
    assert Interaction.objects.count() == 2


def test_bulk_items_are_independent(api_a, policy_a, queue_a, customer_a):
    api_a.put("/api/v1/cases/by-external-id/B-2", _doc(queue_a, customer_a), format="json")
    items = [
        {"external_id": "B-1", **_doc(queue_a, customer_a)},
        {"external_id": "B-2", "priority": "urgent"},
        {"external_id": "B-3", **_doc(queue_a, customer_a, queue_id=999_999)},
        {
            "external_id": "B-4",
            **_doc(queue_a, customer_a, customer_id="00000000-0000-4000-8000-000000000000"),
        },
        {"external_id": "B-2", "priority": "urgent"},
    ]
    response = api_a.post("/api/v1/cases/bulk", {"items": items}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"], body["failed"]) == (1, 1, 1, 2)
    outcomes = [(r["index"], r["external_id"], r["outcome"]) for r in body["results"]]
    assert outcomes == [
        (0, "B-1", "created"),
        (1, "B-2", "updated"),
        (2, "B-3", "failed"),
        (3, "B-4", "failed"),
        (4, "B-2", "unchanged"),
    ]
    assert body["results"][2]["errors"] == {"queue_id": ["No such queue for this client."]}
    assert body["results"][3]["errors"] == {"customer_id": ["No such customer for this client."]}
    assert set(Case.objects.values_list("external_id", flat=True)) == {"B-1", "B-2"}
    assert SLAClock.objects.filter(case__external_id="B-1").count() == 2


def test_bulk_atomic_is_all_or_nothing(api_a, queue_a, customer_a):
    items = [
        {"external_id": "A-1", **_doc(queue_a, customer_a)},
        {"external_id": "A-2", **_doc(queue_a, customer_a, queue_id=999_999)},
        {"external_id": "A-3", **_doc(queue_a, customer_a)},
    ]
    response = api_a.post("/api/v1/cases/bulk", {"items": items, "atomic": True}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"items[1].queue_id": ["No such queue for this client."]}
    assert not Case.objects.exists()
    items[1]["channel"] = "pigeon"
    response = api_a.post("/api/v1/cases/bulk", {"items": items, "atomic": True}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"items[1].channel"}
    assert not Case.objects.exists()


def test_malformed_bulk_is_refused_whole(api_a, queue_a, customer_a):
    items = [{"external_id": "M-1", **_doc(queue_a, customer_a)}, {"external_id": "M-2", "priority": 3}]
    response = api_a.post("/api/v1/cases/bulk", {"items": items}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"items[1].priority"}
    assert not Case.objects.exists()


@pytest.mark.parametrize("count", [0, 501])
def test_bulk_size_limits(api_a, count):
    items = [{"external_id": f"X-{i}"} for i in range(count)]
    response = api_a.post("/api/v1/cases/bulk", {"items": items}, format="json")
    assert response.status_code == 400
    assert "items" in response.json()["errors"]


def _relative(detail: dict, base: datetime) -> dict:
    """A clock event's detail with its due time relative to `base`."""
    if "due_at" in detail:
        return {**detail, "due_at": datetime.fromisoformat(detail["due_at"]) - base}
    return detail


def _written_shape(case: Case) -> tuple:
    """What opening `case` wrote (its SLA state, clocks, clock events and timeline), with times
    relative to its opening, to compare a case opened in bulk with one opened alone."""
    sla = CaseSLA.objects.get(case=case)
    at = case.opened_at
    second = at.replace(microsecond=0)  # due and warning times are whole business seconds
    return (
        case.status,
        case.priority,
        case.tier,
        case.version,
        (sla.policy_id, sla.policy_version, sla.calendar_id, sla.snapshot, sla.engine_state),
        sla.unmatched_reason,
        sla.last_event_at - at,
        sorted(
            (
                *(c.metric, c.cycle, c.channel, c.queue_id, c.policy_id, c.warning_percent, c.target_seconds),
                *(c.due_at - second, c.warn_at - second, c.paused_seconds, c.pauses, c.outcome, c.stopped_at),
            )
            for c in case.clocks.all()
        ),
        sorted(
            (
                (e.kind, e.at - at, e.clock.metric, _relative(e.detail, second), e.reason)
                for e in ClockEvent.objects.filter(case=case)
            ),
            key=lambda event: event[:3],
        ),
        [(e.kind, e.after, e.actor_label, e.reason, e.occurred_at - at) for e in case.events.all()],
    )


def test_bulk_of_500_writes_what_opening_one_case_writes(api_a, policy_a, queue_a, customer_a):
    """500 new cases go in bulk (COPY on PostgreSQL, config.bulk); each is stored exactly as the
    same case opened alone through POST /cases (row by row)."""
    alone = api_a.post("/api/v1/cases", {"external_id": "ALONE", **_doc(queue_a, customer_a)}, format="json")
    assert alone.status_code == 201
    items = [{"external_id": f"N-{i}", **_doc(queue_a, customer_a)} for i in range(500)]
    started = timezone.now()
    response = api_a.post("/api/v1/cases/bulk", {"items": items}, format="json")
    assert response.json()["created"] == 500
    assert SLAClock.objects.count() == 1002
    assert ClockEvent.objects.count() == 1002
    expected = _written_shape(Case.objects.get(external_id="ALONE"))
    bulk = list(Case.objects.filter(external_id__startswith="N-"))
    assert {case.external_id for case in bulk} == {f"N-{i}" for i in range(500)}
    for case in bulk[:: len(bulk) // 10] + bulk[-1:]:
        assert _written_shape(case) == expected
    # Ids came back: each result names its own case, and auto timestamps were set.
    results = response.json()["results"]
    assert sorted(r["id"] for r in results) == sorted(str(c.public_id) for c in bulk)
    assert CaseSLA.objects.filter(updated_at__lt=started).count() == 1
    assert not ClockEvent.objects.filter(recorded_at__isnull=True).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_one_new_key_make_one_case(client_a, queue_a, customer_a, write_key_a):
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def put(priority):
        try:
            barrier.wait()
            response = key_client(write_key_a).put(
                "/api/v1/cases/by-external-id/RACE-1",
                _doc(queue_a, customer_a, priority=priority),
                format="json",
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=put, args=(p,)) for p in ("low", "normal", "high", "urgent")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert Case.objects.filter(external_id="RACE-1").count() == 1


def _clocks_of(case) -> list[tuple]:
    return sorted(
        SLAClock.objects.filter(case=case).values_list(
            "metric",
            "cycle",
            "target_seconds",
            "started_at",
            "due_at",
            "warn_at",
            "policy_version",
            "queue_id",
        )
    )


def test_bulk_new_cases_open_exactly_as_one_by_one(api_a, policy_a, queue_a, customer_a, client_a):
    """The batch path (plain new cases) gives each case what opening it alone gives: its clocks,
    its SLA state, its timeline and clock events, and its webhook."""
    from connectors.models import WebhookDelivery
    from slas.models import CaseSLA, ClockEvent
    from tests.connectors.factories import WebhookSubscriptionFactory

    WebhookSubscriptionFactory(client=client_a)
    doc = _doc(queue_a, customer_a, opened_at="2026-01-05T09:00:00Z", priority="high", reason="migrated")
    one = api_a.put("/api/v1/cases/by-external-id/ONE", doc, format="json")
    assert one.status_code == 201
    items = [{"external_id": f"MANY-{i}", **doc} for i in range(3)]
    response = api_a.post("/api/v1/cases/bulk", {"items": items}, format="json")
    assert response.json()["created"] == 3
    single = Case.objects.get(external_id="ONE")
    for case in Case.objects.filter(external_id__startswith="MANY-"):
        assert (case.priority, case.opened_at, case.tier, case.version) == ("high", T0, 1, 1)
        assert _clocks_of(case) == _clocks_of(single)
        assert CaseSLA.objects.get(case=case).engine_state == CaseSLA.objects.get(case=single).engine_state
        opened = CaseEvent.objects.get(case=case)
        assert (opened.kind, opened.reason, opened.after) == ("opened", "migrated", single.events.get().after)
        assert sorted(ClockEvent.objects.filter(case=case).values_list("kind", flat=True)) == [
            "started",
            "started",
        ]
        [delivery] = WebhookDelivery.objects.filter(payload__data__case__external_id=case.external_id)
        assert delivery.event_type == "case.created"
        assert delivery.payload["data"]["case"]["id"] == str(case.public_id)


def test_bulk_new_cases_cost_the_same_queries_for_2_and_20(api_a, policy_a, queue_a, customer_a):
    from django.test.utils import CaptureQueriesContext

    def cost(prefix: str, count: int) -> int:
        items = [{"external_id": f"{prefix}-{i}", **_doc(queue_a, customer_a)} for i in range(count)]
        with CaptureQueriesContext(connection) as context:
            response = api_a.post("/api/v1/cases/bulk", {"items": items}, format="json")
        assert response.json()["created"] == count
        return len(context.captured_queries)

    cost("WARM", 1)
    assert cost("TWO", 2) == cost("TWENTY", 20)


def test_a_refused_batch_falls_back_to_item_by_item(
    api_a, policy_a, queue_a, customer_a, client_a, monkeypatch
):
    """A case created meanwhile under one of the batch's external ids (after the batch looked):
    the batch is refused whole and every item gets its own outcome, the taken one updated."""
    from cases.sync import References

    load = References.load

    def load_then_race(client, items):
        refs = load(client, items)
        Case.objects.create(
            client=client_a,
            customer=customer_a,
            queue=queue_a,
            subject="raced",
            external_id="R-2",
            origin_channel="email",
            current_channel="email",
            opened_at=T0,
            last_activity_at=T0,
        )
        return refs

    monkeypatch.setattr(References, "load", load_then_race)
    items = [{"external_id": f"R-{i}", **_doc(queue_a, customer_a)} for i in range(1, 4)]
    response = api_a.post("/api/v1/cases/bulk", {"items": items}, format="json")
    outcomes = [(r["external_id"], r["outcome"]) for r in response.json()["results"]]
    assert outcomes == [("R-1", "created"), ("R-2", "updated"), ("R-3", "created")]
    assert Case.objects.get(external_id="R-2").subject == "Billing question"
    assert SLAClock.objects.filter(case__external_id__in=["R-1", "R-3"]).count() == 4


def test_a_resent_batch_is_unchanged_without_a_write_and_at_constant_cost(
    api_a, policy_a, queue_a, customer_a, agent_a
):
    """A client retrying a batch it already sent: every item unchanged, nothing written, and the
    cost does not grow with the batch (the cases are compared as the batch read them)."""
    from django.test.utils import CaptureQueriesContext

    def batch(prefix: str, count: int) -> list[dict]:
        return [
            {
                "external_id": f"{prefix}-{i}",
                **_doc(queue_a, customer_a, priority="high", assignee_id=agent_a.pk, status="open"),
            }
            for i in range(count)
        ]

    def resend(items: list[dict]) -> int:
        with CaptureQueriesContext(connection) as context:
            response = api_a.post("/api/v1/cases/bulk", {"items": items}, format="json")
        body = response.json()
        assert (body["unchanged"], body["updated"], body["failed"]) == (len(items), 0, 0), body
        return len(context.captured_queries)

    two, twenty = batch("TWO", 2), batch("TWENTY", 20)
    for items in (two, twenty):
        assert api_a.post("/api/v1/cases/bulk", {"items": items}, format="json").json()["failed"] == 0
    versions = dict(Case.objects.values_list("external_id", "version"))
    events = CaseEvent.objects.count()
    assert resend(two) == resend(twenty)
    assert dict(Case.objects.values_list("external_id", "version")) == versions
    assert CaseEvent.objects.count() == events


@pytest.mark.parametrize(
    ("change", "outcome", "errors"),
    [
        ({"subject": "Billing question, again"}, "updated", None),
        ({"priority": "urgent"}, "updated", None),
        ({"status": "pending"}, "updated", None),
        ({"assignee_id": None}, "unchanged", None),
        ({"subject": "  Billing question  "}, "unchanged", None),
        ({"queue_id": 999_999}, "failed", {"queue_id": ["No such queue for this client."]}),
        (
            {"channel": "chat"},
            "failed",
            {"channel": ["The origin channel of an existing case cannot change."]},
        ),
        ({"assignee_id": 999_999}, "failed", {"assignee_id": ["No such user serving this client."]}),
    ],
)
def test_a_resent_item_that_differs_takes_the_full_path(api_a, queue_a, customer_a, change, outcome, errors):
    item = {"external_id": "D-1", **_doc(queue_a, customer_a)}
    assert api_a.post("/api/v1/cases/bulk", {"items": [item]}, format="json").json()["created"] == 1
    result = api_a.post("/api/v1/cases/bulk", {"items": [{**item, **change}]}, format="json").json()
    assert (result["results"][0]["outcome"], result["results"][0]["errors"]) == (outcome, errors)


def test_a_case_for_a_merged_customer_goes_to_the_survivor(api_a, client_a, queue_a, agent_a):
    from cases.services import customers_merge
    from tests.factories import CustomerFactory

    survivor, merged = CustomerFactory(client=client_a), CustomerFactory(client=client_a)
    customers_merge(survivor=survivor, merged=merged, actor=agent_a, reason="same person")
    created = api_a.post("/api/v1/cases", _doc(queue_a, merged), format="json")
    bulk = api_a.post(
        "/api/v1/cases/bulk", {"items": [{"external_id": "M-1", **_doc(queue_a, merged)}]}, format="json"
    )
    assert created.status_code == 201 and bulk.json()["created"] == 1
    assert Case.objects.get(public_id=created.json()["id"]).customer == survivor
    assert Case.objects.get(external_id="M-1").customer == survivor


def test_an_external_id_is_addressable_by_url(api_a, queue_a, customer_a):
    """A case's external id goes in /cases/by-external-id/{external_id}: one with '/', blank or
    padded is refused wherever it is given, rather than making a case that cannot be addressed."""
    base = {
        "subject": "s",
        "channel": "email",
        "queue_id": queue_a.pk,
        "customer_id": str(customer_a.public_id),
    }
    created = api_a.post("/api/v1/cases", {**base, "external_id": "ORD/2026/17"}, format="json")
    assert created.status_code == 400 and "without '/'" in created.json()["errors"]["external_id"][0]
    bulk = api_a.post("/api/v1/cases/bulk", {"items": [{**base, "external_id": "ORD/1"}]}, format="json")
    assert bulk.status_code == 400
    padded = api_a.put("/api/v1/cases/by-external-id/%20", base, format="json")
    assert padded.status_code == 400 and "surrounding spaces" in padded.json()["errors"]["external_id"][0]
    assert not Case.objects.exists()
    assert api_a.put("/api/v1/cases/by-external-id/ORD-2026-17", base, format="json").status_code == 201
