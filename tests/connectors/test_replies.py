"""Outbound replies: an agent's reply leaves through the case channel's connector after commit."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from cases import services as case_services
from cases.models import Case, Interaction
from connectors import services, signing
from tests.connectors.conftest import fixture_bytes

pytestmark = pytest.mark.django_db


def test_email_reply_is_threaded_and_marked_sent(
    make_connector, post_fixture, agent_a, django_capture_on_commit_callbacks
):
    email = make_connector("email", settings={"from_address": "support@alpha.example"})
    post_fixture(email, "email_plain.eml")
    case = Case.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=case, body="Please try a factory reset.", actor=agent_a)
    [sent] = mail.outbox
    assert sent.to == ["Ann.Alpha@Example.com"]
    assert sent.from_email == "support@alpha.example"
    assert sent.subject == "Re: Router keeps restarting"
    assert sent.body == "Please try a factory reset."
    assert sent.extra_headers == {
        "Message-ID": f"<accord.{reply.public_id}@alpha.example>",
        "In-Reply-To": "<CAF=router-1@mail.example.com>",
        "References": "<CAF=router-1@mail.example.com>",
    }
    reply.refresh_from_db()
    assert reply.delivery_status == "sent"
    assert reply.metadata["delivery_detail"] == "e-mailed to Ann.Alpha@Example.com"
    case.refresh_from_db()
    assert case.first_responded_at == reply.occurred_at


def test_email_reply_copies_whom_the_customer_copied(
    make_connector, post_event, agent_a, django_capture_on_commit_callbacks
):
    email = make_connector("email", settings={"from_address": "support@alpha.example"})
    raw = fixture_bytes("email_plain.eml").replace(
        b"To: support@alpha-telecom.example\r\n",
        b"To: support@alpha-telecom.example\r\n"
        b"Cc: Bob Beta <bob@example.com>, support@alpha.example, SUPPORT@alpha-telecom.example,"
        b" Ann.Alpha@Example.com\r\n",
    )
    post_event(email, raw, content_type="message/rfc822")
    case = Case.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=case, body="We are on it.", actor=agent_a)
    [sent] = mail.outbox
    # Not the support addresses it was sent to, nor Accord's own, nor the customer twice.
    assert (sent.to, sent.cc) == (["Ann.Alpha@Example.com"], ["bob@example.com"])
    reply.refresh_from_db()
    assert reply.metadata["delivery_detail"] == "e-mailed to Ann.Alpha@Example.com, copied to bob@example.com"


def test_reply_is_not_sent_before_commit_and_never_when_rolled_back(make_connector, post_fixture, agent_a):
    from django.db import transaction

    email = make_connector("email")
    post_fixture(email, "email_plain.eml")
    case = Case.objects.get()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.reply_send(case=case, body="Hello", actor=agent_a)
        assert Interaction.objects.get(direction="outbound").delivery_status == "queued"
        raise RuntimeError("rolled back")
    assert mail.outbox == []
    assert Interaction.objects.filter(direction="outbound").count() == 0


def test_chat_reply_is_posted_signed_to_the_delivery_url(
    make_connector, post_fixture, agent_a, http_receiver, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    chat = make_connector("chat", settings={"delivery_url": http_receiver.url})
    post_fixture(chat, "chat_session_started.json")
    case = Case.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=case, body="Hi Ann, looking into it.", actor=agent_a)
    [request] = http_receiver.requests
    headers = request["headers"]
    signing.verify(
        secrets=[chat.signing_secret],
        timestamp_header=headers[signing.TIMESTAMP_HEADER],
        signature_header=headers[signing.SIGNATURE_HEADER],
        body=request["body"],
        now=int(headers[signing.TIMESTAMP_HEADER]),
        tolerance_seconds=300,
    )
    payload = json.loads(request["body"])
    assert payload["type"] == "message.outbound"
    assert payload["thread_key"] == "chat:S-42"
    assert payload["body"] == "Hi Ann, looking into it."
    assert payload["interaction_id"] == str(reply.public_id)
    reply.refresh_from_db()
    assert reply.delivery_status == "sent"


def test_failed_delivery_is_recorded_and_can_be_retried(
    make_connector, post_fixture, agent_a, http_receiver, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    http_receiver.statuses = [502]
    sms = make_connector("sms", settings={"delivery_url": http_receiver.url})
    post_fixture(sms, "sms_twilio.txt")
    case = Case.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=case, body="We will call you.", actor=agent_a)
    reply.refresh_from_db()
    assert reply.delivery_status == "failed"
    assert reply.metadata["delivery_detail"] == 'HTTP 502: {"ok": false}'
    with django_capture_on_commit_callbacks(execute=True):
        services.reply_retry(interaction=reply)
    reply.refresh_from_db()
    assert reply.delivery_status == "sent"
    assert len(http_receiver.requests) == 2


def test_a_huge_failure_answer_is_cut_to_its_excerpt(
    make_connector, post_fixture, agent_a, http_receiver, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    http_receiver.statuses, http_receiver.body_bytes = [503], 64 * 1024 * 1024
    sms = make_connector("sms", settings={"delivery_url": http_receiver.url})
    post_fixture(sms, "sms_twilio.txt")
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=Case.objects.get(), body="We will call you.", actor=agent_a)
    reply.refresh_from_db()
    assert reply.delivery_status == "failed"
    assert reply.metadata["delivery_detail"] == "HTTP 503: streamed answer\n" + "x" * (
        200 - len("streamed answer\n")
    )
    assert http_receiver.sent < http_receiver.body_bytes


def test_notes_bot_and_connector_recorded_messages_are_not_sent(
    make_connector, post_fixture, agent_a, django_capture_on_commit_callbacks
):
    email = make_connector("email")
    post_fixture(email, "email_plain.eml")
    case = Case.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        case_services.interaction_append(
            case=case, channel="email", direction="note", author_kind="agent", body="internal", author=agent_a
        )
        case_services.interaction_append(
            case=case, channel="email", direction="outbound", author_kind="bot", body="auto-ack"
        )
        case_services.interaction_append(
            case=case,
            channel="email",
            direction="outbound",
            author_kind="agent",
            body="sent elsewhere",
            source=email.slug,
            external_id="elsewhere-1",
        )
    assert mail.outbox == []
    assert set(Interaction.objects.values_list("delivery_status", flat=True)) == {""}


def test_no_connector_for_the_channel_means_no_delivery(
    open_case, client_a, queue_a, agent_a, django_capture_on_commit_callbacks
):
    case = open_case(client=client_a, queue=queue_a, channel="sms")
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=case, body="Hello", actor=agent_a)
    reply.refresh_from_db()
    assert reply.delivery_status == ""


def test_lost_reply_task_is_requeued_and_delivery_runs_once(make_connector, post_fixture, agent_a):
    from datetime import timedelta

    from django.utils import timezone

    email = make_connector("email")
    post_fixture(email, "email_plain.eml")
    case = Case.objects.get()
    reply = services.reply_send(case=case, body="Hello", actor=agent_a)  # on-commit never runs
    assert Interaction.objects.get(pk=reply.pk).delivery_status == "queued"
    assert services.replies_resend_stale(now=timezone.now()) == 0
    assert (
        services.replies_resend_stale(now=timezone.now() + timedelta(minutes=6)) == 1
    )  # sync broker: sent now
    assert len(mail.outbox) == 1
    assert services.reply_deliver(interaction_id=reply.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_reply_needs_a_body(case_a, agent_a):
    from config.errors import ApplicationError

    with pytest.raises(ApplicationError):
        services.reply_send(case=case_a, body="  ", actor=agent_a)
    assert fixture_bytes("email_plain.eml")
