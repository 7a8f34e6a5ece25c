"""A client system never reads nor writes the BPO's internal notes, and an external id it reuses
on another message is refused rather than answered with the message it names."""

from __future__ import annotations

import pytest

from cases import services
from cases.choices import AuthorKind, Channel, Direction
from cases.models import Interaction

pytestmark = pytest.mark.django_db

NOTE = {"channel": "email", "direction": "note", "author_kind": "agent", "body": "Supervisor: full refund"}


def _post(api, case, **body):
    message = {"channel": "email", "direction": "inbound", "author_kind": "customer", "body": "hi", **body}
    return api.post(f"/api/v1/cases/{case.public_id}/interactions", message, format="json")


def test_an_id_naming_another_cases_message_or_a_note_is_refused(api_a, case_a, open_case, client_a, agent_a):
    other = open_case(client=client_a)
    services.interaction_append(
        case=other,
        channel=Channel.EMAIL,
        direction=Direction.NOTE,
        author_kind=AuthorKind.AGENT,
        author=agent_a,
        body="INTERNAL: VIP discount approved by finance",
        external_id="n-1",
        source="api",
    )
    assert _post(api_a, other, external_id="m-1").status_code == 201
    before = Interaction.objects.count()
    for case, external_id in ((case_a, "n-1"), (other, "n-1"), (case_a, "m-1")):
        response = _post(api_a, case, external_id=external_id)
        assert response.status_code == 400, response.content
        assert "already names another message" in response.json()["errors"]["external_id"][0]
        assert "VIP discount" not in response.content.decode()
    assert Interaction.objects.count() == before
    # The same message sent again on its own case is still recognised.
    again = _post(api_a, other, external_id="m-1")
    assert (again.status_code, Interaction.objects.count()) == (200, before)


def test_client_systems_write_no_notes_through_sync_staff_do(
    api_a, case_a, queue_a, customer_a, supervisor_a
):
    case_a.external_id = "A-1"
    case_a.save(update_fields=["external_id"])
    put = api_a.put(
        "/api/v1/cases/by-external-id/A-1", {"interactions": [{**NOTE, "external_id": "n1"}]}, format="json"
    )
    created = api_a.post(
        "/api/v1/cases",
        {
            "subject": "s",
            "channel": "email",
            "queue_id": queue_a.pk,
            "customer_id": str(customer_a.public_id),
            "interactions": [{**NOTE, "external_id": "n2"}],
        },
        format="json",
    )
    bulk = api_a.post(
        "/api/v1/cases/bulk",
        {"items": [{"external_id": "A-1", "interactions": [{**NOTE, "external_id": "n3"}]}]},
        format="json",
    )
    assert (put.status_code, created.status_code) == (400, 400), (put.content, created.content)
    assert "not notes" in str(put.json()["errors"])
    assert bulk.status_code == 400, bulk.content
    assert not Interaction.objects.filter(direction="note").exists()


def test_replies_and_status_changes_dated_before_the_opening_are_refused(api_a, case_a):
    """They would make a case responded or resolved that no clock counts (running clocks on a
    resolved case, later breached; negative response times). A customer's older message joins."""
    url = f"/api/v1/cases/{case_a.public_id}"
    reply = {"channel": "email", "direction": "outbound", "author_kind": "agent", "body": "done"}
    early = api_a.post(f"{url}/interactions", {**reply, "occurred_at": "2020-01-01T00:00:00Z"}, format="json")
    assert (
        early.status_code == 400 and "before the case was opened" in early.json()["errors"]["occurred_at"][0]
    )
    resolve = api_a.post(f"{url}/resolve", {"occurred_at": "2019-01-01T00:00:00Z"}, format="json")
    assert resolve.status_code == 400 and "occurred_at" in resolve.json()["errors"]
    case_a.refresh_from_db()
    assert (case_a.status, case_a.first_responded_at, case_a.version) == ("new", None, 1)
    older = {"channel": "email", "direction": "inbound", "author_kind": "customer", "body": "sent earlier"}
    late = api_a.post(f"{url}/interactions", {**older, "occurred_at": "2020-01-01T00:00:00Z"}, format="json")
    assert late.status_code == 201
