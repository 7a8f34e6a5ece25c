"""Receipts: the channel's word on a reply sent (an SMS status callback, WhatsApp statuses) moves
the reply's delivery state forward, found by the id the delivery URL answered for it."""

from __future__ import annotations

import json

import pytest

from cases.models import Interaction
from connectors import services
from connectors.models import InboundEvent
from tests.factories import CaseFactory, CustomerFactory, InteractionFactory, QueueFactory

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def sms_reply(
    make_connector, post_event, agent_a, http_receiver, settings, django_capture_on_commit_callbacks
):
    """An SMS connector whose delivery URL answers the channel's id of each message, and a reply
    sent through it."""
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    sms = make_connector("sms", settings={"delivery_url": http_receiver.url})
    http_receiver.answer = {"message_id": "SM-OUT-1", "status": "queued"}
    post_event(sms, b"MessageSid=SM-IN-1&From=%2B14155550123&Body=hi", content_type=FORM)
    case = Interaction.objects.get().case
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=case, body="On it.", actor=agent_a)
    reply.refresh_from_db()
    return sms, reply


def _callback(sid: str, status: str, **extra: str) -> bytes:
    fields = {"MessageSid": sid, "MessageStatus": status, "To": "+14155550123", **extra}
    return "&".join(f"{key}={value}" for key, value in fields.items()).replace("+", "%2B").encode()


def test_a_sent_reply_keeps_the_channels_id(sms_reply):
    _, reply = sms_reply
    assert (reply.delivery_status, reply.external_id) == ("sent", "SM-OUT-1")


def test_status_callbacks_move_the_reply_forward_never_back(sms_reply, post_event):
    sms, reply = sms_reply
    response = post_event(sms, _callback("SM-OUT-1", "delivered"), content_type=FORM)
    assert response.status_code == 202
    assert response.json()["detail"].endswith("Delivery state of 1 reply(ies) updated.")
    reply.refresh_from_db()
    assert reply.delivery_status == "delivered"
    post_event(sms, _callback("SM-OUT-1", "read"), content_type=FORM)
    post_event(sms, _callback("SM-OUT-1", "sent"), content_type=FORM)  # late: changes nothing
    reply.refresh_from_db()
    assert reply.delivery_status == "read"
    assert InboundEvent.objects.filter(status="ignored").count() == 3


def test_an_undelivered_reply_is_failed_with_the_error(sms_reply, post_event):
    sms, reply = sms_reply
    post_event(sms, _callback("SM-OUT-1", "undelivered", ErrorCode="30003"), content_type=FORM)
    reply.refresh_from_db()
    assert reply.delivery_status == "failed"
    assert reply.metadata["delivery_detail"] == "undelivered (error 30003)"


def test_a_receipt_never_reaches_another_clients_reply(sms_reply, make_connector, post_event, client_b):
    _, reply = sms_reply
    queue = QueueFactory(client=client_b)
    other_case = CaseFactory(client=client_b, queue=queue, customer=CustomerFactory(client=client_b))
    theirs = InteractionFactory(
        case=other_case, channel="sms", direction="outbound", author_kind="agent", source="ui",
        external_id="SM-OUT-1", delivery_status="sent",
    )  # fmt: skip
    beta = make_connector("sms", slug="beta-sms", client=client_b, default_queue=queue)
    post_event(beta, _callback("SM-OUT-1", "delivered"), content_type=FORM)
    reply.refresh_from_db()
    theirs.refresh_from_db()
    assert (reply.delivery_status, theirs.delivery_status) == ("sent", "delivered")


def test_whatsapp_statuses_move_the_replies_they_name(
    make_connector, post_event, agent_a, http_receiver, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    whatsapp = make_connector("whatsapp", settings={"delivery_url": http_receiver.url})
    inbound = {"from": "14155550123", "id": "wamid.IN", "timestamp": "1741000000", "type": "text"}
    webhook = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"value": {"messages": [inbound]}}]}],
    }
    post_event(whatsapp, json.dumps(webhook).encode(), content_type="application/json")
    case = Interaction.objects.get().case
    replies = []
    for number in (1, 2):
        http_receiver.answer = {"message_id": f"wamid.OUT{number}"}
        with django_capture_on_commit_callbacks(execute=True):
            replies.append(services.reply_send(case=case, body=f"Reply {number}", actor=agent_a))
    statuses = [
        {"id": "wamid.OUT1", "status": "read", "timestamp": "1741000100", "recipient_id": "14155550123"},
        {
            "id": "wamid.OUT2",
            "status": "failed",
            "timestamp": "1741000100",
            "errors": [{"code": 131047, "title": "Re-engagement message"}],
        },
    ]
    receipt = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"value": {"statuses": statuses}}]}],
    }
    response = post_event(whatsapp, json.dumps(receipt).encode(), content_type="application/json")
    assert response.json()["status"] == "ignored"
    for reply in replies:
        reply.refresh_from_db()
    assert [(r.delivery_status, r.metadata["delivery_detail"]) for r in replies] == [
        ("read", "read, by the channel's receipt"),
        ("failed", "Re-engagement message"),
    ]


def test_statuses_beside_a_message_apply_too(
    make_connector, post_event, agent_a, http_receiver, settings, django_capture_on_commit_callbacks
):
    """Meta may put a customer's new message and the statuses of a reply in one webhook."""
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    whatsapp = make_connector("whatsapp", settings={"delivery_url": http_receiver.url})
    first = {"from": "14155550123", "id": "wamid.IN1", "timestamp": "1741000000", "type": "text"}
    post_event(whatsapp, json.dumps(_wa(messages=[first])).encode(), content_type="application/json")
    http_receiver.answer = {"message_id": "wamid.OUT1"}
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=Interaction.objects.get().case, body="On it.", actor=agent_a)
    second = {**first, "id": "wamid.IN2", "text": {"body": "Thanks!"}}
    read = {"id": "wamid.OUT1", "status": "read", "timestamp": "1741000100"}
    response = post_event(
        whatsapp,
        json.dumps(_wa(messages=[second], statuses=[read])).encode(),
        content_type="application/json",
    )
    assert response.status_code == 201
    reply.refresh_from_db()
    assert reply.delivery_status == "read"
    assert Interaction.objects.filter(external_id="wamid.IN2").exists()


def _wa(**value) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}
