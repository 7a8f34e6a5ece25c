"""Retention (connectors.retention): processed raw payloads and the ended webhook log go after
their days; what may still be needed (failed or received events, pending deliveries) stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases import services as case_services
from cases.models import Case, CaseEvent, Interaction
from config.schedules import SCHEDULES
from connectors import retention
from connectors.models import InboundEvent, WebhookAttempt, WebhookDelivery
from tests.connectors.conftest import fixture_bytes
from tests.connectors.factories import WebhookSubscriptionFactory
from tests.factories import ClientFactory, QueueFactory

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def _post_messages(post_event, sms, count: int) -> None:
    for n in range(count):
        body = fixture_bytes("sms_twilio.txt").replace(b"MessageSid=SM", f"MessageSid=SM{n}x".encode())
        assert post_event(sms, body, content_type=FORM).status_code == 201


def _age(model, days: int, field: str, **filters) -> None:
    model.objects.filter(**filters).update(**{field: timezone.now() - timedelta(days=days)})


@pytest.fixture
def events(make_connector, post_fixture, post_event):
    """One event of each outcome for client_a's connectors: processed, ignored, failed."""
    sms, whatsapp = make_connector("sms"), make_connector("whatsapp")
    assert post_fixture(sms, "sms_twilio.txt").status_code == 201
    assert post_fixture(whatsapp, "whatsapp_statuses.json").status_code == 202
    assert post_event(whatsapp, b'{"object": "page"}').status_code == 400
    return {event.status: event for event in InboundEvent.objects.all()}


def test_processed_and_ignored_events_go_after_the_retention_failed_ones_stay(events, settings):
    settings.ACCORD_INBOUND_RETENTION_DAYS = 30
    _age(InboundEvent, 31, "received_at")
    received = InboundEvent.objects.create(
        client=events["processed"].client, connector=events["processed"].connector, payload=b"x"
    )
    _age(InboundEvent, 31, "received_at", pk=received.pk)  # not processed yet, however old

    run = retention.retention_apply()

    assert run.inbound_events_deleted == 2
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"failed", "received"}
    assert bytes(InboundEvent.objects.get(status="failed").payload) == b'{"object": "page"}'
    assert Interaction.objects.count() == 1  # what the message said stays with its case


def test_events_within_the_retention_stay(events, settings):
    settings.ACCORD_INBOUND_RETENTION_DAYS = 30
    _age(InboundEvent, 29, "received_at")
    assert retention.retention_apply().inbound_events_deleted == 0
    assert InboundEvent.objects.count() == 3


def test_zero_days_keeps_everything(events, settings):
    settings.ACCORD_INBOUND_RETENTION_DAYS = 0
    settings.ACCORD_WEBHOOK_LOG_RETENTION_DAYS = 0
    _age(InboundEvent, 3650, "received_at")
    assert retention.retention_apply() == retention.RetentionRun(0, 0)
    assert InboundEvent.objects.count() == 3


def test_a_redelivery_after_its_event_went_is_still_appended_once(make_connector, post_fixture, settings):
    settings.ACCORD_INBOUND_RETENTION_DAYS = 30
    sms = make_connector("sms")
    first = post_fixture(sms, "sms_twilio.txt")
    _age(InboundEvent, 31, "received_at")
    assert retention.retention_apply().inbound_events_deleted == 1
    snapshot = (
        list(Interaction.objects.values_list("id", "case_id")),
        list(CaseEvent.objects.values_list("id", flat=True)),
        list(Case.objects.values_list("id", "version", "last_activity_at")),
    )

    again = post_fixture(sms, "sms_twilio.txt")

    # The interaction's key finds the message: a duplicate, and nothing but its event is written.
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert again.json()["interaction"] == first.json()["interaction"]
    assert (
        list(Interaction.objects.values_list("id", "case_id")),
        list(CaseEvent.objects.values_list("id", flat=True)),
        list(Case.objects.values_list("id", "version", "last_activity_at")),
    ) == snapshot


def test_a_redelivered_agent_message_whose_case_was_closed_opens_no_empty_case(
    make_connector, post_fixture, agent_a, settings
):
    """A message that is not the customer's, with no open case to join, opens one: unless the
    message is on a case already (its event gone with the retention)."""
    settings.ACCORD_INBOUND_RETENTION_DAYS = 30
    chat = make_connector("chat")
    first = post_fixture(chat, "chat_message_agent.json")
    assert first.status_code == 201
    case = Case.objects.get()
    case = case_services.case_resolve(case=case, actor=agent_a)
    case_services.case_close(case=case, actor=agent_a)
    _age(InboundEvent, 31, "received_at")
    assert retention.retention_apply().inbound_events_deleted == 1

    again = post_fixture(chat, "chat_message_agent.json")

    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert again.json()["case"] == str(case.public_id)
    assert (Case.objects.count(), Interaction.objects.count()) == (1, 1)


def test_each_run_deletes_a_bounded_number_of_batches_per_client(make_connector, post_event, settings):
    settings.ACCORD_INBOUND_RETENTION_DAYS = 30
    sms = make_connector("sms")
    _post_messages(post_event, sms, 3)
    _age(InboundEvent, 31, "received_at")
    runs = [retention.retention_apply(batch=2, max_batches=1).inbound_events_deleted for _ in range(3)]
    assert runs == [2, 1, 0]


def test_a_run_deletes_batch_after_batch_up_to_its_limit(make_connector, post_event, settings):
    settings.ACCORD_INBOUND_RETENTION_DAYS = 30
    sms = make_connector("sms")
    _post_messages(post_event, sms, 5)
    _age(InboundEvent, 31, "received_at")
    assert retention.retention_apply(batch=2, max_batches=2).inbound_events_deleted == 4
    assert retention.retention_apply(batch=2).inbound_events_deleted == 1


def test_every_client_is_reached(make_connector, post_fixture, settings):
    settings.ACCORD_INBOUND_RETENTION_DAYS = 30
    other = ClientFactory()
    post_fixture(make_connector("sms"), "sms_twilio.txt")
    post_fixture(
        make_connector("sms", client=other, default_queue=QueueFactory(client=other)), "sms_twilio.txt"
    )
    _age(InboundEvent, 31, "received_at")
    assert retention.retention_apply().inbound_events_deleted == 2


# --- The webhook delivery log ---------------------------------------------------------------


def test_ended_deliveries_go_with_their_attempts_pending_and_recent_ones_stay(
    http_receiver, open_case, client_a, queue_a, settings, django_capture_on_commit_callbacks
):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    settings.ACCORD_WEBHOOK_LOG_RETENTION_DAYS = 90
    WebhookSubscriptionFactory(client=client_a, url=http_receiver.url, events=["case.created"])
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            open_case(client=client_a, queue=queue_a)
    delivered, failed, cancelled, pending, recent = WebhookDelivery.objects.order_by("pk")
    assert WebhookAttempt.objects.count() == 5
    WebhookDelivery.objects.filter(pk=failed.pk).update(state="failed")
    WebhookDelivery.objects.filter(pk=cancelled.pk).update(state="cancelled")
    WebhookDelivery.objects.filter(pk=pending.pk).update(state="pending")
    _age(WebhookDelivery, 91, "created_at", pk__in=[delivered.pk, failed.pk, cancelled.pk, pending.pk])

    assert retention.retention_apply().webhook_deliveries_deleted == 3

    kept = [pending.pk, recent.pk]
    assert list(WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True)) == kept
    assert sorted(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == kept


def test_retention_runs_hourly():
    [schedule] = [s for s in SCHEDULES if s.func == "connectors.tasks.retention_task"]
    assert schedule.minutes == 60
