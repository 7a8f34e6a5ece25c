"""Mail a program sent: bounces and read receipts move the e-mail reply they name; out-of-office
and vacation replies join their case as the system's, without counting as the customer writing,
and open none. Real-format fixtures (Postfix and Gmail bounces, a Thunderbird read receipt, an
Exchange out-of-office reply, a vacation reply)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import services as case_services
from cases.models import Case, Customer, Interaction
from connectors import adapters, services
from connectors.models import InboundEvent
from governance.models.escalation import SentimentScore
from slas.models import SLAClock
from tests.connectors.conftest import content_type_of, fixture_bytes
from tests.factories import CaseFactory, InteractionFactory

pytestmark = pytest.mark.django_db

EML = "message/rfc822"
PLACEHOLDER = b"accord.00000000-0000-0000-0000-000000000000@alpha.example"
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def case_page(client, user, case: Case) -> str:
    """The case's page in the agent workspace, as `user` sees it."""
    client.force_login(user)
    return client.get(reverse("workspace:case", args=[case.public_id])).content.decode()


def naming(name: str, reply: Interaction) -> bytes:
    """The fixture, about `reply`: its Message-ID is the one Accord gave the reply."""
    return fixture_bytes(name).replace(PLACEHOLDER, f"accord.{reply.public_id}@alpha.example".encode())


@pytest.fixture
def email_reply(make_connector, post_fixture, agent_a, sla_policy_a, django_capture_on_commit_callbacks):
    """Ann's e-mail opened a case under an SLA policy; an agent's reply was e-mailed to her."""
    email = make_connector("email", settings={"from_address": "support@alpha.example"})
    assert post_fixture(email, "email_plain.eml").status_code == 201
    case = Case.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=case, body="Please try a factory reset.", actor=agent_a)
    reply.refresh_from_db()
    assert reply.delivery_status == "sent"
    return email, case, reply


# --- The adapter -----------------------------------------------------------------------------


def test_a_report_carries_no_message_and_names_the_reply():
    for name in ("email_bounce_postfix.eml", "email_bounce_gmail.eml", "email_read_receipt.eml"):
        assert adapters.parse_all("email", fixture_bytes(name), EML, now=NOW) == []
    [postfix] = adapters.receipts("email", fixture_bytes("email_bounce_postfix.eml"), EML)
    assert postfix == adapters.Receipt(
        PLACEHOLDER.decode(),
        "failed",
        "bounced by Ann.Alpha@Example.com: 5.1.1 (550 5.1.1 <Ann.Alpha@Example.com>: Recipient address "
        "rejected: User unknown in virtual mailbox table)",
    )
    [gmail] = adapters.receipts("email", fixture_bytes("email_bounce_gmail.eml"), EML)
    assert (gmail.message_id, gmail.status) == (PLACEHOLDER.decode(), "failed")
    assert gmail.detail.startswith("bounced by ann.alpha@example.com: 5.2.1 (550-5.2.1 The email account")
    assert adapters.receipts("email", fixture_bytes("email_read_receipt.eml"), EML) == [
        adapters.Receipt(PLACEHOLDER.decode(), "read")
    ]
    # Still trying: nothing final to say. A person's mail is no report at all.
    assert adapters.receipts("email", fixture_bytes("email_delayed_dsn.eml"), EML) == []
    assert adapters.receipts("email", fixture_bytes("email_plain.eml"), EML) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("email_out_of_office.eml", "Auto-Submitted: auto-replied"),
        ("email_vacation.eml", "Precedence: bulk"),
    ],
)
def test_an_automatic_reply_is_the_systems_with_what_gave_it_away(name, reason):
    message = adapters.parse("email", fixture_bytes(name), content_type_of(name), now=NOW)
    assert (message.direction, message.author_kind, message.automatic) == ("inbound", "system", reason)
    assert message.metadata["automatic"] == reason


@pytest.mark.parametrize(
    ("header", "automatic"),
    [
        (b"Auto-Submitted: no\r\n", ""),
        (
            b"Auto-Submitted: auto-generated; owner-email=ops@example.com\r\n",
            "Auto-Submitted: auto-generated; ",
        ),
        (b"X-Autoreply: yes\r\n", "X-Autoreply: yes"),
        (b"Precedence: list\r\n", ""),  # a mailing list: people write there
        (b"Return-Path: <>\r\n", "Return-Path: <> (a mail-system notice)"),
    ],
)
def test_which_headers_make_a_message_automatic(header, automatic):
    raw = header + fixture_bytes("email_plain.eml")
    message = adapters.parse("email", raw, EML, now=NOW)
    assert message.automatic.startswith(automatic) and bool(message.automatic) == bool(automatic)
    assert message.author_kind == ("system" if automatic else "customer")


def test_mail_from_the_mail_system_without_a_report_is_automatic():
    raw = fixture_bytes("email_plain.eml").replace(
        b'From: "Ann Alpha" <Ann.Alpha@Example.com>', b"From: Mail System <MAILER-DAEMON@mx.example.com>"
    )
    message = adapters.parse("email", raw, EML, now=NOW)
    assert message.automatic == "sent by MAILER-DAEMON@mx.example.com"


