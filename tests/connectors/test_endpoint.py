"""The inbound endpoint: signatures, connector state, size, replay protection, envelope."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from cases.models import Case, Customer, Interaction
from connectors import services, signing
from connectors.models import InboundEvent
from tests.connectors.conftest import fixture_bytes

pytestmark = pytest.mark.django_db

BODY = fixture_bytes("sms_twilio.txt")
FORM = "application/x-www-form-urlencoded"


def _nothing_written():
    return (
        InboundEvent.objects.count(),
        Case.objects.count(),
        Interaction.objects.count(),
        Customer.objects.count(),
    )


@pytest.fixture
def sms(make_connector):
    return make_connector("sms", slug="alpha-sms")


def test_good_signature_ingests(sms, post_event):
    response = post_event(sms, BODY, content_type=FORM)
    assert response.status_code == 201
    assert response.json()["status"] == "processed"
    event = InboundEvent.objects.get()
    assert event.status == "processed"
    assert bytes(event.payload) == BODY
    assert event.external_id == "SM5f2a0c1e9d8b7a6f5e4d3c2b1a0f9e8d"
    interaction = Interaction.objects.get(source=sms.slug, external_id=event.external_id)
    assert str(interaction.case.public_id) == response.json()["case"]
    assert str(interaction.public_id) == response.json()["interaction"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "Missing X-Accord-Timestamp or X-Accord-Signature header."),
        ("bad", "The signature does not match the request body."),
        ("old", "X-Accord-Timestamp is more than 300 seconds away from the server's time."),
        ("future", "X-Accord-Timestamp is more than 300 seconds away from the server's time."),
        ("tampered", "The signature does not match the request body."),
        ("other_secret", "The signature does not match the request body."),
        ("not_a_number", "X-Accord-Timestamp is not a Unix time in seconds."),
        ("no_scheme", "X-Accord-Signature has no 'v1=<hex>' value."),
        ("not_hex", "X-Accord-Signature has no 'v1=<hex>' value."),
    ],
)
def test_refused_signatures_write_nothing(sms, client, case, expected):
    now = int(time.time())
    headers = signing.sign(sms.signing_secret, now, BODY)
    body = BODY
    if case == "missing":
        headers = {}
    elif case == "bad":
        headers[signing.SIGNATURE_HEADER] = "v1=" + "0" * 64
    elif case == "old":
        headers = signing.sign(sms.signing_secret, now - 310, BODY)
    elif case == "future":
        headers = signing.sign(sms.signing_secret, now + 310, BODY)  # clear of the second that may tick
    elif case == "tampered":
        body = BODY.replace(b"wrong", b"right")
    elif case == "other_secret":
        headers = signing.sign("acs_someone_else", now, BODY)
    elif case == "not_a_number":
        headers[signing.TIMESTAMP_HEADER] = "yesterday"
    elif case == "no_scheme":
        headers[signing.SIGNATURE_HEADER] = headers[signing.SIGNATURE_HEADER].replace("v1=", "v0=")
    elif case == "not_hex":
        headers[signing.SIGNATURE_HEADER] = "v1=\u00e9\u00e9"  # non-ASCII: compare_digest refuses it
    before = _nothing_written()
    response = client.post(
        reverse("connectors:inbound-events", args=[sms.slug]), data=body, content_type=FORM, headers=headers
    )
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "/api/v1/errors/bad_signature",
        "title": "Authentication required",
        "status": 401,
        "detail": expected,
    }
    assert _nothing_written() == before == (0, 0, 0, 0)


def test_timestamp_within_tolerance_both_ways_is_accepted(sms, post_event):
    now = int(time.time())
    assert post_event(sms, BODY, content_type=FORM, timestamp=now - 290).status_code == 201
    other = BODY.replace(b"SM5f2a", b"SM5f2b")
    assert post_event(sms, other, content_type=FORM, timestamp=now + 290).status_code == 201
    assert InboundEvent.objects.filter(status="processed").count() == 2


def test_rotated_secret_old_and_new_both_valid_during_grace(sms, post_event):
    old_secret = sms.signing_secret
    issued = services.connector_secret_rotate(connector=sms)
    sms.refresh_from_db()
    assert issued.secret == sms.signing_secret != old_secret
    assert post_event(sms, BODY, content_type=FORM, secret=old_secret).status_code == 201
    second = BODY.replace(b"SM5f2a", b"SM5f2c")
    assert post_event(sms, second, content_type=FORM, secret=issued.secret).status_code == 201


def test_previous_secret_refused_after_grace(sms, post_event):
    old_secret = sms.signing_secret
    services.connector_secret_rotate(connector=sms, grace_hours=0)
    sms.refresh_from_db()
    response = post_event(sms, BODY, content_type=FORM, secret=old_secret)
    assert response.status_code == 401
    assert InboundEvent.objects.count() == 0


def test_sender_signing_with_both_secrets_is_accepted(sms, client):
    now = int(time.time())
    good = signing.compute(sms.signing_secret, now, BODY)
    response = client.post(
        reverse("connectors:inbound-events", args=[sms.slug]),
        data=BODY,
        content_type=FORM,
        headers={signing.TIMESTAMP_HEADER: str(now), signing.SIGNATURE_HEADER: f"v1={'a' * 64}, v1={good}"},
    )
    assert response.status_code == 201


def test_unknown_slug_is_404(client):
    response = client.post(
        reverse("connectors:inbound-events", args=["nope"]), data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "No connector 'nope'."
    assert response["Content-Type"] == "application/problem+json"


def test_inactive_connector_is_403_and_writes_nothing(make_connector, post_event):
    sms = make_connector("sms", slug="alpha-sms", is_active=False)
    response = post_event(sms, BODY, content_type=FORM)
    assert response.status_code == 403
    assert response.json()["detail"] == "Connector 'alpha-sms' is inactive."
    assert _nothing_written() == (0, 0, 0, 0)


def test_inactive_connector_with_bad_signature_is_401(make_connector, post_event):
    sms = make_connector("sms", slug="alpha-sms", is_active=False)
    assert post_event(sms, BODY, content_type=FORM, secret="acs_wrong").status_code == 401


def test_body_over_limit_is_413_and_writes_nothing(sms, post_event, settings):
    settings.ACCORD_CONNECTOR_MAX_BODY_BYTES = 100
    response = post_event(sms, b"x" * 101, content_type=FORM)
    assert response.status_code == 413
    assert response.json()["detail"] == "The body is over the limit of 100 bytes."
    assert _nothing_written() == (0, 0, 0, 0)


def test_body_over_djangos_upload_limit_is_413_and_writes_nothing(sms, post_event, settings):
    # A connector limit set above DATA_UPLOAD_MAX_MEMORY_SIZE: the lower one applies, and names
    # itself (Django would refuse to read the body).
    settings.ACCORD_CONNECTOR_MAX_BODY_BYTES = 10_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    response = post_event(sms, b"Body=" + b"x" * 2_000, content_type=FORM)
    assert response.status_code == 413
    assert response.json()["detail"] == "The body is over the limit of 1000 bytes."
    assert _nothing_written() == (0, 0, 0, 0)


def test_content_length_not_a_number_is_400(sms, client):
    response = client.generic(
        "POST",
        reverse("connectors:inbound-events", args=[sms.slug]),
        data=BODY,
        content_type=FORM,
        CONTENT_LENGTH="lots",
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Content-Length is not a number."
    assert _nothing_written() == (0, 0, 0, 0)


def test_default_limit_is_one_megabyte(sms, post_event, settings):
    assert settings.ACCORD_CONNECTOR_MAX_BODY_BYTES == 1_048_576
    response = post_event(sms, b"Body=" + b"x" * 1_048_576, content_type=FORM)
    assert response.status_code == 413


def test_get_is_405(sms, client):
    response = client.get(reverse("connectors:inbound-events", args=[sms.slug]))
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_redelivery_returns_200_and_changes_nothing(sms, post_event):
    first = post_event(sms, BODY, content_type=FORM)
    assert first.status_code == 201
    snapshot = (
        list(InboundEvent.objects.values_list("id", "status", "attempts")),
        list(Interaction.objects.values_list("id", "case_id")),
        list(Case.objects.values_list("id", "version", "last_activity_at")),
    )
    again = post_event(sms, BODY, content_type=FORM)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["case"] == first.json()["case"]
    assert again.json()["interaction"] == first.json()["interaction"]
    assert (
        list(InboundEvent.objects.values_list("id", "status", "attempts")),
        list(Interaction.objects.values_list("id", "case_id")),
        list(Case.objects.values_list("id", "version", "last_activity_at")),
    ) == snapshot


@pytest.mark.parametrize(
    ("adapter", "payload"),
    [
        ("social", {"for_user_id": "1", "tweet_create_events": ["a string, not an event"]}),
        (
            "whatsapp",
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "changes": [
                            {
                                "value": {
                                    "messages": [
                                        {
                                            "id": "wamid.S1",
                                            "from": "14155550123",
                                            "timestamp": "1741000000",
                                            "type": "text",
                                            "text": "a string, not an object",
                                        }
                                    ]
                                }
                            }
                        ]
                    }
                ],
            },
        ),
        (
            "voice",
            {
                "ContactId": "c-1",
                "CustomerEndpoint": "+14155550123",
                "InitiationTimestamp": "2025-03-03T10:00:00Z",
            },
        ),
        (
            "chat",
            {
                "event": "message",
                "session_id": "s-1",
                "visitor": {"id": "v"},
                "occurred_at": "2025-03-03T10:00:00Z",
                "message": {"id": "m-1", "author": ["customer"], "text": "hi"},
            },
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_payload_of_an_unexpected_shape_is_a_400_kept_for_replay(
    make_connector, post_event, adapter, payload
):
    """Valid JSON in a shape the adapter does not expect: a 400 naming the body, and the raw
    payload kept as a failed event (not a 500 with nothing stored)."""
    import json

    connector = make_connector(adapter)
    response = post_event(connector, json.dumps(payload).encode())
    assert response.status_code == 400, response.content
    assert "does not have the expected shape" in response.json()["detail"]
    assert InboundEvent.objects.get(connector=connector).status == "failed"
