"""Escalating a case through the API: client systems as the client, staff in their own name;
other clients' cases are a 404, bad requests a 400 or 412, and a refusal changes nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from cases.models import ApiKeyScope
from governance.models import Escalation
from slas.models import SLAClock
from tests.api.factories import ApiKeyFactory
from tests.factories import QueueFactory

pytestmark = pytest.mark.django_db


def _key(client, scope=ApiKeyScope.READ_WRITE) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory(client=client, scope=scope).raw}")
    return api


def _url(case) -> str:
    return f"/api/v1/cases/{case.public_id}/escalations"


@pytest.fixture
def case_a(open_at, client_a, tiers_a):
    return open_at(client_a, queue=QueueFactory(client=client_a, name="Frontline queue"))


def test_a_client_system_escalates_as_the_client(case_a, client_a):
    api = _key(client_a)
    response = api.post(
        _url(case_a), {"reason": "Customer called our CEO", "handoff_channel": "voice"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["case_id"], body["sequence"], body["from_tier"], body["to_tier"]) == (
        str(case_a.public_id),
        1,
        1,
        2,
    )
    assert (body["trigger"], body["status"], body["tier"], body["handoff_channel"]) == (
        "client_request",
        "awaiting",
        "Specialists",
        "voice",
    )
    # The summary for the next tier quotes the BPO's internal notes: a client system gets none.
    assert body["context_summary"] == ""
    assert "Router keeps restarting" in Escalation.objects.get().context_summary
    case_a.refresh_from_db()
    assert case_a.tier == 2
    escalation = Escalation.objects.get()
    assert escalation.requested_by is None
    assert SLAClock.objects.filter(case=case_a, metric="escalation_acceptance", cycle=1).exists()
    listed = api.get(_url(case_a)).json()["results"]
    assert [row["sequence"] for row in listed] == [1]


def test_staff_escalate_in_their_own_name_to_a_chosen_tier(case_a, agent_a):
    api = APIClient()
    api.force_login(agent_a)
    response = api.post(_url(case_a), {"reason": "Needs the liaison", "to_tier": 3}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["trigger"], response.json()["to_tier"]) == ("manual", 3)
    assert Escalation.objects.get().requested_by == agent_a


def test_internal_notes_in_the_summary_never_reach_a_client_system(case_a, client_a, agent_a):
    from cases import services as case_services

    case_services.interaction_append(
        case=case_a,
        channel="email",
        direction="note",
        author_kind="agent",
        author=agent_a,
        body="INTERNAL: known fraudster, do not refund",
    )
    staff = APIClient()
    staff.force_login(agent_a)
    made = staff.post(_url(case_a), {"reason": "Needs the liaison"}, format="json")
    assert made.status_code == 201, made.content
    assert "known fraudster" in made.json()["context_summary"]  # staff see the notes
    for scope in (ApiKeyScope.READ, ApiKeyScope.READ_WRITE):
        listed = _key(client_a, scope).get(_url(case_a)).json()["results"]
        assert [row["context_summary"] for row in listed] == [""]


def test_read_keys_and_other_clients_change_nothing(case_a, client_a, client_b):
    assert (
        _key(client_a, ApiKeyScope.READ).post(_url(case_a), {"reason": "x"}, format="json").status_code == 403
    )
    other = _key(client_b)
    assert other.post(_url(case_a), {"reason": "x"}, format="json").status_code == 404
    assert other.get(_url(case_a)).status_code == 404
    assert APIClient().post(_url(case_a), {"reason": "x"}, format="json").status_code == 401
    assert not Escalation.objects.exists()
    case_a.refresh_from_db()
    assert case_a.tier == 1


def test_bad_requests_are_refused_with_the_reason_and_change_nothing(case_a, client_a, client_b, agent_a):
    api = _key(client_a)

    def refused(body, status=400, **headers):
        response = api.post(_url(case_a), body, format="json", **headers)
        assert response.status_code == status, response.content
        return response.json()

    assert "reason" in refused({})["errors"]
    assert "to_tier" in refused({"reason": "x", "to_tier": 1})["errors"]
    assert "queue_id" in refused({"reason": "x", "queue_id": QueueFactory(client=client_b).pk})["errors"]
    assert "handoff_channel" in refused({"reason": "x", "handoff_channel": "fax"})["errors"]
    refused({"reason": "x"}, status=412, HTTP_IF_MATCH='"999"')
    from cases import services as cases

    cases.case_resolve(case=case_a, actor=agent_a)
    assert "reopen it first" in refused({"reason": "x"})["detail"]
    assert not Escalation.objects.exists()