# --- Bounces and read receipts through the endpoint ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("email_bounce_postfix.eml", "bounced by Ann.Alpha@Example.com: 5.1.1 (550 5.1.1"),
        ("email_bounce_gmail.eml", "bounced by ann.alpha@example.com: 5.2.1 (550-5.2.1"),
    ],
)
def test_a_bounce_fails_the_reply_and_opens_nothing(email_reply, post_event, name, detail):
    email, case, reply = email_reply
    customers, cases = Customer.objects.count(), Case.objects.count()
    response = post_event(email, naming(name, reply), content_type=EML)
    assert response.status_code == 202, response.content
    assert response.json()["detail"].endswith("Delivery state of 1 reply(ies) updated.")
    reply.refresh_from_db()
    assert reply.delivery_status == "failed"
    assert reply.metadata["delivery_detail"].startswith(detail)
    # No "MAILER-DAEMON" customer, no case, no interaction: the raw report is kept, ignored.
    assert (Customer.objects.count(), Case.objects.count()) == (customers, cases)
    assert Interaction.objects.filter(case=case).count() == 2
    assert InboundEvent.objects.filter(status="ignored").count() == 1


def test_a_bounce_shows_on_the_reply_in_the_agent_ui(email_reply, post_event, client, agent_a):
    email, case, reply = email_reply
    post_event(email, naming("email_bounce_postfix.eml", reply), content_type=EML)
    page = case_page(client, agent_a, case)
    assert "Not delivered: bounced by Ann.Alpha@Example.com: 5.1.1" in page


def test_a_delay_warning_changes_nothing_and_a_read_receipt_reads(email_reply, post_event):
    email, _, reply = email_reply
    assert post_event(email, naming("email_delayed_dsn.eml", reply), content_type=EML).status_code == 202
    reply.refresh_from_db()
    assert reply.delivery_status == "sent"
    assert post_event(email, naming("email_read_receipt.eml", reply), content_type=EML).status_code == 202
    reply.refresh_from_db()
    assert reply.delivery_status == "read"
    # A bounce arriving after the read receipt (another recipient's server) moves nothing back.
    post_event(email, naming("email_bounce_postfix.eml", reply), content_type=EML)
    reply.refresh_from_db()
    assert reply.delivery_status == "read"


def test_a_bounce_never_touches_another_clients_reply(email_reply, post_event, client_b):
    email, _, _ = email_reply
    other_case = CaseFactory(client=client_b)
    other = InteractionFactory(
        case=other_case, direction="outbound", author_kind="agent", source="ui", delivery_status="sent"
    )
    response = post_event(email, naming("email_bounce_postfix.eml", other), content_type=EML)
    assert response.status_code == 202
    assert "updated" not in response.json()["detail"]
    other.refresh_from_db()
    assert other.delivery_status == "sent"


# --- Out-of-office and vacation replies -------------------------------------------------------


def _clocks(case: Case) -> list[tuple]:
    return list(
        SLAClock.objects.filter(case=case)
        .order_by("metric", "cycle")
        .values_list("metric", "cycle", "started_at", "stopped_at", "due_at", "paused_since")
    )


