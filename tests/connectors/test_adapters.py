"""Each adapter with its real-format fixture payloads: native bytes -> one normalized message."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors import adapters
from connectors.adapters.base import FollowUp, Identity, html_to_text, sanitize_html
from tests.connectors.conftest import content_type_of, fixture_bytes

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def parse(adapter: str, name: str):
    return adapters.parse(adapter, fixture_bytes(name), content_type_of(name), now=NOW)


def test_email_plain():
    message = parse("email", "email_plain.eml")
    assert message.channel == "email"
    assert message.external_id == "CAF=router-1@mail.example.com"
    assert message.thread_key == "CAF=router-1@mail.example.com"
    assert message.thread_refs == ("CAF=router-1@mail.example.com",)
    assert message.identities == (Identity("email", "Ann.Alpha@Example.com"),)
    assert message.display_name == "Ann Alpha"
    assert message.subject == "Router keeps restarting"
    assert message.body == "Hello,\n\nmy router restarts every ten minutes since Friday.\n\nAnn"
    assert message.occurred_at == datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
    assert message.metadata["to"] == ["support@alpha-telecom.example"]
    assert message.metadata["attachments"] == []
    assert "html" not in message.metadata


def test_email_reply_threads_by_in_reply_to_and_references():
    message = parse("email", "email_reply.eml")
    assert message.external_id == "CAF=router-2@mail.example.com"
    assert message.thread_refs == (
        "CAF=router-2@mail.example.com",
        "accord.reply-1@alpha-telecom.example",
        "CAF=router-1@mail.example.com",
    )
    assert message.metadata["in_reply_to"] == "accord.reply-1@alpha-telecom.example"
    assert message.metadata["references"] == [
        "CAF=router-1@mail.example.com",
        "accord.reply-1@alpha-telecom.example",
    ]


def test_email_html_only_latin1_with_encoded_words_is_converted_and_sanitized():
    message = parse("email", "email_html_latin1.eml")
    assert message.subject == "Factura errónea de marzo"
    assert message.display_name == "José García"
    assert message.identities == (Identity("email", "jose@example.es"),)
    assert message.body == "La factura de marzo está mal.\nCobran dos veces el mismo servicio & el IVA.\nver"
    assert message.language == "es"
    assert message.occurred_at == datetime(2025, 3, 4, 7, 15, tzinfo=UTC)
    html = message.metadata["html"]
    assert "<script" not in html and "alert" not in html
    assert "onclick" not in html and "javascript:" not in html
    assert "<p>La factura de marzo está mal.</p>" in html
    assert message.metadata["charset"] == "iso-8859-1"


def test_email_multipart_prefers_plain_and_lists_attachments():
    message = parse("email", "email_multipart.eml")
    assert message.body == "Please see the signed contract — page 2 has the new plan."
    assert message.metadata["attachments"] == [
        {"filename": "contract.pdf", "content_type": "application/pdf", "size": 48, "content_id": ""}
    ]
    assert "<script" not in message.metadata["html"]
    assert message.occurred_at == datetime(2025, 3, 5, 21, 45, tzinfo=UTC)


def test_email_without_message_id_uses_the_digest():
    raw = b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
    message = adapters.parse("email", raw, "message/rfc822", now=NOW)
    assert message.external_id.startswith("sha256:") and len(message.external_id) == 71
    assert message.occurred_at == NOW


@pytest.mark.parametrize(
    ("raw", "field", "text"),
    [
        (fixture_bytes("email_no_from.eml"), "from", "The message has no usable From address."),
        (b"\x00\x01\x02 not an e-mail", "body", "Malformed MIME message: no headers found."),
        (b"   ", "body", "The body is empty."),
    ],
)
def test_email_bad_input_names_the_problem(raw, field, text):
    with pytest.raises(adapters.AdapterError) as caught:
        adapters.parse("email", raw, "message/rfc822", now=NOW)
    assert (caught.value.field, caught.value.message) == (field, text)


def test_email_reply_body_is_what_the_customer_wrote_without_the_quoted_history():
    message = parse("email", "email_reply_gmail_quoted.eml")
    assert (
        message.body == "The reset did not help, it is still restarting. This is really frustrating.\n\nAnn"
    )
    whole = message.metadata["quoted_text"]
    assert whole.startswith(message.body)
    assert "> Please try a factory reset." in whole and "my router restarts every ten minutes" in whole


def test_email_outlook_html_reply_in_spanish_loses_its_quoted_history():
    message = parse("email", "email_reply_outlook.eml")
    assert message.body == "Gracias, ya veo el abono en mi cuenta."
    assert "Hemos anulado la factura duplicada" in message.metadata["quoted_text"]
    assert "Hemos anulado" in message.metadata["html"]  # the HTML is kept whole, sanitized


def test_email_forward_and_first_message_are_kept_whole():
    forward = parse("email", "email_forward.eml")
    assert forward.body.endswith("Your invoice for March: 2 x 29.90 EUR.")
    assert "quoted_text" not in forward.metadata
    # Not a reply (no In-Reply-To, no References): a quote header in it is the customer's text.
    raw = fixture_bytes("email_plain.eml").replace(
        b"\r\nAnn\r\n",
        b"\r\nAnn\r\n\r\nOn Mon, Mar 3, 2025 at 9:00 AM <billing@telco.example> wrote:\r\n"
        b"> You owe 300 EUR.\r\n",
    )
    first = adapters.parse("email", raw, "message/rfc822", now=NOW)
    assert first.body.endswith("> You owe 300 EUR.")
    assert "quoted_text" not in first.metadata


def test_html_to_text_reads_source_line_breaks_as_spaces_as_a_browser_does():
    assert html_to_text("<b>From:</b> a<br>\n<b>Sent:</b> b<br>\r\n<p>one\ntwo</p>") == (
        "From: a\nSent: b\none two"
    )
    assert html_to_text("<pre>line 1\nline 2</pre><p>after</p>") == "line 1\nline 2\nafter"


def test_chat_session_lifecycle():
    started = parse("chat", "chat_session_started.json")
    assert (started.direction, started.author_kind, started.external_id) == ("inbound", "customer", "evt-100")
    assert started.thread_key == "chat:S-42"
    assert started.identities == (Identity("chat", "visitor-7"), Identity("email", "ann.alpha@example.com"))
    assert started.body == "Hi, my internet is down"
    assert started.occurred_at == datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
    bot = parse("chat", "chat_message_bot.json")
    assert (bot.direction, bot.author_kind, bot.external_id) == ("outbound", "bot", "msg-101")
    agent = parse("chat", "chat_message_agent.json")
    assert (agent.direction, agent.author_kind, agent.actor_label) == ("outbound", "agent", "Sam")
    customer = parse("chat", "chat_message_customer.json")
    assert (customer.direction, customer.author_kind, customer.body) == ("inbound", "customer", "Thanks")
    ended = parse("chat", "chat_session_ended.json")
    assert (ended.direction, ended.author_kind, ended.body) == (
        "note",
        "system",
        "Chat session ended (visitor_left).",
    )


@pytest.mark.parametrize(
    ("payload", "field", "text"),
    [
        (
            b'{"event": "typing", "session_id": "s"}',
            "event",
            "Unknown chat event type 'typing'; expected one of session.started, message, session.ended.",
        ),
        (
            b'{"event": "message", "session_id": "s", "visitor": {"id": "v"}, '
            b'"occurred_at": "2025-03-03T10:00:00Z"}',
            "message",
            "Missing required object 'message'.",
        ),
        (b'{"event": "message"', "body", "Malformed JSON: Expecting ',' delimiter (line 1, column 20)."),
        (
            b'{"event": "session.started", "session_id": "s", "visitor": {"id": "v"}, '
            b'"occurred_at": "2025-03-03T10:00:00"}',
            "occurred_at",
            "'occurred_at' needs a UTC offset: '2025-03-03T10:00:00'.",
        ),
        (b"[1, 2]", "body", "The body is a JSON object."),
    ],
)
def test_chat_bad_input(payload, field, text):
    with pytest.raises(adapters.AdapterError) as caught:
        adapters.parse("chat", payload, "application/json", now=NOW)
    assert (caught.value.field, caught.value.message) == (field, text)


def test_voice_contact_trace_record_answered():
    message = parse("voice", "voice_ctr_answered.json")
    assert message.external_id == "6b1e8d6c-2c2f-4f2a-9d7e-0c1f5d2b7a11"
    assert message.occurred_at == datetime(2025, 3, 3, 10, 0, 10, tzinfo=UTC)
    assert message.identities == (Identity("phone", "+14155550123"),)
    assert message.thread_key == "call:6b1e8d6c-2c2f-4f2a-9d7e-0c1f5d2b7a11"
    assert message.body == "Call from +14155550123, answered by sam.agent after 80 s, talked 245 s."
    assert message.metadata["answered"] is True and message.metadata["abandoned"] is False
    assert message.metadata["wait_seconds"] == 80 and message.metadata["talk_seconds"] == 245
    assert message.metadata["recording_url"] == "connect-recordings/2025/03/03/6b1e8d6c.wav"
    assert message.follow_ups == (
        FollowUp(
            external_id="6b1e8d6c-2c2f-4f2a-9d7e-0c1f5d2b7a11:answered",
            occurred_at=datetime(2025, 3, 3, 10, 1, 30, tzinfo=UTC),
            direction="outbound",
            author_kind="agent",
            body="Call answered by sam.agent.",
            actor_label="sam.agent",
            metadata={
                "call_id": "6b1e8d6c-2c2f-4f2a-9d7e-0c1f5d2b7a11",
                "answered": True,
                "talk_seconds": 245,
                "recording_url": "connect-recordings/2025/03/03/6b1e8d6c.wav",
            },
        ),
    )


def test_voice_generic_abandoned():
    message = parse("voice", "voice_generic_abandoned.json")
    assert message.external_id == "call-900"
    assert message.identities == (Identity("phone", "(415) 555-0123"),)
    assert message.metadata["abandoned"] is True
    assert message.metadata["abandoned_at"] == "2025-03-03T11:03:20+00:00"
    assert message.metadata["wait_seconds"] == 200
    assert message.follow_ups == ()
    assert message.body == "Call from (415) 555-0123, abandoned after 200 s in queue."


def test_voice_answered_before_queued_is_refused():
    raw = (
        b'{"call_id": "c", "caller": "+14155550123", "queue_entered_at": "2025-03-03T11:00:00Z", '
        b'"answered_at": "2025-03-03T10:00:00Z"}'
    )
    with pytest.raises(adapters.AdapterError) as caught:
        adapters.parse("voice", raw, "application/json", now=NOW)
    assert caught.value.message == "The call was answered before it entered the queue."


def test_sms_twilio_form():
    message = parse("sms", "sms_twilio.txt")
    assert message.external_id == "SM5f2a0c1e9d8b7a6f5e4d3c2b1a0f9e8d"
    assert message.identities == (Identity("phone", "+14155550123"),)
    assert message.body == "My bill is wrong, please call me"
    assert message.metadata["to"] == "+18005550100"
    assert message.occurred_at == NOW


@pytest.mark.parametrize("status", ["sent", "delivered", "undelivered", "failed"])
def test_sms_status_callbacks_carry_no_message(status):
    receipt = (
        f"MessageSid=SM9&MessageStatus={status}&SmsStatus={status}&To=%2B14155550123&From=%2B18005550100"
    )
    assert adapters.parse("sms", receipt.encode(), "application/x-www-form-urlencoded", now=NOW) is None


def test_an_sms_received_with_its_status_is_a_message():
    received = b"MessageSid=SM8&SmsStatus=received&MessageStatus=received&From=%2B14155550123&Body=hi"
    message = adapters.parse("sms", received, "application/x-www-form-urlencoded", now=NOW)
    assert message.body == "hi"


def test_sms_without_sid_names_the_field():
    with pytest.raises(adapters.AdapterError) as caught:
        adapters.parse("sms", b"From=%2B14155550123&Body=hi", "application/x-www-form-urlencoded", now=NOW)
    assert caught.value.field == "MessageSid"


def test_whatsapp_cloud_api_text():
    message = parse("whatsapp", "whatsapp_text.json")
    assert message.external_id == "wamid.HBgLMTQxNTU1NTAxMjMVAgASGBQzQTdCRjQ2QzRGRDY0MDAwMDAwMAA="
    assert message.identities == (Identity("phone", "+14155550123"),)
    assert message.display_name == "Ann Alpha"
    assert message.body == "Is my order shipped?"
    assert message.occurred_at == datetime.fromtimestamp(1741000000, tz=UTC)


def test_whatsapp_statuses_only_carry_no_message():
    assert parse("whatsapp", "whatsapp_statuses.json") is None


def _whatsapp(message: dict) -> bytes:
    data = json.loads(fixture_bytes("whatsapp_text.json"))
    original = data["entry"][0]["changes"][0]["value"]["messages"][0]
    data["entry"][0]["changes"][0]["value"]["messages"] = [
        {"from": original["from"], "id": "wamid.X1", "timestamp": original["timestamp"], **message}
    ]
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("message", "body"),
    [
        ({"type": "image", "image": {"id": "1", "caption": "the invoice"}}, "[image] the invoice"),
        ({"type": "document", "document": {"id": "2", "filename": "bill.pdf"}}, "[document] bill.pdf"),
        ({"type": "button", "button": {"text": "Talk to an agent"}}, "Talk to an agent"),
        (
            {
                "type": "interactive",
                "interactive": {"type": "list_reply", "list_reply": {"title": "Billing"}},
            },
            "Billing",
        ),
        ({"type": "location", "location": {"latitude": 51.5, "longitude": -0.1}}, "[location] 51.5,-0.1"),
        (
            {"type": "location", "location": {"name": "Shop", "latitude": 51.5, "longitude": -0.1}},
            "[location] Shop 51.5,-0.1",
        ),
        ({"type": "reaction", "reaction": {"message_id": "wamid.Y", "emoji": "👍"}}, "[reaction] 👍"),
        (
            {"type": "contacts", "contacts": [{"name": {"formatted_name": "Bob Beta"}}]},
            "[contacts] Bob Beta",
        ),
        ({"type": "system", "system": {"body": "Ann changed her number"}}, "[system] Ann changed her number"),
        ({"type": "unsupported", "errors": [{"code": 131051}]}, "[unsupported message]"),
        ({"type": "order_v9"}, "[order_v9 message]"),
    ],
    ids=lambda value: value.get("type") if isinstance(value, dict) else None,
)
def test_every_whatsapp_message_type_is_ingested(message, body):
    """A customer's message is never refused for its type: one without text is named."""
    parsed = adapters.parse("whatsapp", _whatsapp(message), "application/json", now=NOW)
    assert parsed.body == body
    assert parsed.metadata["type"] == message["type"]
    assert parsed.identities == (Identity("phone", "+14155550123"),)
    # WhatsApp's own notices are not the customer writing (no SLA clock moves, no case opens).
    assert parsed.author_kind == ("system" if message["type"] == "system" else "customer")


