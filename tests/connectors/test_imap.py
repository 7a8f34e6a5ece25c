"""IMAP polling against a real Dovecot (started by the `dovecot` fixture)."""

from __future__ import annotations

import contextlib
import imaplib
import uuid

import pytest

from cases.models import Case, Interaction
from connectors import imap
from connectors.models import ImapMailboxState, InboundEvent
from tests.connectors.conftest import fixture_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(dovecot):
    """A fresh mailbox for this test, and a function appending raw messages to it."""
    name = f"Support-{uuid.uuid4().hex[:8]}"
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    client.login(dovecot.user, dovecot.password)
    assert client.create(name)[0] == "OK"

    def append(raw: bytes, target: str = name):
        typ, data = client.append(target, None, None, raw)
        assert typ == "OK", data

    yield name, append, client
    with contextlib.suppress(imaplib.IMAP4.error):
        client.delete(name)
    client.logout()


@pytest.fixture
def imap_connector(make_connector, dovecot, mailbox):
    return make_connector(
        "email",
        slug="alpha-imap",
        settings={
            "imap_host": dovecot.host,
            "imap_port": dovecot.port,
            "imap_ssl": False,
            "imap_user": dovecot.user,
            "imap_mailbox": mailbox[0],
        },
        credentials={"imap_password": dovecot.password},
    )


def _raw(n: int) -> bytes:
    return (
        f"From: Customer {n} <customer{n}@example.com>\r\nTo: support@alpha.example\r\n"
        f"Subject: Question {n}\r\nDate: Mon, 03 Mar 2025 10:0{n}:00 +0000\r\n"
        f"Message-ID: <imap-{n}@example.com>\r\n\r\n"
        f"Body {n}\r\n"
    ).encode()


def test_poll_ingests_new_messages_once(imap_connector, mailbox):
    _, append, _ = mailbox
    append(_raw(1))
    append(fixture_bytes("email_plain.eml"))
    result = imap.imap_poll(connector=imap_connector)
    assert (result.fetched, result.outcomes, result.last_uid) == (2, {"processed": 2}, 2)
    assert sorted(Interaction.objects.values_list("external_id", flat=True)) == [
        "CAF=router-1@mail.example.com",
        "imap-1@example.com",
    ]
    assert set(InboundEvent.objects.values_list("via", "status")) == {("imap", "processed")}
    state = ImapMailboxState.objects.get()
    assert (state.last_uid, state.messages_seen, state.last_error) == (2, 2, "")
    # Nothing new: nothing fetched.
    assert imap.imap_poll(connector=imap_connector).fetched == 0
    # One more, then the poller reads only that one.
    append(_raw(3))
    result = imap.imap_poll(connector=imap_connector)
    assert (result.fetched, result.outcomes) == (1, {"processed": 1})
    assert Interaction.objects.count() == 3
    # Messages are read with BODY.PEEK: the mailbox's \\Seen flags are untouched.
    _, _, client = mailbox
    client.select(imap_connector.settings["imap_mailbox"], readonly=True)
    assert client.search(None, "UNSEEN")[1][0].split() == [b"1", b"2", b"3"]


def test_uidvalidity_change_rereads_without_ingesting_twice(imap_connector, mailbox):
    name, append, client = mailbox
    append(_raw(1))
    append(_raw(2))
    imap.imap_poll(connector=imap_connector)
    first_validity = ImapMailboxState.objects.get().uidvalidity
    # The mailbox is recreated (new UIDVALIDITY) with the same two messages and a new one.
    client.select("INBOX")
    assert client.delete(name)[0] == "OK"
    assert client.create(name)[0] == "OK"
    for n in (1, 2, 4):
        append(_raw(n))
    result = imap.imap_poll(connector=imap_connector)
    state = ImapMailboxState.objects.get()
    assert state.uidvalidity != first_validity
    assert (result.fetched, result.outcomes, state.last_uid) == (3, {"duplicate": 2, "processed": 1}, 3)
    assert Interaction.objects.count() == 3
    assert InboundEvent.objects.count() == 3


def test_progress_is_recorded_only_after_the_message_committed(imap_connector, mailbox, monkeypatch):
    _, append, _ = mailbox
    append(_raw(1))
    append(_raw(2))
    calls = []
    real = imap.inbound_receive

    def crash_on_second(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr(imap, "inbound_receive", crash_on_second)
    with pytest.raises(RuntimeError):
        imap.imap_poll(connector=imap_connector)
    assert ImapMailboxState.objects.get().last_uid == 1
    monkeypatch.undo()
    result = imap.imap_poll(connector=imap_connector)
    assert (result.fetched, result.outcomes) == (1, {"processed": 1})
    assert Interaction.objects.count() == 2


def test_bad_mail_is_kept_failed_and_polling_goes_on(imap_connector, mailbox):
    _, append, _ = mailbox
    append(b"To: support@alpha.example\r\nSubject: no sender\r\nMessage-ID: <nosender@x>\r\n\r\nbody\r\n")
    append(_raw(2))
    result = imap.imap_poll(connector=imap_connector)
    assert result.outcomes == {"failed": 1, "processed": 1}
    assert InboundEvent.objects.get(status="failed").error == "from: The message has no usable From address."
    assert Case.objects.count() == 1


def test_wrong_password_is_reported_and_nothing_moves(imap_connector):
    imap_connector.credentials = {"imap_password": "wrong"}
    with pytest.raises(imap.ImapError):
        imap.imap_poll(connector=imap_connector)
    state = ImapMailboxState.objects.get()
    assert "AUTHENTICATIONFAILED" in state.last_error or "Authentication failed" in state.last_error
    assert state.last_uid == 0


def test_poll_all_task(imap_connector, mailbox):
    from connectors.tasks import imap_poll_task

    _, append, _ = mailbox
    append(_raw(1))
    assert imap_poll_task() == {"alpha-imap": {"fetched": 1, "processed": 1}}
    assert imap_poll_task() == {"alpha-imap": {"fetched": 0}}


def test_poll_reads_a_bounce_as_the_failure_of_the_reply_it_returns(
    imap_connector, mailbox, agent_a, django_capture_on_commit_callbacks
):
    """Bounces come back to the mailbox the replies are sent from: the poll fails the reply."""
    from connectors import services

    _, append, _ = mailbox
    append(fixture_bytes("email_plain.eml"))
    imap.imap_poll(connector=imap_connector)
    case = Case.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = services.reply_send(case=case, body="Please try a factory reset.", actor=agent_a)
    bounce = fixture_bytes("email_bounce_gmail.eml").replace(
        b"accord.00000000-0000-0000-0000-000000000000@", f"accord.{reply.public_id}@".encode()
    )
    append(bounce)
    result = imap.imap_poll(connector=imap_connector)
    assert (result.fetched, result.outcomes) == (1, {"ignored": 1})
    reply.refresh_from_db()
    assert reply.delivery_status == "failed"
    assert reply.metadata["delivery_detail"].startswith("bounced by ann.alpha@example.com: 5.2.1")
    assert Case.objects.count() == 1
