"""A WhatsApp webhook batching several messages: each message is ingested exactly once, as if
delivered alone (its own raw event, keyed by its id), and the answer says what became of each."""

from __future__ import annotations

import json

import pytest

from cases.models import Case, Customer, Interaction
from connectors import services
from connectors.models import InboundEvent

pytestmark = pytest.mark.django_db

JSON = "application/json"


def _message(message_id: str, sender: str, text: str) -> dict:
    return {
        "from": sender,
        "id": message_id,
        "timestamp": "1741000000",
        "type": "text",
        "text": {"body": text},
    }


def _webhook(*messages: dict) -> bytes:
    """Meta's shape: each message in a change of its own, in one entry."""
    changes = [
        {
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "1065"},
                "contacts": [{"profile": {"name": f"Sender {m['from'][-4:]}"}, "wa_id": m["from"]}],
                "messages": [m],
            },
        }
        for m in messages
    ]
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "1022", "changes": changes}]}
    ).encode()


ANN = _message("wamid.A1", "14155550123", "Is my order shipped?")
BOB = _message("wamid.B1", "14155550124", "I was charged twice")


@pytest.fixture
def whatsapp(make_connector):
    return make_connector("whatsapp")


def test_a_batch_ingests_each_message_once(whatsapp, post_event):
    response = post_event(whatsapp, _webhook(ANN, BOB), content_type=JSON)
    assert response.status_code == 201
    body = response.json()
    assert body["detail"] == "Ingested 2 messages."
    assert [part["status"] for part in body["messages"]] == ["processed", "processed"]
    assert Customer.objects.count() == 2 and Case.objects.count() == 2
    events = InboundEvent.objects.order_by("pk")
    assert [e.external_id for e in events] == ["wamid.A1", "wamid.B1"]
    assert {bytes(e.payload) for e in events} == {_webhook(ANN, BOB)}
    by_message = dict(Interaction.objects.values_list("external_id", "case__customer__display_name"))
    assert by_message == {"wamid.A1": "Sender 0123", "wamid.B1": "Sender 0124"}
    assert [part["case"] for part in body["messages"]] == [
        str(Case.objects.get(customer__display_name=name).public_id)
        for name in ("Sender 0123", "Sender 0124")
    ]


def test_a_batch_delivered_again_changes_nothing(whatsapp, post_event):
    post_event(whatsapp, _webhook(ANN, BOB), content_type=JSON)
    again = post_event(whatsapp, _webhook(ANN, BOB), content_type=JSON)
    assert again.status_code == 200
    assert again.json()["detail"] == "These 2 messages were already ingested; nothing changed."
    assert (InboundEvent.objects.count(), Interaction.objects.count(), Case.objects.count()) == (2, 2, 2)


def test_a_batch_with_a_message_delivered_before_ingests_the_other(whatsapp, post_event):
    post_event(whatsapp, _webhook(ANN), content_type=JSON)
    response = post_event(whatsapp, _webhook(ANN, BOB), content_type=JSON)
    assert response.status_code == 201
    assert response.json()["detail"] == "Ingested 1 of 2 messages; the others were already ingested."
    assert [p["status"] for p in response.json()["messages"]] == ["duplicate", "processed"]
    assert Interaction.objects.filter(external_id="wamid.A1").count() == 1


def test_a_failing_message_keeps_its_own_event_and_the_batch_is_retried(whatsapp, post_event, client_a):
    bad = _message("wamid.C1", "0", "from no number")
    response = post_event(whatsapp, _webhook(ANN, bad), content_type=JSON)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("Message 2 of 2: ")
    assert [part["status"] for part in body["messages"]] == ["processed", "failed"]
    failed = InboundEvent.objects.get(external_id="wamid.C1")
    assert failed.status == "failed" and body["inbound_event"] == failed.pk
    # The sender delivers the batch again: the first message is a duplicate, the second fails
    # again on its kept event (one more attempt), nothing is doubled.
    again = post_event(whatsapp, _webhook(ANN, bad), content_type=JSON)
    assert [part["status"] for part in again.json()["messages"]] == ["duplicate", "failed"]
    assert (InboundEvent.objects.count(), Interaction.objects.count()) == (2, 1)
    failed.refresh_from_db()
    assert failed.attempts == 2