def test_a_whatsapp_system_notice_names_its_kind():
    notice = {
        "type": "system",
        "system": {"body": "Ann changed her number", "type": "customer_changed_number"},
    }
    parsed = adapters.parse("whatsapp", _whatsapp(notice), "application/json", now=NOW)
    assert parsed.automatic == "WhatsApp system notice (customer_changed_number)"


def test_social_x_public_mention():
    message = parse("social", "social_x_mention.json")
    assert message.external_id == "x:1896500000000000001"
    assert message.identities == (Identity("social", "x:AnnAlpha"),)
    assert message.metadata["public"] is True
    assert message.metadata["permalink"] == "https://x.com/AnnAlpha/status/1896500000000000001"
    assert message.occurred_at == datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def test_social_x_direct_message_is_private_and_threads_by_sender():
    message = parse("social", "social_x_dm.json")
    assert message.metadata["public"] is False
    assert message.thread_key == "x:dm:annalpha"
    assert message.body == "Here is my account number: 5521"
    assert message.occurred_at == datetime.fromtimestamp(1741000000, tz=UTC)


def test_social_generic():
    message = parse("social", "social_generic.json")
    assert message.identities == (Identity("social", "facebook:ann.alpha"),)
    assert message.metadata["permalink"] == "https://www.facebook.com/alphatelecom/posts/7"
    assert message.external_id == "facebook:fb-post-7"


def test_portal_form():
    message = parse("portal", "portal_form.txt")
    assert message.external_id == "web-2025-0001"
    assert message.identities == (Identity("email", "ann.alpha@example.com"),)
    assert message.subject == "Cancel my plan"
    assert message.body == "I would like to cancel my plan at the end of the month."


def test_html_helpers():
    assert html_to_text("<p>a&amp;b</p><script>x()</script><p>c<br>d</p>") == "a&b\nc\nd"
    assert (
        sanitize_html('<a href="javascript:x()" onclick="y()">z</a>')
        == '<a rel="noopener noreferrer nofollow">z</a>'
    )