def test_an_out_of_office_reply_joins_its_case_and_moves_no_clock(
    email_reply, post_event, agent_a, django_capture_on_commit_callbacks
):
    email, case, reply = email_reply
    case = case_services.case_status_set(case=case, status="pending", actor=agent_a)
    clocks = _clocks(case)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(email, naming("email_out_of_office.eml", reply), content_type=EML)
    assert response.status_code == 201, response.content
    ooo = Interaction.objects.get(external_id="oof.7c1e2d3f@mail.example.com")
    assert ooo.case == case
    assert (ooo.direction, ooo.author_kind) == ("inbound", "system")
    assert ooo.metadata["automatic"] == "Auto-Submitted: auto-replied"
    case.refresh_from_db()
    assert case.status == "pending"  # Ann writing would have reopened it...
    assert _clocks(case) == clocks  # ...and started a next-response clock
    assert not SentimentScore.objects.filter(interaction=ooo).exists()
    # Ann's own answer, for contrast (dated a moment after the reply: a Date has whole seconds):
    # it reopens the case, starts the clock and is scored.
    raw = fixture_bytes("email_reply.eml").replace(
        b"Date: Mon, 03 Mar 2025 12:30:00 +0000",
        f"Date: {format_datetime(timezone.now() + timedelta(seconds=2))}".encode(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(email, raw, content_type=EML).status_code == 201
    case.refresh_from_db()
    assert case.status == "open"
    assert len(_clocks(case)) == len(clocks) + 1
    assert SentimentScore.objects.filter(interaction__external_id="CAF=router-2@mail.example.com").exists()


def test_an_out_of_office_reply_shows_as_automatic_in_the_agent_ui(email_reply, post_event, client, agent_a):
    email, case, reply = email_reply
    post_event(email, naming("email_out_of_office.eml", reply), content_type=EML)
    page = case_page(client, agent_a, case)
    assert "Automatic e-mail reply" in page
    assert "Sent by a program: Auto-Submitted: auto-replied" in page


def test_an_automatic_reply_with_no_case_opens_nothing(make_connector, post_fixture):
    email = make_connector("email")
    response = post_fixture(email, "email_vacation.eml")
    assert response.status_code == 202, response.content
    assert "(Precedence: bulk) with no case to join" in response.json()["detail"]
    assert (Customer.objects.count(), Case.objects.count(), Interaction.objects.count()) == (0, 0, 0)
    event = InboundEvent.objects.get()
    assert (event.status, event.external_id) == ("ignored", "vacation.1741000000.bob@beta-customer.example")
    assert "with no case to join" in event.error
    # Delivered again: recognised, nothing changes.
    again = post_fixture(email, "email_vacation.eml")
    assert again.status_code == 200
    assert "received before" in again.json()["detail"]
    assert (InboundEvent.objects.count(), Customer.objects.count()) == (1, 0)


def test_a_known_customers_vacation_reply_joins_their_open_case(make_connector, post_fixture, post_event):
    email = make_connector("email")
    post_fixture(email, "email_plain.eml")
    case = Case.objects.get()
    raw = fixture_bytes("email_vacation.eml").replace(
        b"Bob Beta <bob@beta-customer.example>", b'"Ann Alpha" <Ann.Alpha@Example.com>'
    )
    assert post_event(email, raw, content_type=EML).status_code == 201
    joined = Interaction.objects.get(external_id="vacation.1741000000.bob@beta-customer.example")
    assert (joined.case, joined.author_kind) == (case, "system")
    assert Case.objects.count() == 1


def test_a_connector_can_take_automatic_mail_as_the_customers(make_connector, post_fixture, client, agent_a):
    """A mailbox fed by a web form or a monitoring system: its mail opens cases like a person's."""
    email = make_connector("email", settings={"ingest_automatic": True})
    response = post_fixture(email, "email_vacation.eml")
    assert response.status_code == 201, response.content
    interaction = Interaction.objects.get()
    assert (interaction.author_kind, interaction.case.customer.display_name) == ("customer", "Bob Beta")
    assert interaction.metadata["automatic"] == "Precedence: bulk"  # still said, for the record
    page = case_page(client, agent_a, interaction.case)
    assert "E-mail from customer" in page and "Automatic e-mail reply" not in page


def test_accords_own_mail_coming_back_is_not_ingested(email_reply, post_event, settings):
    """A reply copied back to the support mailbox, or an alert sent to it, would make Accord a
    customer of itself (and its replies new cases)."""
    email, _, reply = email_reply
    copy = (
        "From: support@alpha.example\r\nTo: Ann.Alpha@Example.com\r\n"
        "Subject: Re: Router keeps restarting\r\n"
        f"Message-ID: <accord.{reply.public_id}@alpha.example>\r\n"
        "In-Reply-To: <CAF=router-1@mail.example.com>\r\n\r\nPlease try a factory reset.\r\n"
    ).encode()
    settings.DEFAULT_FROM_EMAIL = "accord@alpha.example"
    alert = (
        b"From: accord@alpha.example\r\nTo: support@alpha.example\r\nSubject: [Accord] 3 SLA alerts\r\n"
        b"Message-ID: <alert-1@alpha.example>\r\nAuto-Submitted: auto-generated\r\n\r\n- BREACHED\r\n"
    )
    interactions = Interaction.objects.count()
    first = post_event(email, copy, content_type=EML)
    second = post_event(email, alert, content_type=EML)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["detail"] == "Not ingested: Accord's own reply came back."
    assert second.json()["detail"] == "Not ingested: sent from Accord's own address accord@alpha.example."
    assert Interaction.objects.count() == interactions
    assert list(Customer.objects.values_list("display_name", flat=True)) == ["Ann Alpha"]
    assert InboundEvent.objects.filter(status="ignored").count() == 2


def test_own_mail_is_recognised_when_the_from_setting_has_a_display_name(make_connector, post_event, agent_a):
    """`from_address` may be written "Alpha Support <support@alpha.example>"."""
    from django.core import mail as outbox

    email = make_connector("email", settings={"from_address": "Alpha Support <support@alpha.example>"})
    post_event(email, fixture_bytes("email_plain.eml"), content_type=EML)
    case = Case.objects.get()
    reply = services.reply_send(case=case, body="On it.", actor=agent_a)
    services.reply_deliver(interaction_id=reply.pk)
    [sent] = outbox.outbox
    assert sent.extra_headers["Message-ID"] == f"<accord.{reply.public_id}@alpha.example>"
    copy = (
        b"From: Alpha Support <support@alpha.example>\r\nTo: Ann.Alpha@Example.com\r\n"
        b"Subject: Re: Router\r\nMessage-ID: <support-copy-1@alpha.example>\r\n\r\nOn it.\r\n"
    )
    response = post_event(email, copy, content_type=EML)
    assert response.status_code == 202
    assert response.json()["detail"] == "Not ingested: sent from Accord's own address support@alpha.example."
