"""Cases over the API: creation with clocks, read-only fields, cross-client references, ETag and
If-Match, actions, filters, pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from cases import services
from cases.choices import AuthorKind, CaseEventKind, Channel, Direction
from cases.models import Case, CaseEvent, Customer
from slas.models import Breach, CaseSLA, SLAClock
from slas.sweep import sla_sweep
from tests.factories import CustomerFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


def _create(api, queue, customer, **extra):
    body = {
        "subject": "Router down",
        "channel": "email",
        "queue_id": queue.pk,
        "customer_id": str(customer.public_id),
    }
    return api.post("/api/v1/cases", {**body, **extra}, format="json")


def test_create_case_with_clocks(api_a, policy_a, queue_a, customer_a):
    response = _create(api_a, queue_a, customer_a, priority="high", external_id="CRM-1")
    assert response.status_code == 201
    body = response.json()
    case = Case.objects.get(public_id=body["id"])
    assert response["Location"].endswith(f"/api/v1/cases/{case.public_id}")
    assert response["ETag"].startswith(f'"{case.version}-')
    assert body["external_id"] == "CRM-1"
    assert body["priority"] == "high"
    assert body["client"] == "alpha"
    assert body["sla"] == {
        "state": "on_track",
        "breached": False,
        "at_risk": False,
        "policy_id": policy_a.pk,
        "policy_name": "Alpha standard",
        "policy_version": CaseSLA.objects.get(case=case).policy_version,
        "unmatched_reason": "",
    }
    clocks = {c["metric"]: c for c in body["clocks"]}
    assert set(clocks) == {"first_response", "resolution"}
    assert clocks["first_response"]["target_seconds"] == 1800
    assert clocks["resolution"]["target_seconds"] == 8 * 3600
    assert clocks["first_response"]["state"] == "running"
    assert CaseEvent.objects.filter(
        case=case, kind=CaseEventKind.OPENED, actor_label__startswith="api-key:"
    ).exists()


def test_case_without_policy_says_why(api_a, queue_a, customer_a):
    body = _create(api_a, queue_a, customer_a).json()
    assert body["clocks"] == []
    assert body["sla"]["state"] == "no_policy"
    assert body["sla"]["unmatched_reason"].startswith("No active SLA policy matches channel=email")


def test_historical_opened_at_gives_historical_clocks(api_a, policy_a, queue_a, customer_a):
    opened = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    body = _create(api_a, queue_a, customer_a, opened_at=opened.isoformat()).json()
    clock = {c["metric"]: c for c in body["clocks"]}["first_response"]
    assert clock["started_at"] == "2026-01-05T09:00:00Z"
    assert clock["due_at"] == "2026-01-05T10:00:00Z"
    assert body["opened_at"] == "2026-01-05T09:00:00Z"


def test_future_and_naive_times_are_refused(api_a, queue_a, customer_a):
    future = (timezone.now() + timedelta(days=1)).isoformat()
    response = _create(api_a, queue_a, customer_a, opened_at=future)
    assert response.status_code == 400
    assert response.json()["errors"]["opened_at"] == ["This time is in the future."]
    response = _create(api_a, queue_a, customer_a, opened_at="2026-01-05T09:00:00")
    assert response.status_code == 400
    assert Case.objects.count() == 0


def test_read_only_fields_cannot_be_set(api_a, client_b, queue_a, customer_a):
    response = _create(
        api_a,
        queue_a,
        customer_a,
        id="00000000-0000-0000-0000-000000000001",
        client=client_b.slug,
        version=99,
        status="new",
        tier=3,
        reopen_count=7,
        clocks=[{"metric": "resolution", "breached_at": "2026-01-01T00:00:00Z"}],
        sla={"breached": True},
        first_responded_at="2026-01-01T00:00:00Z",
    )
    assert response.status_code == 201
    case = Case.objects.get()
    assert str(case.public_id) != "00000000-0000-0000-0000-000000000001"
    assert (case.client.slug, case.version, case.tier, case.reopen_count) == ("alpha", 1, 1, 0)
    assert case.first_responded_at is None
    assert not Breach.objects.exists()


def test_references_to_another_client_are_400(api_a, queue_a, customer_a, queue_b, customer_b, agent_b):
    response = _create(api_a, queue_b, customer_a)
    assert response.status_code == 400
    assert response.json()["errors"] == {"queue_id": ["No such queue for this client."]}
    response = _create(api_a, queue_a, customer_b)
    assert response.json()["errors"] == {"customer_id": ["No such customer for this client."]}
    response = _create(api_a, queue_a, customer_a, assignee_id=agent_b.pk)
    assert response.json()["errors"] == {"assignee_id": ["No such user serving this client."]}
    # A queue that does not exist gets the very same answer (no existence oracle).
    response = _create(api_a, queue_a, customer_a, queue_id=999_999)
    assert response.json()["errors"] == {"queue_id": ["No such queue for this client."]}
    assert Case.objects.count() == 0


def test_create_with_customer_identities_finds_or_creates(api_a, queue_a):
    spec = {"display_name": "Cara", "identities": [{"kind": "email", "value": "Cara@Example.COM"}]}
    body = {"subject": "Again", "channel": "chat", "queue_id": queue_a.pk, "customer": spec}
    first = api_a.post("/api/v1/cases", body, format="json")
    assert first.status_code == 201
    customer = Customer.objects.get(public_id=first.json()["customer_id"])
    assert list(customer.identities.values_list("kind", "value")) == [("email", "cara@example.com")]
    body["customer"] = {
        "identities": [{"kind": "email", "value": "cara@example.com"}, {"kind": "external", "value": "CRM-9"}]
    }
    second = api_a.post("/api/v1/cases", body, format="json")
    assert second.json()["customer_id"] == str(customer.public_id)
    assert customer.identities.count() == 2
    other = CustomerFactory(client=customer.client)
    services.identity_add(customer=other, kind="phone", value="+12125550199")
    body["customer"] = {
        "identities": [
            {"kind": "email", "value": "cara@example.com"},
            {"kind": "phone", "value": "+12125550199"},
        ]
    }
    clash = api_a.post("/api/v1/cases", body, format="json")
    assert clash.status_code == 400
    assert "different customers" in clash.json()["errors"]["customer"][0]


def test_etag_and_conditional_requests(api_a, policy_a, case_a):
    url = f"/api/v1/cases/{case_a.public_id}"
    response = api_a.get(url)
    etag = response["ETag"]
    assert api_a.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    stale = f'"{case_a.version}-0"'
    assert api_a.get(url, HTTP_IF_NONE_MATCH=stale).status_code == 200

    ok = api_a.post(url + "/priority", {"priority": "urgent"}, format="json", HTTP_IF_MATCH=etag)
    assert ok.status_code == 200
    assert ok.json()["version"] == case_a.version + 1
    # The old ETag is now stale: 412, and nothing changes.
    events = CaseEvent.objects.count()
    refused = api_a.post(url + "/priority", {"priority": "low"}, format="json", HTTP_IF_MATCH=etag)
    assert refused.status_code == 412
    assert refused.json()["type"] == "/api/v1/errors/precondition_failed"
    case_a.refresh_from_db()
    assert (case_a.priority, case_a.version, CaseEvent.objects.count()) == ("urgent", 2, events)
    assert (
        api_a.post(url + "/priority", {"priority": "low"}, format="json", HTTP_IF_MATCH="garbage").status_code
        == 412
    )
    assert (
        api_a.post(url + "/priority", {"priority": "low"}, format="json", HTTP_IF_MATCH='"2"').status_code
        == 200
    )


def test_actions_go_through_the_services(api_a, policy_a, case_a, agent_a):
    url = f"/api/v1/cases/{case_a.public_id}"
    assert (
        api_a.post(url + "/assign", {"assignee_id": agent_a.pk}, format="json").json()["assignee_id"]
        == agent_a.pk
    )
    assert (
        api_a.post(url + "/status", {"status": "pending", "reason": "waiting"}, format="json").json()[
            "status"
        ]
        == "pending"
    )
    resolved = api_a.post(url + "/resolve", {"first_contact_resolution": True}, format="json").json()
    assert resolved["status"] == "resolved"
    assert {c["metric"]: c["state"] for c in resolved["clocks"]}["resolution"] == "met"
    reopened = api_a.post(url + "/reopen", {"reason": "customer called back"}, format="json").json()
    assert (reopened["status"], reopened["reopen_count"]) == ("open", 1)
    assert api_a.post(url + "/assign", {"assignee_id": None}, format="json").json()["assignee_id"] is None
    kinds = list(CaseEvent.objects.filter(case=case_a).order_by("id").values_list("kind", flat=True))
    assert kinds == ["opened", "assigned", "status_changed", "resolved", "reopened", "assigned"]
    bad = api_a.post(url + "/status", {"status": "new"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"]["status"] == ["A open case cannot become new."]
    assert api_a.post(url + "/reopen", {}, format="json").json()["errors"]["reason"] == [
        "This field is required."
    ]


def test_interactions_append_and_dedupe(api_a, policy_a, case_a, supervisor_a):
    url = f"/api/v1/cases/{case_a.public_id}/interactions"
    body = {
        "channel": "chat",
        "direction": "outbound",
        "author_kind": "agent",
        "body": "We are on it",
        "external_id": "msg-1",
        "occurred_at": (case_a.opened_at + timedelta(minutes=5)).isoformat(),
    }
    assert api_a.post(url, body, format="json").status_code == 201
    again = api_a.post(url, body, format="json")
    assert again.status_code == 200
    assert case_a.interactions.count() == 1
    case = api_a.get(f"/api/v1/cases/{case_a.public_id}").json()
    assert case["current_channel"] == "chat"
    assert {c["metric"]: c["state"] for c in case["clocks"]}["first_response"] == "met"
    # Internal notes are the BPO's: a client system neither writes nor reads them.
    note = {"channel": "chat", "direction": "note", "author_kind": "agent", "body": "VIP, careful"}
    assert api_a.post(url, note, format="json").status_code == 400
    services.interaction_append(
        case=case_a,
        channel=Channel.CHAT,
        direction=Direction.NOTE,
        author_kind=AuthorKind.AGENT,
        body="VIP, careful",
        author=supervisor_a,
    )
    listed = api_a.get(url).json()["results"]
    assert [i["external_id"] for i in listed] == ["msg-1"]
    assert "VIP, careful" not in api_a.get(f"/api/v1/cases/{case_a.public_id}/timeline").content.decode()


def test_satisfaction(api_a, case_a):
    url = f"/api/v1/cases/{case_a.public_id}/satisfaction"
    response = api_a.post(url, {"csat": 5, "nps": 9, "comment": "great"}, format="json")
    assert response.status_code == 201
    assert response.json()["case_id"] == str(case_a.public_id)
    assert api_a.post(url, {"csat": 6}, format="json").status_code == 400
    assert api_a.post(url, {}, format="json").json()["errors"] == {
        "csat": ["Give at least one of CSAT, NPS or effort."]
    }


@pytest.fixture
def many_cases(client_a, policy_a, queue_a, agent_a):
    other_queue = QueueFactory(client=client_a)
    customer = CustomerFactory(client=client_a)
    base = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    cases = []
    for index in range(6):
        cases.append(
            services.case_open(
                client=client_a,
                customer=customer if index % 2 else CustomerFactory(client=client_a),
                queue=queue_a if index < 4 else other_queue,
                subject=f"Case number {index}",
                channel=Channel.EMAIL if index % 3 else Channel.CHAT,
                priority="high" if index == 1 else "normal",
                opened_at=base + timedelta(hours=index),
                external_id=f"EXT-{index}",
                assignee=agent_a if index == 2 else None,
            )
        )
    services.case_status_set(case=cases[3], status="pending", actor=None)
    return {"cases": cases, "customer": customer, "other_queue": other_queue, "base": base}


def _ids(response):
    assert response.status_code == 200, response.content
    return [row["external_id"] for row in response.json()["results"]]


def test_filters(api_a, many_cases, queue_a, agent_a, case_b):
    get = lambda query: _ids(api_a.get("/api/v1/cases?" + query))  # noqa: E731
    assert get("") == ["EXT-5", "EXT-4", "EXT-3", "EXT-2", "EXT-1", "EXT-0"]
    assert get("status=pending") == ["EXT-3"]
    assert get("status=new&status=pending") == ["EXT-5", "EXT-4", "EXT-3", "EXT-2", "EXT-1", "EXT-0"]
    assert get("priority=high") == ["EXT-1"]
    assert get("channel=chat") == ["EXT-3", "EXT-0"]
    assert get(f"queue_id={many_cases['other_queue'].pk}") == ["EXT-5", "EXT-4"]
    assert get(f"assignee_id={agent_a.pk}") == ["EXT-2"]
    assert get("unassigned=false") == ["EXT-2"]
    assert get(f"customer_id={many_cases['customer'].public_id}") == ["EXT-5", "EXT-3", "EXT-1"]
    base = many_cases["base"]
    after, before = (base + timedelta(hours=2)).isoformat(), (base + timedelta(hours=4)).isoformat()
    from urllib.parse import quote

    assert get(f"opened_after={quote(after)}&opened_before={quote(before)}") == ["EXT-3", "EXT-2"]
    assert get("search=number 4") == ["EXT-4"]
    assert get("search=EXT-1") == ["EXT-1"]
    assert get("ordering=opened_at")[:2] == ["EXT-0", "EXT-1"]
    Case.objects.filter(external_id="EXT-0").update(updated_at=timezone.now() + timedelta(seconds=1))
    assert get("ordering=-updated_at")[0] == "EXT-0"
    assert get("updated_since=" + quote((timezone.now() + timedelta(milliseconds=500)).isoformat())) == [
        "EXT-0"
    ]
    for junk in (
        "status=bogus",
        "queue_id=abc",
        "updated_since=yesterday",
        "ordering=subject",
        "sla_state=red",
    ):
        response = api_a.get("/api/v1/cases?" + junk)
        assert response.status_code == 400, junk
        assert response.json()["type"] == "/api/v1/errors/validation"


def test_sla_state_filters(api_a, many_cases):
    sla_sweep(now=many_cases["base"] + timedelta(hours=5, minutes=50))
    # 1 h first response: EXT-0..EXT-4 breached by then; EXT-5 (opened 14:00) at risk after 14:48.
    assert _ids(api_a.get("/api/v1/cases?sla_state=breached")) == [
        "EXT-4",
        "EXT-3",
        "EXT-2",
        "EXT-1",
        "EXT-0",
    ]
    assert _ids(api_a.get("/api/v1/cases?sla_state=at_risk")) == ["EXT-5"]
    body = api_a.get("/api/v1/cases/by-external-id/EXT-1").json()
    assert body["sla"]["state"] == "breached"
    assert body["sla"]["breached"] is True
    breaches = api_a.get("/api/v1/breaches?metric=first_response").json()["results"]
    assert len(breaches) == 5
    assert len(api_a.get("/api/v1/sla-clocks?state=breached").json()["results"]) == Breach.objects.count()


def test_keyset_pagination_walks_every_row_once(api_a, many_cases):
    seen, url = [], "/api/v1/cases?page_size=4"
    while url:
        page = api_a.get(url).json()
        seen += [row["external_id"] for row in page["results"]]
        url = page["next"]
    assert seen == ["EXT-5", "EXT-4", "EXT-3", "EXT-2", "EXT-1", "EXT-0"]


def test_keyset_pagination_walks_ties_on_the_first_term_once(api_a, client_a, queue_a, customer_a):
    """Cases opened at the same instant: the page bound on `opened_at` (`>=` / `<=`) keeps
    them, and the id decides between them, in both orders."""
    same = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    for index in range(5):
        services.case_open(
            client=client_a,
            customer=customer_a,
            queue=queue_a,
            subject=f"Tie {index}",
            channel=Channel.EMAIL,
            opened_at=same if index != 4 else same + timedelta(minutes=1),
            external_id=f"TIE-{index}",
        )
    for ordering, expected in (
        ("opened_at", ["TIE-0", "TIE-1", "TIE-2", "TIE-3", "TIE-4"]),
        ("-opened_at", ["TIE-4", "TIE-3", "TIE-2", "TIE-1", "TIE-0"]),
    ):
        seen, url = [], f"/api/v1/cases?page_size=2&ordering={ordering}"
        while url:
            page = api_a.get(url).json()
            seen += [row["external_id"] for row in page["results"]]
            url = page["next"]
        assert seen == expected


@pytest.mark.parametrize(
    "query",
    [
        "page_size=0",
        "page_size=501",
        "page_size=abc",
        "page_size=-1",
        "page_size=1.5",
        "cursor=garbage",
        "cursor=",
    ],
)
def test_pagination_junk_is_400(api_a, many_cases, query):
    response = api_a.get("/api/v1/cases?" + query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_cursor_is_signed_and_bound_to_its_order(api_a, many_cases):
    cursor = api_a.get("/api/v1/cases?page_size=2").json()["next_cursor"]
    tampered = cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB")
    assert api_a.get(f"/api/v1/cases?cursor={tampered}").status_code == 400
    assert api_a.get(f"/api/v1/cases?cursor={cursor}&ordering=opened_at").status_code == 400
    assert api_a.get(f"/api/v1/cases?cursor={cursor}").status_code == 200
    assert api_a.get("/api/v1/cases?page_size=500").status_code == 200


def test_staff_see_their_clients_only(callers, many_cases, case_b, agent_b):
    agent = callers["agent"]
    ids = _ids(agent.get("/api/v1/cases?page_size=50"))
    assert len(ids) == 6
    assert agent.get(f"/api/v1/cases/{case_b.public_id}").status_code == 404
    # A user who is not staff gets nothing even with a session.
    from tests.api.conftest import user_client

    outsider = UserFactory(username="outsider", is_staff=False, clients=[many_cases["cases"][0].client])
    assert user_client(outsider).get("/api/v1/cases").status_code == 403


def test_browsable_api_for_staff_only(callers, many_cases):
    html = callers["supervisor"].get("/api/v1/cases", HTTP_ACCEPT="text/html")
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    keyed = callers["own_read_key"].get("/api/v1/cases", HTTP_ACCEPT="text/html")
    assert keyed["Content-Type"] == "application/json"


def test_clock_change_changes_the_etag(api_a, many_cases):
    case = many_cases["cases"][5]
    url = f"/api/v1/cases/{case.public_id}"
    etag = api_a.get(url)["ETag"]
    sla_sweep(now=many_cases["base"] + timedelta(hours=5, minutes=50))
    assert Case.objects.get(pk=case.pk).version == case.version
    assert api_a.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200
    assert SLAClock.objects.filter(case=case, warned_at__isnull=False).exists()


def test_pages_show_each_case_as_its_own_page_does(api_a, settings, policy_a, queue_a, customer_a):
    """The list and the export load only what a case's representation reads
    (`slas.api.views.cases_with_clocks(page=True)`); each case there is exactly what
    GET /cases/<id> shows, SLA summary and clocks included (running, breached, stopped; a case
    with no policy)."""
    settings.ACCORD_API_EXPORT_SAFETY_SECONDS = -3600  # export everything at once
    opened = timezone.now() - timedelta(days=3)
    breached = _create(api_a, queue_a, customer_a, opened_at=opened.isoformat()).json()
    sla_sweep(now=timezone.now())
    answered = _create(api_a, queue_a, customer_a).json()
    case = Case.objects.get(public_id=answered["id"])
    services.interaction_append(
        case=case,
        channel=Channel.EMAIL,
        direction=Direction.OUTBOUND,
        author_kind=AuthorKind.AGENT,
        body="hi",
    )
    other_queue = QueueFactory(client=queue_a.client)
    policy_a.queues.add(queue_a)  # the policy no longer covers other_queue
    unmatched = _create(api_a, other_queue, customer_a).json()
    listed = {row["id"]: row for row in api_a.get("/api/v1/cases?page_size=100").json()["results"]}
    exported = {row["id"]: row for row in api_a.get("/api/v1/export/cases").json()["results"]}
    for body in (breached, answered, unmatched):
        detail = api_a.get(f"/api/v1/cases/{body['id']}").json()
        assert listed[body["id"]] == detail == exported[body["id"]]
    assert listed[breached["id"]]["sla"]["state"] == "breached"
    assert {c["state"] for c in listed[answered["id"]]["clocks"]} >= {"met"}
    assert listed[unmatched["id"]]["sla"]["state"] == "no_policy"
    assert listed[unmatched["id"]]["sla"]["unmatched_reason"]
