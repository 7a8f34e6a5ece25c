"""My work: what is listed, in SLA urgency order, with clock badges, filters, paging, pick up, and a
query count that does not grow with the rows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import services as cases
from cases.choices import CaseEventKind, CaseStatus, Channel, Priority
from cases.models import Case, CaseEvent
from slas.sweep import sla_sweep

MY_WORK = reverse("workspace:my-work")


def listed(response) -> list[str]:
    """Public ids of the listed cases, in page order."""
    return re.findall(r'<tr class="work-row" data-case="([0-9a-f-]+)"', response.content.decode())


def row_html(response, case) -> str:
    html = response.content.decode()
    start = html.index(f'data-case="{case.public_id}"')
    return html[start : html.index("</tr>", start)]


@pytest.fixture
def queue_of_cases(make_case, worker_a, colleague_a, other_queue_a):
    """Cases of every kind around worker_a; the ones they should see are named."""
    fresh = make_case(ago=timedelta(minutes=1), subject="Fresh normal")  # first response due in 59 min
    breached = make_case(ago=timedelta(hours=2), subject="Breached normal")  # 1 h overdue
    at_risk = make_case(ago=timedelta(minutes=50), subject="At risk normal")  # due in 10 min, warned at 48
    urgent = make_case(ago=timedelta(minutes=5), priority=Priority.URGENT, subject="Urgent")  # due in 5 min
    mine_elsewhere = make_case(
        ago=timedelta(minutes=30), queue=other_queue_a, assignee=worker_a, subject="Mine, other queue"
    )  # due in 30 min
    colleagues = make_case(ago=timedelta(hours=3), assignee=colleague_a, subject="Colleague's")
    not_my_queue = make_case(ago=timedelta(hours=3), queue=other_queue_a, subject="Other queue")
    resolved = make_case(ago=timedelta(hours=3), subject="Resolved")
    cases.case_resolve(case=resolved, actor=worker_a)
    return {
        "expected": [breached, urgent, at_risk, mine_elsewhere, fresh],
        "hidden": [colleagues, not_my_queue, resolved],
        "breached": breached,
        "at_risk": at_risk,
        "fresh": fresh,
    }


def test_my_work_lists_mine_and_my_queues_unassigned_in_sla_order(client, worker_a, queue_of_cases):
    client.force_login(worker_a)
    response = client.get(MY_WORK)
    assert response.status_code == 200
    assert listed(response) == [str(c.public_id) for c in queue_of_cases["expected"]]
    assert 'data-testid="work-count">5 cases<' in response.content.decode()


def test_breached_first_even_when_the_sweep_has_run(client, worker_a, queue_of_cases):
    sla_sweep()
    client.force_login(worker_a)
    assert listed(client.get(MY_WORK)) == [str(c.public_id) for c in queue_of_cases["expected"]]


def test_cases_without_a_running_clock_come_last(client, worker_a, make_case, client_a, queue_a):
    from tests.factories import CustomerFactory

    # Opened before any policy of its priority exists? All priorities have targets here, so use a
    # case whose clocks are all paused: pending pauses resolution; first response already met.
    paused = make_case(ago=timedelta(hours=1), subject="Paused")
    cases.interaction_append(
        case=paused,
        channel=Channel.EMAIL,
        direction="outbound",
        author_kind="agent",
        author=worker_a,
        body="Hi",
    )
    paused = Case.objects.get(pk=paused.pk)
    cases.case_status_set(case=paused, status=CaseStatus.PENDING, actor=worker_a)
    running = make_case(
        ago=timedelta(minutes=1), customer=CustomerFactory(client=client_a), subject="Running"
    )
    client.force_login(worker_a)
    response = client.get(MY_WORK)
    assert listed(response) == [str(running.public_id), str(paused.public_id)]
    paused_row = row_html(response, paused)
    assert 'data-state="paused"' in paused_row and "data-clock-due" not in paused_row


def test_clock_badges_show_state_and_live_due_time(client, worker_a, queue_of_cases):
    client.force_login(worker_a)
    response = client.get(MY_WORK)
    breached = row_html(response, queue_of_cases["breached"])
    assert 'class="clock clock--breached" data-metric="first_response" data-state="breached"' in breached
    assert "overdue" in breached
    due = queue_of_cases["breached"].clocks.get(metric="first_response").due_at
    assert f'data-clock-due="{due:%Y-%m-%dT%H:%M:%S}Z"' in breached
    at_risk = row_html(response, queue_of_cases["at_risk"])
    assert 'data-metric="first_response" data-state="at_risk"' in at_risk and "At risk" in at_risk
    fresh = row_html(response, queue_of_cases["fresh"])
    assert 'data-metric="first_response" data-state="running"' in fresh
    assert re.search(r"5[89]m \d\ds left", fresh)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"priority": "urgent"}, ["Urgent"]),
        ({"scope": "mine"}, ["Mine, other queue"]),
        (
            {"scope": "unassigned"},
            ["Breached normal", "Urgent", "At risk normal", "Chat one", "Fresh normal"],
        ),
        ({"status": "pending"}, []),
        ({"channel": "chat"}, ["Chat one"]),
        # An invalid value is ignored, not an error.
        (
            {"priority": "whatever"},
            ["Breached normal", "Urgent", "At risk normal", "Mine, other queue", "Chat one", "Fresh normal"],
        ),
    ],
)
def test_filters(client, worker_a, queue_of_cases, make_case, params, expected):
    make_case(ago=timedelta(minutes=2), channel=Channel.CHAT, subject="Chat one")
    client.force_login(worker_a)
    response = client.get(MY_WORK, params)
    assert response.status_code == 200
    by_id = {str(c.public_id): c.subject for c in Case.objects.all()}
    assert [by_id[i] for i in listed(response)] == expected


def test_queue_filter_offers_my_queues_only(client, worker_a, queue_a, other_queue_a, queue_of_cases):
    client.force_login(worker_a)
    html = client.get(MY_WORK).content.decode()
    assert f'<option value="{queue_a.pk}">' in html
    assert f'<option value="{other_queue_a.pk}">' not in html
    response = client.get(MY_WORK, {"queue": queue_a.pk})
    assert len(listed(response)) == 4  # the case assigned to me in the other queue is filtered out
    response = client.get(MY_WORK, {"queue": other_queue_a.pk})  # not mine: ignored
    assert len(listed(response)) == 5


def test_htmx_filter_returns_the_results_fragment(client, worker_a, queue_of_cases, htmx):
    client.force_login(worker_a)
    response = client.get(MY_WORK, {"priority": "urgent"}, headers=htmx("work-results"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="work-results"') and "<html" not in html
    assert len(listed(response)) == 1


def test_paging(client, worker_a, make_case):
    made = [make_case(ago=timedelta(minutes=59 - i)) for i in range(30)]  # most urgent first
    client.force_login(worker_a)
    first = client.get(MY_WORK)
    second = client.get(MY_WORK, {"page": 2})
    assert listed(first) == [str(c.public_id) for c in made[:25]]
    assert listed(second) == [str(c.public_id) for c in made[25:]]
    assert "Page 1 of 2" in first.content.decode() and 'href="?page=2"' in first.content.decode()
    assert listed(client.get(MY_WORK, {"page": "junk"})) == listed(first)


def test_pick_up_assigns_to_me(client, worker_a, queue_of_cases):
    case = queue_of_cases["fresh"]
    client.force_login(worker_a)
    assert "Pick up" in row_html(client.get(MY_WORK), case)
    response = client.post(
        reverse("workspace:case-action", args=[case.public_id, "pick-up"]), {"expected_version": case.version}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("workspace:case", args=[case.public_id])
    case.refresh_from_db()
    assert case.assignee_id == worker_a.pk
    event = CaseEvent.objects.filter(case=case, kind=CaseEventKind.ASSIGNED).get()
    assert (event.actor_id, event.after, event.reason) == (
        worker_a.pk,
        {"assignee": worker_a.pk},
        "picked up",
    )
    assert "The case is yours." in client.get(response["Location"]).content.decode()
    assert "Pick up" not in row_html(client.get(MY_WORK), case)


def test_pick_up_of_a_case_changed_meanwhile_is_a_conflict(client, worker_a, colleague_a, queue_of_cases):
    case = queue_of_cases["fresh"]
    seen_version = case.version
    cases.case_priority_set(case=case, priority=Priority.HIGH, actor=colleague_a)
    client.force_login(worker_a)
    response = client.post(
        reverse("workspace:case-action", args=[case.public_id, "pick-up"]), {"expected_version": seen_version}
    )
    assert response.status_code == 409
    assert "changed by someone else" in response.content.decode()
    case.refresh_from_db()
    assert case.assignee_id is None


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_queue_page_costs_the_same_for_10_and_100_rows(client, worker_a, make_case, client_a):
    for i in range(10):
        make_case(ago=timedelta(minutes=i))
    client.force_login(worker_a)
    client.get(MY_WORK)  # warm the session
    with_10 = _count_queries(client, MY_WORK)
    for i in range(90):
        make_case(ago=timedelta(minutes=i), channel=Channel.CHAT if i % 2 else Channel.EMAIL)
    with_100 = _count_queries(client, MY_WORK)
    assert with_10 == with_100
    # session, user, roles, clients, queues; the filter's queues; count, ranked ids, rows, clocks
    assert with_100 == 10
    assert _count_queries(client, MY_WORK + "?page=4&priority=normal") == with_100
