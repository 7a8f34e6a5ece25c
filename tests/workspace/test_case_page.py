"""The case page: what it shows (header, clocks, the unified timeline, the customer panel), every
action through its service with conflicts and validation errors, and a bounded query count."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import services as cases
from cases.choices import AuthorKind, CaseStatus, Channel, Direction, IdentityKind, Priority
from cases.models import Case, Interaction
from governance.models import Escalation
from tests.factories import CustomerFactory, CustomerIdentityFactory


def page_url(case) -> str:
    return reverse("workspace:case", args=[case.public_id])


def action_url(case, action: str) -> str:
    return reverse("workspace:case-action", args=[case.public_id, action])


def timeline_kinds(html: str) -> list[str]:
    return re.findall(r'<li class="item [^"]*" id="event-\d+" data-kind="([a-z]+)"', html)


def clock_state(html: str, metric: str) -> str:
    match = re.search(rf'data-metric="{metric}" data-state="([a-z_]+)"', html)
    return match.group(1) if match else ""


@pytest.fixture
def customer(client_a):
    customer = CustomerFactory(client=client_a, display_name="Ann Alpha", is_vip=True)
    CustomerIdentityFactory(
        customer=customer, client=client_a, kind=IdentityKind.EMAIL, value="ann@example.com"
    )
    CustomerIdentityFactory(customer=customer, client=client_a, kind=IdentityKind.PHONE, value="+14155550100")
    return customer


@pytest.fixture
def story(make_case, customer, worker_a, tiers_a):
    """A case across channels: an e-mail, an answered call, a chat handoff, a note, a status change
    and an escalation."""
    start = timezone.now() - timedelta(hours=3)
    case = make_case(ago=timedelta(hours=3), customer=customer, subject="Internet down", assignee=worker_a)

    def add(minutes, channel, direction, author_kind, body, **kwargs):
        cases.interaction_append(
            case=case,
            channel=channel,
            direction=direction,
            author_kind=author_kind,
            body=body,
            occurred_at=start + timedelta(minutes=minutes),
            **kwargs,
        )

    add(1, Channel.EMAIL, Direction.INBOUND, AuthorKind.CUSTOMER, "My internet is down since this morning.")
    add(
        20,
        Channel.VOICE,
        Direction.INBOUND,
        AuthorKind.CUSTOMER,
        "Call from +14155550100",
        metadata={
            "wait_seconds": 42,
            "talk_seconds": 300,
            "answered": True,
            "recording_url": "https://rec.example/1",
        },
    )
    add(21, Channel.VOICE, Direction.OUTBOUND, AuthorKind.AGENT, "Call answered by Sam.", author=worker_a)
    add(40, Channel.CHAT, Direction.INBOUND, AuthorKind.CUSTOMER, "Still nothing, writing on chat now.")
    add(
        41,
        Channel.CHAT,
        Direction.NOTE,
        AuthorKind.AGENT,
        "Line test shows a fault at the cabinet.",
        author=worker_a,
    )
    case = Case.objects.get(pk=case.pk)
    cases.case_status_set(
        case=case, status=CaseStatus.ON_HOLD, actor=worker_a, reason="waiting for field team"
    )
    from governance.services import escalation_create

    escalation_create(case=Case.objects.get(pk=case.pk), reason="Field team needed", actor=worker_a)
    from cases.sync import case_subject_set

    case_subject_set(case=Case.objects.get(pk=case.pk), subject="Internet down (fibre)", actor="crm")
    other = make_case(ago=timedelta(days=3), customer=customer, subject="Old billing question")
    return {"case": Case.objects.get(pk=case.pk), "other": other}


def test_case_page_shows_the_whole_case(client, worker_a, story):
    case = story["case"]
    client.force_login(worker_a)
    response = client.get(page_url(case))
    assert response.status_code == 200
    html = response.content.decode()
    # Header
    for text in [
        "Internet down",
        "Ann Alpha",
        "VIP",
        "Alpha Telecom",
        'data-testid="case-tier">T2<',
        "not scored",
    ]:
        assert text in html, text
    assert 'data-testid="case-status">On hold<' in html
    assert 'data-testid="case-priority"><span class="tag tag--normal">Normal</span>' in html
    # Clocks: first response met by the call answer, resolution paused (on hold), acceptance running
    assert clock_state(html, "first_response") == "met"
    assert clock_state(html, "resolution") == "paused"
    assert clock_state(html, "escalation_acceptance") == "running"
    # The unified timeline, in order
    assert timeline_kinds(html) == [
        "opened",
        "message",  # e-mail in
        "handoff",  # e-mail -> voice
        "call",
        "call",  # answered (the agent's response)
        "status",  # new -> open on the answer
        "handoff",  # voice -> chat
        "message",
        "note",
        "status",  # open -> on hold
        "tier",  # escalation T1 -> T2
        "other",  # subject changed by the client's CRM
    ]
    assert "waited 42s" in html and "talked 5m 00s" in html and 'href="https://rec.example/1"' in html
    assert "Voice → Chat" in html and "E-mail → Voice" in html
    assert "Open → On hold" in html and "waiting for field team" in html
    assert "T1 → T2" in html and "escalation #1: Field team needed" in html
    assert "Line test shows a fault at the cabinet." in html
    assert "subject: Internet down → Internet down (fibre)" in html
    # Customer panel and escalations
    assert "ann@example.com" in html and "+14155550100" in html
    assert (
        "Old billing question" in html and reverse("workspace:case", args=[story["other"].public_id]) in html
    )
    assert 'data-testid="escalation"' in html and "Specialists" in html


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_case_page_cost_is_bounded_whatever_the_timeline_length(client, worker_a, make_case, colleague_a):
    case = make_case(ago=timedelta(days=1), assignee=worker_a)
    client.force_login(worker_a)
    client.get(page_url(case))
    short = _count_queries(client, page_url(case))
    start = timezone.now() - timedelta(hours=20)
    for i in range(150):
        cases.interaction_append(
            case=case,
            channel=Channel.CHAT if i % 3 else Channel.EMAIL,
            direction=Direction.INBOUND if i % 2 else Direction.OUTBOUND,
            author_kind=AuthorKind.CUSTOMER if i % 2 else AuthorKind.AGENT,
            author=None if i % 2 else worker_a,
            body=f"message {i}",
            occurred_at=start + timedelta(minutes=i),
        )
    cases.case_assign(case=case, assignee=colleague_a, actor=worker_a)
    cases.case_assign(case=case, assignee=worker_a, actor=worker_a)
    long = _count_queries(client, page_url(case))
    # + 1: the names of the people the two assignment entries refer to
    assert long == short + 1
    assert long <= 16


def test_timeline_is_paged_with_show_earlier(client, worker_a, make_case):
    case = make_case(ago=timedelta(days=1), assignee=worker_a)
    start = timezone.now() - timedelta(hours=20)
    for i in range(70):
        cases.interaction_append(
            case=case,
            channel=Channel.EMAIL,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            body=f"message {i:02d}",
            occurred_at=start + timedelta(minutes=i),
        )
    client.force_login(worker_a)
    html = client.get(page_url(case)).content.decode()
    bodies = re.findall(r"message (\d\d)", html)
    assert bodies == [f"{i:02d}" for i in range(40, 70)]  # the latest 30, oldest first
    more = re.search(r'hx-get="([^"]+/timeline/\?before=\d+)"', html).group(1)
    earlier = client.get(more)
    assert earlier.status_code == 200
    assert re.findall(r"message (\d\d)", earlier.content.decode()) == [f"{i:02d}" for i in range(10, 40)]
    last = re.search(r'hx-get="([^"]+/timeline/\?before=\d+)"', earlier.content.decode()).group(1)
    rest = client.get(last).content.decode()
    assert re.findall(r"message (\d\d)", rest) == [f"{i:02d}" for i in range(10)]
    assert "Show earlier" not in rest and 'data-kind="opened"' in rest


# --- Actions -----------------------------------------------------------------------------------------


def test_reply_stops_the_first_response_clock(client, worker_a, make_case, htmx):
    case = make_case(ago=timedelta(minutes=10), assignee=worker_a)
    client.force_login(worker_a)
    assert clock_state(client.get(page_url(case)).content.decode(), "first_response") == "running"
    response = client.post(
        action_url(case, "reply"), {"channel": "chat", "body": "We are on it."}, headers=htmx()
    )
    assert (response.status_code, response["X-Accord-Outcome"]) == (200, "ok")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="case-page"')
    assert clock_state(html, "first_response") == "met"
    assert "Reply on Chat recorded" in html
    reply = Interaction.objects.get(case=case, direction=Direction.OUTBOUND)
    assert (reply.channel, reply.author_kind, reply.author_id, reply.body) == (
        "chat",
        "agent",
        worker_a.pk,
        "We are on it.",
    )
    case.refresh_from_db()
    assert case.first_responded_at == reply.occurred_at and case.status == CaseStatus.OPEN
    assert case.current_channel == Channel.CHAT


def test_reply_needs_a_body(client, worker_a, make_case, htmx):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(action_url(case, "reply"), {"channel": "email", "body": "   "}, headers=htmx())
    assert (response.status_code, response["X-Accord-Outcome"]) == (200, "invalid")
    assert "This field is required." in response.content.decode()
    assert not Interaction.objects.filter(case=case).exists()


def test_reply_on_an_unknown_channel_is_refused(client, worker_a, make_case):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(action_url(case, "reply"), {"channel": "voice", "body": "Hi"})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()


def test_note_does_not_stop_the_clock(client, worker_a, make_case, htmx):
    case = make_case(ago=timedelta(minutes=10), assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(action_url(case, "note"), {"body": "Customer is a reseller"}, headers=htmx())
    assert response.status_code == 200
    html = response.content.decode()
    assert clock_state(html, "first_response") == "running"
    assert 'data-kind="note"' in html and "Customer is a reseller" in html
    note = Interaction.objects.get(case=case)
    assert (note.direction, note.author_id) == (Direction.NOTE, worker_a.pk)


def test_status_pending_pauses_resolution(client, worker_a, make_case, htmx):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(
        action_url(case, "status"),
        {"status": "pending", "reason": "asked for the router model", "expected_version": case.version},
        headers=htmx(),
    )
    assert response.status_code == 200
    assert clock_state(response.content.decode(), "resolution") == "paused"
    case.refresh_from_db()
    assert case.status == CaseStatus.PENDING


def test_status_not_allowed_from_here_is_a_form_error(client, worker_a, make_case, htmx):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(
        action_url(case, "status"), {"status": "closed", "expected_version": case.version}, headers=htmx()
    )
    assert (response.status_code, response["X-Accord-Outcome"]) == (200, "invalid")
    assert "Select a valid choice" in response.content.decode()
    case.refresh_from_db()
    assert case.status == CaseStatus.NEW


def test_priority_change_recomputes_the_clock(client, worker_a, make_case, htmx):
    case = make_case(ago=timedelta(minutes=5), assignee=worker_a)
    due_before = case.clocks.get(metric="first_response").due_at
    client.force_login(worker_a)
    response = client.post(
        action_url(case, "priority"), {"priority": "urgent", "expected_version": case.version}, headers=htmx()
    )
    assert response.status_code == 200
    case.refresh_from_db()
    assert case.priority == Priority.URGENT
    assert case.clocks.get(metric="first_response").due_at == due_before - timedelta(minutes=50)


def test_concurrent_change_is_a_conflict_and_keeps_the_input(client, worker_a, colleague_a, make_case, htmx):
    case = make_case(assignee=worker_a)
    seen = case.version
    cases.case_priority_set(case=case, priority=Priority.HIGH, actor=colleague_a)  # someone else, meanwhile
    client.force_login(worker_a)
    response = client.post(
        action_url(case, "status"),
        {"status": "on_hold", "reason": "parts ordered", "expected_version": seen},
        headers=htmx(),
    )
    assert (response.status_code, response["X-Accord-Outcome"]) == (200, "conflict")
    html = response.content.decode()
    assert 'data-testid="conflict"' in html and "changed by someone else" in html
    assert 'value="parts ordered"' in html  # the user's input is kept
    case.refresh_from_db()
    assert case.status == CaseStatus.NEW and case.priority == Priority.HIGH
    assert f'name="expected_version" value="{case.version}"' in html  # now showing the current case
    assert 'tag--high">High<' in html


def test_escalate(client, worker_a, make_case, tiers_a, htmx):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(
        action_url(case, "escalate"),
        {"reason": "Needs a network engineer", "handoff_channel": "voice", "expected_version": case.version},
        headers=htmx(),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Escalated to T2 Specialists." in html and 'data-testid="case-tier">T2<' in html
    escalation = Escalation.objects.get(case=case)
    assert (
        escalation.to_tier,
        escalation.reason,
        escalation.requested_by_id,
        escalation.handoff_channel,
    ) == (
        2,
        "Needs a network engineer",
        worker_a.pk,
        "voice",
    )
    assert clock_state(html, "escalation_acceptance") == "running"


def test_escalate_needs_a_reason_and_a_tier(client, worker_a, make_case, htmx):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(
        action_url(case, "escalate"), {"reason": "", "expected_version": case.version}, headers=htmx()
    )
    assert (response.status_code, response["X-Accord-Outcome"]) == (200, "invalid")
    assert "This field is required." in response.content.decode()
    # No tier configured for the client: the service's refusal shows on the tier field.
    response = client.post(
        action_url(case, "escalate"), {"reason": "Help", "expected_version": case.version}, headers=htmx()
    )
    assert (response.status_code, response["X-Accord-Outcome"]) == (200, "invalid")
    html = response.content.decode()
    assert "No active T2 tier serves the queue" in html and 'class="field field--error"' in html
    assert not Escalation.objects.filter(case=case).exists()


def test_resolve_with_first_contact_resolution_then_reopen(client, worker_a, make_case, htmx):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(
        action_url(case, "resolve"),
        {"first_contact_resolution": "on", "expected_version": case.version},
        headers=htmx(),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "Case resolved on first contact." in html
        and 'id="reopen-form"' in html
        and 'id="resolve-form"' not in html
    )
    case.refresh_from_db()
    assert (case.status, case.first_contact_resolution) == (CaseStatus.RESOLVED, True)
    assert clock_state(html, "resolution") == "met"

    response = client.post(
        action_url(case, "reopen"), {"reason": "", "expected_version": case.version}, headers=htmx()
    )
    assert (response.status_code, response["X-Accord-Outcome"]) == (200, "invalid")
    response = client.post(
        action_url(case, "reopen"), {"reason": "Still down", "expected_version": case.version}, headers=htmx()
    )
    assert response.status_code == 200
    case.refresh_from_db()
    assert (case.status, case.reopen_count, case.first_contact_resolution) == (CaseStatus.OPEN, 1, False)


def test_without_javascript_actions_redirect_back_with_a_message(client, worker_a, make_case):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(
        action_url(case, "priority"), {"priority": "high", "expected_version": case.version}
    )
    assert response.status_code == 302 and response["Location"] == page_url(case)
    assert "Priority set to high." in client.get(page_url(case)).content.decode()
    response = client.post(
        action_url(case, "priority"), {"priority": "low", "expected_version": case.version}
    )
    assert response.status_code == 409
    assert "<html" in response.content.decode()


def test_clocks_partial_says_when_the_case_changed(client, worker_a, colleague_a, make_case):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    url = reverse("workspace:case-clocks", args=[case.public_id])
    fresh = client.get(url, {"version": case.version}).content.decode()
    assert 'id="case-clocks"' in fresh and "Someone else changed" not in fresh
    cases.case_priority_set(case=case, priority=Priority.HIGH, actor=colleague_a)
    stale = client.get(url, {"version": case.version}).content.decode()
    assert 'id="case-stale" hx-swap-oob="true"' in stale and "Someone else changed" in stale


def test_reply_through_a_connector_shows_its_delivery_state(
    client, worker_a, make_case, client_a, queue_a, htmx
):
    from tests.connectors.factories import ConnectorFactory

    ConnectorFactory(client=client_a, adapter="email", slug="mail-alpha", default_queue=queue_a)
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    response = client.post(
        action_url(case, "reply"), {"channel": "email", "body": "On its way"}, headers=htmx()
    )
    html = response.content.decode()
    assert "Reply on E-mail recorded; delivery queued." in html
    assert 'data-testid="delivery">Queued<' in html
    assert Interaction.objects.get(case=case, direction=Direction.OUTBOUND).delivery_status == "queued"
