"""The supervisor board: at-risk and breached cases of the supervised queues, workload per agent,
reassign; a query count that does not grow with the rows."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import services as cases
from cases.choices import Priority
from cases.models import Case
from slas.sweep import sla_sweep

BOARD = reverse("workspace:supervisor")


def listed(html: str) -> list[str]:
    return re.findall(r'<tr class="work-row" data-case="([0-9a-f-]+)"', html)


def load(html: str, username: str) -> tuple[int, int, int]:
    row = re.search(
        rf'<tr data-agent="{username}">.*?data-col="open">(\d+)<'
        r'.*?data-col="at-risk">(\d+)<.*?data-col="breached">(\d+)<',
        html,
        re.S,
    )
    return tuple(int(x) for x in row.groups())


@pytest.fixture
def floor(make_case, worker_a, colleague_a, other_queue_a, client_b, policy_b):
    breached = make_case(ago=timedelta(hours=2), assignee=worker_a, subject="Breached")
    at_risk = make_case(ago=timedelta(minutes=50), assignee=colleague_a, subject="At risk")
    at_risk_unassigned = make_case(ago=timedelta(minutes=55), subject="At risk, nobody")
    fine = make_case(ago=timedelta(minutes=5), assignee=worker_a, subject="Fine")
    other_queue = make_case(ago=timedelta(hours=2), queue=other_queue_a, subject="Other queue")
    other_client = make_case(ago=timedelta(hours=2), client=client_b, subject="Other client")
    return {
        "listed": [breached, at_risk_unassigned, at_risk],
        "hidden": [fine, other_queue, other_client],
        "breached": breached,
        "at_risk": at_risk,
    }


@pytest.mark.parametrize("swept", [False, True])
def test_board_lists_at_risk_and_breached_of_my_queues(client, lead_a, floor, swept):
    if swept:
        sla_sweep()
    client.force_login(lead_a)
    html = client.get(BOARD).content.decode()
    assert listed(html) == [str(c.public_id) for c in floor["listed"]]
    assert "(3)" in html


def test_workload_per_agent(client, lead_a, worker_a, colleague_a, floor):
    client.force_login(lead_a)
    html = client.get(BOARD).content.decode()
    assert load(html, "agent-a") == (2, 0, 1)  # breached + fine
    assert load(html, "colleague-a") == (1, 1, 0)
    assert re.search(r"Support A</td><td>1</td>", html)  # one unassigned case waits in queue_a


def test_reassign_from_the_board(client, lead_a, colleague_a, floor):
    case = floor["breached"]
    client.force_login(lead_a)
    html = client.get(BOARD).content.decode()
    assert f'id="assignee-{case.public_id}"' in html
    response = client.post(
        reverse("workspace:case-action", args=[case.public_id, "assign"]),
        {"assignee": colleague_a.pk, "expected_version": case.version, "next": "supervisor"},
    )
    assert response.status_code == 302 and response["Location"] == BOARD
    case.refresh_from_db()
    assert case.assignee_id == colleague_a.pk
    html = client.get(BOARD).content.decode()
    assert "Assigned to Cleo Colleague." in html
    assert load(html, "colleague-a") == (2, 1, 1)


def test_reassign_to_someone_outside_the_queue_is_refused(client, lead_a, agent_b, floor, htmx):
    case = floor["breached"]
    client.force_login(lead_a)
    response = client.post(
        reverse("workspace:case-action", args=[case.public_id, "assign"]),
        {"assignee": agent_b.pk, "expected_version": case.version},
        headers=htmx(),
    )
    assert (response.status_code, response["X-Accord-Outcome"]) == (200, "invalid")
    assert "Select a valid choice" in response.content.decode()
    assert Case.objects.get(pk=case.pk).assignee_id == case.assignee_id


def test_reassign_of_a_case_changed_meanwhile_is_a_conflict(client, lead_a, worker_a, colleague_a, floor):
    case = floor["breached"]
    seen = case.version
    cases.case_priority_set(case=case, priority=Priority.URGENT, actor=worker_a)
    client.force_login(lead_a)
    response = client.post(
        reverse("workspace:case-action", args=[case.public_id, "assign"]),
        {"assignee": colleague_a.pk, "expected_version": seen, "next": "supervisor"},
    )
    assert response.status_code == 409
    assert Case.objects.get(pk=case.pk).assignee_id == worker_a.pk


def _count(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(BOARD).status_code == 200
    return len(captured)


def test_board_costs_the_same_for_few_and_many_rows(client, lead_a, make_case, worker_a, colleague_a):
    for i in range(3):
        make_case(ago=timedelta(hours=2, minutes=i), assignee=worker_a)
    client.force_login(lead_a)
    client.get(BOARD)
    few = _count(client)
    for i in range(40):
        make_case(ago=timedelta(hours=2, minutes=i), assignee=colleague_a if i % 2 else None)
    assert _count(client) == few
