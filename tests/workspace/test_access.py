"""Authorization of every workspace page, partial and action, by URL (not by hidden links).
Each denial asserts that nothing changed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.choices import Role
from cases.models import Case, CaseEvent, Interaction
from tests.factories import UserFactory

ACTION_DATA = {
    "reply": {"channel": "email", "body": "Hello"},
    "note": {"body": "Looked into it"},
    "status": {"status": "pending", "expected_version": 1},
    "priority": {"priority": "urgent", "expected_version": 1},
    "escalate": {"reason": "Needs a specialist", "expected_version": 1},
    "resolve": {"first_contact_resolution": "on", "expected_version": 1},
    "reopen": {"reason": "Customer came back", "expected_version": 1},
    "pick-up": {"expected_version": 1},
    "assign": {"assignee": "", "expected_version": 1},
}
WORK_ACTIONS = ["reply", "note", "status", "priority", "escalate", "resolve", "reopen"]


def case_urls(case) -> list[str]:
    public_id = case.public_id
    return [
        reverse("workspace:case", args=[public_id]),
        reverse("workspace:case-timeline", args=[public_id]) + "?before=1",
        reverse("workspace:case-clocks", args=[public_id]),
    ]


def action_url(case, action: str) -> str:
    return reverse("workspace:case-action", args=[case.public_id, action])


def snapshot(case) -> tuple:
    case = Case.objects.get(pk=case.pk)
    return (
        case.version,
        case.status,
        case.priority,
        case.assignee_id,
        case.tier,
        Interaction.objects.filter(case=case).count(),
        CaseEvent.objects.filter(case=case).count(),
    )


@pytest.fixture
def client_system_a(client_a):
    return UserFactory(username="crm-a", role=Role.CLIENT_SYSTEM, clients=[client_a])


# --- Anonymous -------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_from_every_page(client, make_case):
    case = make_case()
    for url in [reverse("workspace:my-work"), reverse("workspace:supervisor"), *case_urls(case)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("workspace:login") + "?next="), url


@pytest.mark.parametrize("action", list(ACTION_DATA))
def test_anonymous_actions_change_nothing(client, make_case, action):
    case = make_case()
    before = snapshot(case)
    response = client.post(action_url(case, action), ACTION_DATA[action])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("workspace:login"))
    assert snapshot(case) == before


# --- Another client's case -------------------------------------------------------------------------


def test_another_clients_case_is_a_404_on_every_page(client, agent_b, make_case):
    case = make_case()
    client.force_login(agent_b)
    for url in case_urls(case):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("action", list(ACTION_DATA))
def test_another_clients_case_is_a_404_for_every_action(client, agent_b, make_case, action, htmx):
    case = make_case()
    before = snapshot(case)
    client.force_login(agent_b)
    assert client.post(action_url(case, action), ACTION_DATA[action]).status_code == 404
    assert client.post(action_url(case, action), ACTION_DATA[action], headers=htmx()).status_code == 404
    assert snapshot(case) == before


def test_queue_membership_in_a_client_not_served_shows_nothing(
    client, agent_a, queue_b, make_case, client_b, policy_b
):
    """A stray membership of another client's queue grants nothing."""
    queue_b.agents.add(agent_a)
    case_b = make_case(client=client_b, queue=queue_b)
    client.force_login(agent_a)
    response = client.get(reverse("workspace:my-work"))
    assert response.status_code == 200
    assert str(case_b.public_id) not in response.content.decode()
    assert client.get(reverse("workspace:case", args=[case_b.public_id])).status_code == 404


def test_unknown_case_and_unknown_action_are_404(client, worker_a, make_case):
    case = make_case()
    client.force_login(worker_a)
    assert (
        client.get(reverse("workspace:case", args=["00000000-0000-0000-0000-000000000000"])).status_code
        == 404
    )
    assert client.post(action_url(case, "delete"), {}).status_code == 404
    assert (
        client.get(reverse("workspace:case-timeline", args=[case.public_id]) + "?before=x").status_code == 404
    )


# --- Roles -----------------------------------------------------------------------------------------


def test_client_system_accounts_have_no_workspace(client, client_system_a, make_case):
    case = make_case()
    client.force_login(client_system_a)
    assert client.get(reverse("workspace:my-work")).status_code == 403
    assert client.get(reverse("workspace:supervisor")).status_code == 403
    assert client.get(reverse("workspace:case", args=[case.public_id])).status_code == 404


