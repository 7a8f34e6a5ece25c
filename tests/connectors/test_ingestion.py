"""Ingestion through the endpoint: identity, thread join, continuation, routing, handoff,
channels' SLA meaning, exactly-once, bad input and replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from cases import services as case_services
from cases.choices import CaseEventKind
from cases.models import Case, CaseEvent, Customer, CustomerIdentity, Interaction
from connectors import services
from connectors.models import InboundEvent
from tests.connectors.conftest import fixture_bytes
from tests.connectors.factories import RoutingRuleFactory
from tests.factories import CustomerFactory, CustomerIdentityFactory, QueueFactory

pytestmark = pytest.mark.django_db


def _sms(sid: str, sender: str = "+14155550123", body: str = "Hello") -> bytes:
    from urllib.parse import urlencode

    return urlencode({"MessageSid": sid, "From": sender, "To": "+18005550100", "Body": body}).encode()


def _email(
    message_id: str,
    *,
    sender="ann.alpha@example.com",
    subject="Help",
    body="Please help",
    date="Mon, 03 Mar 2025 10:00:00 +0000",
    headers="",
) -> bytes:
    return (
        f"From: Ann <{sender}>\r\nTo: support@alpha.example\r\nSubject: {subject}\r\nDate: {date}\r\n"
        f"Message-ID: <{message_id}>\r\n{headers}\r\n{body}\r\n"
    ).encode()


FORM = "application/x-www-form-urlencoded"
RFC822 = "message/rfc822"


# --- identity ------------------------------------------------------------------------------------


def test_new_sender_becomes_a_customer_with_normalized_identities(
    make_connector, post_fixture, client_a, queue_a
):
    chat = make_connector("chat")
    response = post_fixture(chat, "chat_session_started.json")
    assert response.status_code == 201
    customer = Customer.objects.get()
    assert customer.client == client_a
    assert customer.display_name == "Ann Alpha"
    assert sorted(customer.identities.values_list("kind", "value")) == [
        ("chat", "visitor-7"),
        ("email", "ann.alpha@example.com"),
    ]
    case = Case.objects.get()
    assert (case.customer, case.queue, case.origin_channel, case.subject) == (
        customer,
        queue_a,
        "chat",
        "Hi, my internet is down",
    )
    assert case.opened_at == datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def test_known_identity_resolves_to_the_existing_customer(make_connector, post_event, client_a):
    existing = CustomerFactory(client=client_a, display_name="Ann Known")
    CustomerIdentityFactory(customer=existing, kind="phone", value="+14155550123")
    sms = make_connector("sms")
    assert post_event(sms, _sms("SM1", sender="(415) 555-0123"), content_type=FORM).status_code == 201
    assert Customer.objects.count() == 1
    assert Case.objects.get().customer == existing


def test_email_identity_is_matched_case_insensitively(make_connector, post_fixture, client_a):
    existing = CustomerFactory(client=client_a)
    CustomerIdentityFactory(customer=existing, kind="email", value="ann.alpha@example.com")
    email = make_connector("email")
    post_fixture(email, "email_plain.eml")  # From: Ann.Alpha@Example.com
    assert Case.objects.get().customer == existing


def test_a_new_identity_of_a_known_customer_is_learnt(make_connector, post_fixture, client_a):
    existing = CustomerFactory(client=client_a)
    CustomerIdentityFactory(customer=existing, kind="email", value="ann.alpha@example.com")
    chat = make_connector("chat")
    post_fixture(chat, "chat_session_started.json")  # visitor-7 + ann.alpha@example.com
    assert sorted(existing.identities.values_list("kind", "value")) == [
        ("chat", "visitor-7"),
        ("email", "ann.alpha@example.com"),
    ]


def test_two_identities_of_two_customers_are_never_merged_silently(make_connector, post_fixture, client_a):
    visitor = CustomerFactory(client=client_a, display_name="Visitor 7")
    CustomerIdentityFactory(customer=visitor, kind="chat", value="visitor-7")
    addressee = CustomerFactory(client=client_a, display_name="Ann by mail")
    CustomerIdentityFactory(customer=addressee, kind="email", value="ann.alpha@example.com")
    chat = make_connector("chat")
    post_fixture(chat, "chat_session_started.json")  # visitor-7 + ann.alpha@example.com
    assert Case.objects.get().customer == visitor  # the message's first identity decides
    assert list(visitor.identities.values_list("kind", flat=True)) == ["chat"]
    assert list(addressee.identities.values_list("kind", flat=True)) == ["email"]


def test_a_chat_visitors_identities_are_looked_up_in_its_client(
    make_connector, post_fixture, client_a, client_b
):
    elsewhere = CustomerFactory(client=client_b)
    CustomerIdentityFactory(customer=elsewhere, kind="chat", value="visitor-7")
    CustomerIdentityFactory(customer=elsewhere, kind="email", value="ann.alpha@example.com")
    chat = make_connector("chat")
    post_fixture(chat, "chat_session_started.json")
    case = Case.objects.get()
    assert case.customer != elsewhere and case.customer.client == client_a
    assert elsewhere.identities.count() == 2


def test_identities_are_per_client(make_connector, post_event, client_b, queue_b):
    other = CustomerFactory(client=client_b)
    CustomerIdentityFactory(customer=other, kind="phone", value="+14155550123")
    sms = make_connector("sms")
    post_event(sms, _sms("SM1"), content_type=FORM)
    case = Case.objects.get()
    assert case.customer != other
    assert case.customer.client_id == sms.client_id


# --- thread join, continuation, handoff -----------------------------------------------------------


def test_email_reply_joins_the_case_by_references(make_connector, post_fixture):
    email = make_connector("email")
    first = post_fixture(email, "email_plain.eml").json()
    reply = post_fixture(email, "email_reply.eml").json()
    assert reply["case"] == first["case"]
    assert Case.objects.count() == 1
    assert Interaction.objects.count() == 2


def test_email_reply_to_our_own_message_id_joins_the_case(make_connector, post_event, client_a, settings):
    email = make_connector("email", settings={"from_address": "support@alpha.example"})
    first = post_event(email, _email("orig-1@ex.com"), content_type=RFC822).json()
    case = Case.objects.get()
    reply = case_services.interaction_append(
        case=case, channel="email", direction="outbound", author_kind="agent", body="Try again", source="ui"
    ).interaction
    client_a.continuation_window_hours = 0
    client_a.save()
    second = post_event(
        email,
        _email(
            "from-other-address@ex.com",
            sender="colleague@ex.com",
            date="Mon, 03 Mar 2025 11:00:00 +0000",
            headers=f"In-Reply-To: <accord.{reply.public_id}@alpha.example>\r\n",
        ),
        content_type=RFC822,
    ).json()
    assert second["case"] == first["case"]


def test_thread_of_a_resolved_case_opens_a_new_case(make_connector, post_fixture, agent_a):
    email = make_connector("email")
    first = post_fixture(email, "email_plain.eml").json()
    case_services.case_resolve(case=Case.objects.get(), actor=agent_a)
    second = post_fixture(email, "email_reply.eml").json()
    assert second["case"] != first["case"]
    assert Case.objects.count() == 2


def test_continuation_window_joins_then_expires(make_connector, post_event, client_a):
    client_a.continuation_window_hours = 2
    client_a.save()
    email = make_connector("email")
    post_event(email, _email("a@ex.com", date="Mon, 03 Mar 2025 10:00:00 +0000"), content_type=RFC822)
    post_event(email, _email("b@ex.com", date="Mon, 03 Mar 2025 11:59:00 +0000"), content_type=RFC822)
    assert Case.objects.count() == 1
    post_event(email, _email("c@ex.com", date="Mon, 03 Mar 2025 14:00:00 +0000"), content_type=RFC822)
    assert Case.objects.count() == 2
    assert list(Case.objects.order_by("opened_at").values_list("opened_at", flat=True)) == [
        datetime(2025, 3, 3, 10, 0, tzinfo=UTC),
        datetime(2025, 3, 3, 14, 0, tzinfo=UTC),
    ]


def test_channel_switch_within_the_window_is_a_handoff(make_connector, post_fixture, post_event):
    chat = make_connector("chat")
    email = make_connector("email")
    post_fixture(chat, "chat_session_started.json")
    response = post_event(
        email, _email("switch@ex.com", date="Mon, 03 Mar 2025 10:30:00 +0000"), content_type=RFC822
    )
    case = Case.objects.get()
    assert response.json()["case"] == str(case.public_id)
    assert (case.origin_channel, case.current_channel) == ("chat", "email")
    handoff = CaseEvent.objects.get(case=case, kind=CaseEventKind.CHANNEL_HANDOFF)
    assert (handoff.before, handoff.after) == ({"channel": "chat"}, {"channel": "email"})
    assert handoff.actor_label == f"connector:{email.slug}"


# --- routing ---------------------------------------------------------------------------------------


@pytest.fixture
def routed(client_a):
    billing = QueueFactory(client=client_a, name="Billing", slug="billing")
    vip = QueueFactory(client=client_a, name="VIP", slug="vip")
    spanish = QueueFactory(client=client_a, name="Español", slug="es")
    RoutingRuleFactory(client=client_a, order=1, queue=vip, vip="vip", priority="high")
    RoutingRuleFactory(
        client=client_a,
        order=2,
        queue=billing,
        keywords=["bill", "invoice"],
        channels=["sms"],
        priority="urgent",
    )
    RoutingRuleFactory(client=client_a, order=3, queue=spanish, languages=["es"])
    RoutingRuleFactory(client=client_a, order=0, queue=billing, keywords=["bill"], is_active=False)
    return {"billing": billing, "vip": vip, "spanish": spanish}


def test_routing_by_keyword_and_channel(make_connector, post_event, routed):
    sms = make_connector("sms")
    post_event(sms, _sms("SM1", body="My BILL is wrong"), content_type=FORM)
    case = Case.objects.get()
    assert (case.queue, case.priority) == (routed["billing"], "urgent")
    assert CaseEvent.objects.get(case=case, kind="opened").reason.startswith(
        f"opened by connector:{sms.slug}, routed by rule"
    )


def test_keyword_on_another_channel_falls_back_to_default_queue(make_connector, post_event, routed, queue_a):
    email = make_connector("email")
    post_event(email, _email("k@ex.com", subject="bill question"), content_type=RFC822)
    case = Case.objects.get()
    assert (case.queue, case.priority) == (queue_a, "normal")


def test_keyword_matches_whole_words_only(make_connector, post_event, routed, queue_a):
    sms = make_connector("sms")
    post_event(sms, _sms("SM1", body="Billy here"), content_type=FORM)
    assert Case.objects.get().queue == queue_a


def test_routing_by_vip_customer(make_connector, post_event, routed, client_a):
    vip = CustomerFactory(client=client_a, is_vip=True)
    CustomerIdentityFactory(customer=vip, kind="phone", value="+14155550123")
    sms = make_connector("sms")
    post_event(sms, _sms("SM1", body="My bill is wrong"), content_type=FORM)
    assert (Case.objects.get().queue, Case.objects.get().priority) == (routed["vip"], "high")


def test_routing_by_language(make_connector, post_fixture, routed):
    email = make_connector("email")
    post_fixture(email, "email_html_latin1.eml")
    assert Case.objects.get().queue == routed["spanish"]


def test_routing_rules_of_another_client_do_not_apply(make_connector, post_event, client_b, queue_b, queue_a):
    RoutingRuleFactory(client=client_b, queue=queue_b, keywords=["bill"])
    sms = make_connector("sms")
    post_event(sms, _sms("SM1", body="bill"), content_type=FORM)
    assert Case.objects.get().queue == queue_a


# --- channel meaning ---------------------------------------------------------------------------


def test_voice_answer_is_the_first_response(make_connector, post_fixture):
    voice = make_connector("voice")
    response = post_fixture(voice, "voice_ctr_answered.json")
    assert response.status_code == 201
    case = Case.objects.get()
    assert case.opened_at == datetime(2025, 3, 3, 10, 0, 10, tzinfo=UTC)
    assert case.first_responded_at == datetime(2025, 3, 3, 10, 1, 30, tzinfo=UTC)
    assert case.status == "open"
    rows = list(
        case.interactions.order_by("occurred_at").values_list(
            "direction", "author_kind", "external_id", "delivery_status"
        )
    )
    assert rows == [
        ("inbound", "customer", "6b1e8d6c-2c2f-4f2a-9d7e-0c1f5d2b7a11", ""),
        ("outbound", "agent", "6b1e8d6c-2c2f-4f2a-9d7e-0c1f5d2b7a11:answered", ""),
    ]


def test_voice_abandon_is_recorded_for_abandonment(make_connector, post_fixture):
    voice = make_connector("voice")
    post_fixture(voice, "voice_generic_abandoned.json")
    case = Case.objects.get()
    assert case.first_responded_at is None
    interaction = case.interactions.get()
    assert interaction.metadata["abandoned"] is True
    assert interaction.metadata["wait_seconds"] == 200
    assert case.customer.identities.get().value == "+14155550123"


def test_chat_session_bot_does_not_respond_agent_does(make_connector, post_fixture):
    chat = make_connector("chat")
    for name in ("chat_session_started.json", "chat_message_bot.json"):
        post_fixture(chat, name)
    case = Case.objects.get()
    assert case.first_responded_at is None
    post_fixture(chat, "chat_message_agent.json")
    post_fixture(chat, "chat_message_customer.json")
    post_fixture(chat, "chat_session_ended.json")
    case.refresh_from_db()
    assert case.first_responded_at == datetime(2025, 3, 3, 10, 2, tzinfo=UTC)
    assert list(case.interactions.values_list("direction", "author_kind", "body")) == [
        ("inbound", "customer", "Hi, my internet is down"),
        ("outbound", "bot", "I am the assistant. Let me connect you."),
        ("outbound", "agent", "Hi Ann, I'm Sam. Checking your line."),
        ("inbound", "customer", "Thanks"),
        ("note", "system", "Chat session ended (visitor_left)."),
    ]
    # The agent's chat message was delivered by the chat platform: never queued for sending.
    assert set(case.interactions.values_list("delivery_status", flat=True)) == {""}


@pytest.mark.parametrize(
    ("adapter", "fixture", "channel", "identity"),
    [
        ("whatsapp", "whatsapp_text.json", "whatsapp", ("phone", "+14155550123")),
        ("social", "social_x_mention.json", "social", ("social", "x:annalpha")),
        ("social", "social_x_dm.json", "social", ("social", "x:annalpha")),
        ("social", "social_generic.json", "social", ("social", "facebook:ann.alpha")),
        ("portal", "portal_form.txt", "portal", ("email", "ann.alpha@example.com")),
        ("sms", "sms_twilio.txt", "sms", ("phone", "+14155550123")),
        ("email", "email_multipart.eml", "email", ("email", "bob@example.org")),
    ],
)
def test_each_channel_ingests_its_fixture(make_connector, post_fixture, adapter, fixture, channel, identity):
    connector = make_connector(adapter)
    response = post_fixture(connector, fixture)
    assert response.status_code == 201, response.content
    interaction = Interaction.objects.get()
    assert (interaction.channel, interaction.source) == (channel, connector.slug)
    assert list(CustomerIdentity.objects.values_list("kind", "value")) == [identity]


def test_whatsapp_status_receipt_is_ignored(make_connector, post_fixture):
    whatsapp = make_connector("whatsapp")
    response = post_fixture(whatsapp, "whatsapp_statuses.json")
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert InboundEvent.objects.get().status == "ignored"
    assert Case.objects.count() == 0
    # A re-delivered receipt is not stored twice.
    assert post_fixture(whatsapp, "whatsapp_statuses.json").status_code == 202
    assert InboundEvent.objects.count() == 1


def test_an_sms_status_callback_is_ignored(make_connector, post_event):
    sms = make_connector("sms")
    receipt = b"MessageSid=SM9&MessageStatus=delivered&To=%2B14155550123&From=%2B18005550100"
    response = post_event(sms, receipt, content_type=FORM)
    assert (response.status_code, response.json()["status"]) == (202, "ignored")
    assert InboundEvent.objects.get().status == "ignored"
    assert (Case.objects.count(), Customer.objects.count()) == (0, 0)


def test_html_in_any_channel_is_stored_as_text_and_sanitized(make_connector, post_fixture):
    email = make_connector("email")
    post_fixture(email, "email_html_latin1.eml")
    interaction = Interaction.objects.get()
    assert "<script" not in interaction.body and "alert" not in interaction.body
    assert "<script" not in interaction.metadata["html"]


# --- bad input, failures, replay -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("adapter", "body", "content_type", "errors"),
    [
        (
            "chat",
            b'{"event": "message"',
            "application/json",
            {"body": ["Malformed JSON: Expecting ',' delimiter (line 1, column 20)."]},
        ),
        (
            "chat",
            b'{"event": "typing", "session_id": "s"}',
            "application/json",
            {
                "event": [
                    "Unknown chat event type 'typing'; "
                    "expected one of session.started, message, session.ended."
                ]
            },
        ),
        (
            "voice",
            b'{"caller": "+14155550123"}',
            "application/json",
            {"call_id": ["Missing required field 'call_id'."]},
        ),
        (
            "email",
            fixture_bytes("email_no_from.eml"),
            RFC822,
            {"from": ["The message has no usable From address."]},
        ),
        (
            "whatsapp",
            b'{"object": "page"}',
            "application/json",
            {"object": ["Not a WhatsApp Cloud API webhook (object must be whatsapp_business_account)."]},
        ),
    ],
)
def test_bad_payload_is_400_kept_failed_and_nothing_else_written(
    make_connector, post_event, adapter, body, content_type, errors
):
    connector = make_connector(adapter)
    response = post_event(connector, body, content_type=content_type)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    data = response.json()
    assert data["type"] == "/api/v1/errors/bad_payload"
    assert data["errors"] == errors
    event = InboundEvent.objects.get()
    assert (event.status, bytes(event.payload), data["inbound_event"]) == ("failed", body, event.pk)
    assert event.error == f"{next(iter(errors))}: {next(iter(errors.values()))[0]}"
    assert (Case.objects.count(), Interaction.objects.count(), Customer.objects.count()) == (0, 0, 0)


def test_processing_failure_is_422_kept_and_replayable(make_connector, post_event, client_a):
    client_a.default_region = "ZZ"
    client_a.save()
    sms = make_connector("sms")
    response = post_event(sms, _sms("SM1", sender="4155550123"), content_type=FORM)
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "identity.phone": ["'4155550123' is not a phone number (Missing or invalid default region.)."]
    }
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert (Case.objects.count(), Interaction.objects.count(), Customer.objects.count()) == (0, 0, 0)
    # The cause is fixed (the client's region), then the event is replayed from admin.
    client_a.default_region = "US"
    client_a.save()
    result = services.inbound_event_replay(event=event)
    assert result.outcome == "processed"
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == ("processed", 2, "")
    assert result.case.customer.identities.get().value == "+14155550123"
    # A re-delivery now is a duplicate.
    assert post_event(sms, _sms("SM1", sender="4155550123"), content_type=FORM).status_code == 200


def test_redelivery_of_a_failed_message_processes_it(make_connector, post_event, client_a):
    client_a.default_region = "ZZ"
    client_a.save()
    sms = make_connector("sms")
    assert post_event(sms, _sms("SM1", sender="4155550123"), content_type=FORM).status_code == 422
    client_a.default_region = "US"
    client_a.save()
    assert post_event(sms, _sms("SM1", sender="4155550123"), content_type=FORM).status_code == 201
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts) == ("processed", 2)


def test_replay_of_a_processed_event_is_refused(make_connector, post_event):
    sms = make_connector("sms")
    post_event(sms, _sms("SM1"), content_type=FORM)
    from config.errors import ApplicationError

    with pytest.raises(ApplicationError):
        services.inbound_event_replay(event=InboundEvent.objects.get())


def test_unexpected_error_keeps_the_event_and_answers_500(make_connector, post_event, monkeypatch):
    sms = make_connector("sms")

    def boom(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "_case_opening", boom)
    response = post_event(sms, _sms("SM1"), content_type=FORM)
    assert response.status_code == 500
    event = InboundEvent.objects.get()
    assert (event.status, event.error) == ("failed", "RuntimeError: database hiccup")
    assert (Case.objects.count(), Customer.objects.count()) == (0, 0)
    monkeypatch.undo()
    assert services.inbound_event_replay(event=event).outcome == "processed"
    assert Case.objects.count() == 1


def test_a_closed_case_is_never_joined(make_connector, post_event, agent_a):
    sms = make_connector("sms")
    post_event(sms, _sms("SM1"), content_type=FORM)
    case = Case.objects.get()
    case_services.case_resolve(case=case, actor=agent_a)
    case_services.case_close(case=case, actor=agent_a)
    post_event(sms, _sms("SM2"), content_type=FORM)
    assert Case.objects.count() == 2


def test_ingestion_publishes_case_events(
    make_connector, post_event, captured_events, django_capture_on_commit_callbacks
):
    from cases import events as case_events

    opened = captured_events(case_events.CaseOpened)
    appended = captured_events(case_events.InteractionAppended)
    sms = make_connector("sms")
    with django_capture_on_commit_callbacks(execute=True):
        post_event(sms, _sms("SM1", body="hi there"), content_type=FORM)
    case = Case.objects.get()
    assert [(e.case_id, e.channel) for e in opened] == [(case.pk, "sms")]
    assert [(e.case_id, e.direction, e.body) for e in appended] == [(case.pk, "inbound", "hi there")]


def test_sms_occurred_at_is_receipt_time(make_connector, post_event):
    sms = make_connector("sms")
    before = timezone.now()
    post_event(sms, _sms("SM1"), content_type=FORM)
    opened = Case.objects.get().opened_at
    assert before <= opened <= timezone.now()
    assert json.loads(json.dumps({"ok": 1})) == {"ok": 1}
    assert opened - before < timedelta(seconds=5)


def test_a_message_taken_meanwhile_opens_no_empty_case(make_connector, post_event, client_a):
    """The message's (source, external id) is already on a case (taken by a delivery that won a
    race): opening a case with it keeps nothing, and the case that took it is the answer, as a
    duplicate."""
    from tests.factories import CaseFactory, InteractionFactory

    sms = make_connector("sms")
    winner = CaseFactory(client=client_a)
    InteractionFactory(case=winner, source=sms.slug, external_id="SM-RACE", channel="sms")
    response = post_event(sms, _sms("SM-RACE", sender="+14155550999"), content_type=FORM)
    assert (response.status_code, response.json()["status"]) == (200, "duplicate"), response.content
    assert response.json()["case"] == str(winner.public_id)
    assert list(Case.objects.all()) == [winner]
    assert Interaction.objects.count() == 1
    assert InboundEvent.objects.get().status == "processed"


def test_two_chat_platforms_numbering_sessions_alike_never_share_a_case(make_connector, post_event, client_a):
    """A session id is its platform's own: Bob's session S-1 on the second widget does not join
    Ann's session S-1 of the first one."""
    import json

    first, second = make_connector("chat", slug="widget-one"), make_connector("chat", slug="widget-two")

    def started(visitor: str, name: str) -> bytes:
        return json.dumps(
            {
                "event": "session.started",
                "event_id": f"start-{visitor}",
                "session_id": "S-1",
                "occurred_at": "2025-03-03T10:00:00Z",
                "visitor": {"id": visitor, "name": name},
                "initial_message": f"Hello from {name}",
            }
        ).encode()

    assert post_event(first, started("ann", "Ann")).status_code == 201
    assert post_event(second, started("bob", "Bob")).status_code == 201
    cases = {case.customer.display_name: case for case in Case.objects.select_related("customer")}
    assert set(cases) == {"Ann", "Bob"}
    assert list(Interaction.objects.filter(case=cases["Ann"]).values_list("body", flat=True)) == [
        "Hello from Ann"
    ]