def test_replaying_a_batchs_failed_message_ingests_that_message_alone(whatsapp, post_event):
    from cases import events as case_events
    from config import events as dispatcher

    def fail(event):
        raise RuntimeError("downstream handler broke")

    dispatcher.subscribe(case_events.InteractionAppended, fail, phase="transaction")
    try:
        response = post_event(whatsapp, _webhook(ANN, BOB), content_type=JSON)
    finally:
        dispatcher.unsubscribe(case_events.InteractionAppended, fail, phase="transaction")
    assert response.status_code == 500
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"failed"}
    result = services.inbound_event_replay(event=InboundEvent.objects.get(external_id="wamid.B1"))
    assert result.outcome == "processed"
    assert list(Interaction.objects.values_list("external_id", flat=True)) == ["wamid.B1"]
    assert InboundEvent.objects.get(external_id="wamid.A1").status == "failed"


def test_a_batch_stored_without_a_key_splits_into_its_messages_on_replay(whatsapp):
    """A batch kept failed before it could be read (older releases refused batches): its replay
    delivers each message anew, with an event of its own, and the kept event has become them."""
    kept = InboundEvent.objects.create(
        client=whatsapp.client,
        connector=whatsapp,
        content_type=JSON,
        payload=_webhook(ANN, BOB),
        status="failed",
        error="messages: One message per payload: this one carries several.",
        attempts=1,
    )
    result = services.inbound_event_replay(event=kept)
    assert (result.outcome, result.event) == ("processed", kept)
    assert [part.outcome for part in result.parts] == ["processed", "processed"]
    kept.refresh_from_db()
    assert (kept.status, kept.attempts) == ("processed", 2)
    assert kept.error == "split into the events of its 2 messages"
    keyed = InboundEvent.objects.exclude(pk=kept.pk).order_by("pk")
    assert [(e.external_id, e.status) for e in keyed] == [
        ("wamid.A1", "processed"),
        ("wamid.B1", "processed"),
    ]
    assert Interaction.objects.count() == 2


def _x_delivery(*tweets: tuple[str, str, str]) -> bytes:
    """An X Account Activity delivery for the account 2244994945 (@AlphaTelecom): tweets given as
    (id, author id, author handle)."""
    import json

    return json.dumps(
        {
            "for_user_id": "2244994945",
            "tweet_create_events": [
                {
                    "created_at": "Mon Mar 03 10:00:00 +0000 2025",
                    "id_str": tweet_id,
                    "text": f"@AlphaTelecom tweet {tweet_id}",
                    "in_reply_to_status_id_str": None,
                    "user": {"id_str": user_id, "name": handle, "screen_name": handle},
                }
                for tweet_id, user_id, handle in tweets
            ],
        }
    ).encode()


def test_an_x_delivery_of_several_tweets_ingests_each_and_skips_the_accounts_own(make_connector, post_event):
    """X puts several events in one delivery, and echoes the account's own tweets back: each
    customer's tweet is ingested (none lost behind a 201), the brand's own is no customer's."""

    social = make_connector("social")
    payload = _x_delivery(
        ("101", "6253282", "AnnAlpha"), ("102", "2244994945", "AlphaTelecom"), ("103", "777", "BobBeta")
    )
    response = post_event(social, payload)
    assert response.status_code == 201, response.content
    assert sorted(Interaction.objects.values_list("external_id", flat=True)) == ["x:101", "x:103"]
    assert sorted(Customer.objects.values_list("display_name", flat=True)) == ["AnnAlpha", "BobBeta"]
    assert post_event(social, payload).status_code == 200  # delivered again: nothing changes
    assert Interaction.objects.count() == 2
    echo_only = post_event(social, _x_delivery(("104", "2244994945", "AlphaTelecom")))
    assert echo_only.status_code == 202
    assert Interaction.objects.count() == 2
