"""Every endpoint under the authorization matrix: anonymous, another client's key, own read key,
own write key, agent, supervisor. Denials change nothing; nothing of client A ever reaches
another client's key; no response carries a key or its hash."""

from __future__ import annotations

import json

import pytest

from cases import services
from cases.choices import AuthorKind, Channel, Direction
from cases.models import (
    ApiKey,
    Case,
    CaseEvent,
    Customer,
    CustomerIdentity,
    IdempotencyRecord,
    Interaction,
    SatisfactionSurvey,
)

pytestmark = pytest.mark.django_db

CALLERS = ["anonymous", "other_client_key", "own_read_key", "own_write_key", "agent", "supervisor"]


@pytest.fixture
def world(policy_a, policy_b, client_a, queue_a, customer_a, case_b, agent_a):
    case = services.case_open(
        client=client_a,
        customer=customer_a,
        queue=queue_a,
        subject="Alpha secret subject",
        channel=Channel.EMAIL,
        external_id="ALPHA-1",
    )
    services.interaction_append(
        case=case,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        body="alpha body text",
    )
    case.refresh_from_db()
    return {"case": case, "queue": queue_a, "customer": customer_a, "agent": agent_a}


def _counts(world) -> dict:
    case = Case.objects.get(pk=world["case"].pk)
    return {
        "cases": Case.objects.count(),
        "customers": Customer.objects.count(),
        "identities": CustomerIdentity.objects.count(),
        "interactions": Interaction.objects.count(),
        "events": CaseEvent.objects.count(),
        "surveys": SatisfactionSurvey.objects.count(),
        "case_version": case.version,
        "case_priority": case.priority,
        "case_status": case.status,
        "case_assignee": case.assignee_id,
    }


def _case(w):
    return f"/api/v1/cases/{w['case'].public_id}"


# (name, method, path(world), body(world), expected status per caller)
READ = {
    "anonymous": 401,
    "other_client_key": 200,
    "own_read_key": 200,
    "own_write_key": 200,
    "agent": 200,
    "supervisor": 200,
}
READ_ONE = {**READ, "other_client_key": 404}
ENDPOINTS = [
    ("customers list", "get", lambda w: "/api/v1/customers", None, READ),
    ("customer detail", "get", lambda w: f"/api/v1/customers/{w['customer'].public_id}", None, READ_ONE),
    ("queues list", "get", lambda w: "/api/v1/queues", None, READ),
    ("cases list", "get", lambda w: "/api/v1/cases", None, READ),
    ("case detail", "get", _case, None, READ_ONE),
    ("case by external id", "get", lambda w: "/api/v1/cases/by-external-id/ALPHA-1", None, READ_ONE),
    ("interactions list", "get", lambda w: _case(w) + "/interactions", None, READ_ONE),
    ("timeline", "get", lambda w: _case(w) + "/timeline", None, READ_ONE),
    ("export", "get", lambda w: "/api/v1/export/cases", None, READ),
    ("sla clocks", "get", lambda w: "/api/v1/sla-clocks", None, READ),
    ("breaches", "get", lambda w: "/api/v1/breaches", None, READ),
    ("sla policies", "get", lambda w: "/api/v1/sla-policies", None, READ),
    (
        "customer create",
        "post",
        lambda w: "/api/v1/customers",
        lambda w: {
            "display_name": "New",
            "identities": [{"kind": "email", "value": "new.person@example.org"}],
        },
        # Another client's key creates in its own client (checked below), which is no denial.
        {
            **READ,
            "own_read_key": 403,
            "other_client_key": 201,
            "own_write_key": 201,
            "agent": 201,
            "supervisor": 201,
        },
    ),
    (
        "identity add",
        "post",
        lambda w: f"/api/v1/customers/{w['customer'].public_id}/identities",
        lambda w: {"kind": "phone", "value": "+12125550123"},
        {**READ_ONE, "own_read_key": 403},
    ),
    (
        "case create",
        "post",
        lambda w: "/api/v1/cases",
        lambda w: {
            "subject": "New",
            "channel": "chat",
            "queue_id": w["queue"].pk,
            "customer_id": str(w["customer"].public_id),
        },
        # A key of client B pointing at client A's queue and customer: 400. Agents and supervisors
        # do not open cases through the API (no add_case).
        {
            **READ,
            "other_client_key": 400,
            "own_read_key": 403,
            "own_write_key": 201,
            "agent": 403,
            "supervisor": 403,
        },
    ),
    (
        "case upsert",
        "put",
        lambda w: "/api/v1/cases/by-external-id/ALPHA-1",
        lambda w: {"subject": "Changed by sync", "priority": "high", "queue_id": w["queue"].pk},
        {**READ, "other_client_key": 400, "own_read_key": 403, "agent": 403, "supervisor": 403},
    ),
    (
        "case bulk",
        "post",
        lambda w: "/api/v1/cases/bulk",
        lambda w: {"items": [{"external_id": "ALPHA-1", "priority": "urgent", "queue_id": w["queue"].pk}]},
        {**READ, "own_read_key": 403, "agent": 403, "supervisor": 403},
    ),
    ("assign", "post", lambda w: _case(w) + "/assign", lambda w: {"assignee_id": w["agent"].pk}, None),
    ("status", "post", lambda w: _case(w) + "/status", lambda w: {"status": "pending"}, None),
    ("priority", "post", lambda w: _case(w) + "/priority", lambda w: {"priority": "urgent"}, None),
    ("resolve", "post", lambda w: _case(w) + "/resolve", lambda w: {}, None),
    (
        "interaction create",
        "post",
        lambda w: _case(w) + "/interactions",
        lambda w: {"channel": "chat", "direction": "inbound", "author_kind": "customer", "body": "hi"},
        {**READ_ONE, "own_read_key": 403, "own_write_key": 201, "agent": 201, "supervisor": 201},
    ),
    (
        "satisfaction create",
        "post",
        lambda w: _case(w) + "/satisfaction",
        lambda w: {"csat": 4},
        {**READ_ONE, "own_read_key": 403, "own_write_key": 201, "agent": 403, "supervisor": 403},
    ),
]
ACTION = {**READ_ONE, "own_read_key": 403}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("name", "method", "path", "body", "expected"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS]
)
def test_matrix(world, callers, caller, name, method, path, body, expected, write_key_a, read_key_a):
    expected_status = (expected or ACTION)[caller]
    before = _counts(world)
    api = callers[caller]
    kwargs = {"format": "json"} if body else {}
    response = getattr(api, method)(path(world), body(world) if body else None, **kwargs)
    assert response.status_code == expected_status, (name, caller, response.content[:400])

    content = response.content.decode()
    # No secret or hash, ever.
    for key in (write_key_a, read_key_a):
        assert key.key_hash not in content
        assert key.raw not in content
    assert "key_hash" not in content
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert set(json.loads(content)) <= {"type", "title", "status", "detail", "errors"}
        assert _counts(world) == before, "a refused request changed something"
    if caller == "other_client_key":
        # Client B's key never sees anything of client A.
        for secret in (str(world["case"].public_id), str(world["customer"].public_id), "Alpha", "alpha"):
            assert secret not in content, (name, secret)
        if response.status_code < 400 and method != "get":
            assert _counts(world)["case_version"] == before["case_version"]
        if name == "case bulk":
            result = json.loads(content)["results"][0]
            assert result["outcome"] == "failed"
            assert result["errors"]["queue_id"] == ["No such queue for this client."]
            assert Case.objects.get(pk=world["case"].pk).priority == before["case_priority"]
    if response.status_code == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()
    if method == "get":
        assert not IdempotencyRecord.objects.exists()