def test_governance_sees_a_case_read_only(client, governance_a, make_case):
    case = make_case()
    client.force_login(governance_a)
    page = client.get(reverse("workspace:case", args=[case.public_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="reply-form"' not in html and 'id="resolve-form"' not in html
    assert "Read only" in html
    landing = client.get(reverse("workspace:my-work"))
    assert landing.status_code == 200 and "Your role has no work queue" in landing.content.decode()
    before = snapshot(case)
    for action in [*WORK_ACTIONS, "pick-up", "assign"]:
        assert client.post(action_url(case, action), ACTION_DATA[action]).status_code == 403, action
    assert snapshot(case) == before


@pytest.mark.parametrize("action", WORK_ACTIONS)
def test_agent_outside_the_queue_cannot_work_the_case(client, agent_a, make_case, action):
    case = make_case()  # unassigned, in queue_a, which agent_a does not work
    client.force_login(agent_a)
    before = snapshot(case)
    assert client.post(action_url(case, action), ACTION_DATA[action]).status_code == 403
    assert snapshot(case) == before


@pytest.mark.parametrize("action", [*WORK_ACTIONS, "pick-up"])
def test_agent_cannot_work_a_colleagues_case(client, worker_a, colleague_a, make_case, action):
    case = make_case(assignee=colleague_a)
    client.force_login(worker_a)
    page = client.get(reverse("workspace:case", args=[case.public_id])).content.decode()
    assert 'id="reply-form"' not in page and "assigned to someone else" in page
    before = snapshot(case)
    assert client.post(action_url(case, action), ACTION_DATA[action]).status_code == 403
    assert snapshot(case) == before


def test_agent_cannot_reassign_even_their_own_case(client, worker_a, colleague_a, make_case, htmx):
    case = make_case(assignee=worker_a)
    client.force_login(worker_a)
    before = snapshot(case)
    data = {"assignee": colleague_a.pk, "expected_version": case.version}
    assert client.post(action_url(case, "assign"), data).status_code == 403
    response = client.post(action_url(case, "assign"), data, headers=htmx())
    assert (response.status_code, response["X-Accord-Outcome"]) == (200, "denied")
    assert "Only a supervisor" in response.content.decode()
    assert snapshot(case) == before


def test_agent_works_own_case_outside_their_queues(client, agent_a, other_queue_a, make_case):
    case = make_case(queue=other_queue_a, assignee=agent_a)
    client.force_login(agent_a)
    response = client.post(action_url(case, "note"), {"body": "Mine"})
    assert response.status_code == 302
    assert Interaction.objects.filter(case=case, direction="note").count() == 1


def test_supervisor_reassigns_only_in_supervised_queues(
    client, lead_a, worker_a, colleague_a, other_queue_a, make_case
):
    mine = make_case(assignee=worker_a)
    elsewhere = make_case(queue=other_queue_a, assignee=worker_a)
    client.force_login(lead_a)
    response = client.post(
        action_url(mine, "assign"), {"assignee": colleague_a.pk, "expected_version": mine.version}
    )
    assert response.status_code == 302
    assert Case.objects.get(pk=mine.pk).assignee_id == colleague_a.pk
    before = snapshot(elsewhere)
    response = client.post(
        action_url(elsewhere, "assign"), {"assignee": colleague_a.pk, "expected_version": elsewhere.version}
    )
    assert response.status_code == 403
    assert snapshot(elsewhere) == before


def test_supervisor_board_is_for_supervisors(client, worker_a, lead_a, governance_a):
    url = reverse("workspace:supervisor")
    client.force_login(worker_a)
    assert client.get(url).status_code == 403
    client.force_login(governance_a)
    assert client.get(url).status_code == 403
    client.force_login(lead_a)
    assert client.get(url).status_code == 200


def test_navigation_follows_the_role(client, worker_a, lead_a):
    client.force_login(worker_a)
    html = client.get(reverse("workspace:my-work")).content.decode()
    assert 'href="/supervisor/"' not in html and "Governance console" not in html
    client.force_login(lead_a)
    html = client.get(reverse("workspace:my-work")).content.decode()
    assert 'href="/supervisor/"' in html and "Governance console" in html


def test_login_and_logout(client, worker_a):
    page = client.get(reverse("workspace:login"))
    assert page.status_code == 200
    response = client.post(
        reverse("workspace:login"),
        {"username": "agent-a", "password": "pw-for-tests-1"},
        REMOTE_ADDR="10.0.0.1",
    )
    assert response.status_code == 302 and response["Location"] == reverse("workspace:my-work")
    assert client.get(reverse("workspace:my-work")).status_code == 200
    response = client.post(reverse("workspace:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("workspace:login")
    assert client.get(reverse("workspace:my-work")).status_code == 302


def test_wrong_password_is_refused(client, worker_a):
    response = client.post(
        reverse("workspace:login"), {"username": "agent-a", "password": "wrong"}, REMOTE_ADDR="10.0.0.2"
    )
    assert response.status_code == 200
    assert "Please enter a correct" in response.content.decode()
    assert client.get(reverse("workspace:my-work")).status_code == 302
