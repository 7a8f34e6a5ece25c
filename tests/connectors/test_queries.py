"""Query cost of one ingested event: constant (the 1st and the 20th cost the same), for a new
case and for a follow-up, with an SLA policy applying (the realistic path).

Counted through the endpoint in autocommit (transaction=True), as in production, with tasks
enqueued on the ORM broker instead of run inline. `data` statements exclude SAVEPOINT /
RELEASE / BEGIN / COMMIT; `total` includes them. The client's routing rules, webhook
subscriptions and SLA policies come from caches keyed by revisions read with the connector
(tests/connectors/test_config_revisions.py shows a change counts at once)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CONTROL = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK")


@pytest.fixture
def realistic(make_connector, sla_policy_a, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # enqueue on the ORM broker, as in production
    return make_connector("sms")


def _statements(post_event, connector, body: bytes, content_type: str = FORM) -> list[str]:
    with CaptureQueriesContext(connection) as context:
        response = post_event(connector, body, content_type=content_type)
    assert response.status_code == 201, response.content
    return [query["sql"] for query in context.captured_queries]


def _cost(post_event, connector, body: bytes) -> tuple[int, int]:
    statements = _statements(post_event, connector, body)
    data = [sql for sql in statements if sql.split()[0].upper() not in CONTROL]
    return len(data), len(statements)


def test_follow_up_costs_constant_and_at_most_12_data_statements(realistic, post_event):
    costs = [
        _cost(post_event, realistic, f"MessageSid=F{i}&From=%2B14155550000&Body=again+{i}".encode())
        for i in range(6)
    ]
    # The first message opens the case; every follow-up after it costs the same.
    follow_ups = costs[1:]
    assert len(set(follow_ups)) == 1, follow_ups
    data, total = follow_ups[0]
    # connector (with the configuration revisions), raw event, identity, the case to join
    # (locked), interaction, timeline entry, the case's SLA state and clocks, their update, the
    # case's version, and the sentiment task on the ORM broker
    assert data <= 11
    # + BEGIN and COMMIT: interaction_append takes no savepoint in the ingestion's transaction,
    # which holds the case locked; on PostgreSQL its insert needs none either (ON CONFLICT DO
    # NOTHING), elsewhere the insert takes one (SAVEPOINT, RELEASE)
    assert total == data + (2 if connection.vendor == "postgresql" else 4)


def test_new_case_costs_constant_and_at_most_14_data_statements(realistic, post_event):
    costs = [
        _cost(post_event, realistic, f"MessageSid=N{i}&From=%2B1415555{i + 1:04d}&Body=hi".encode())
        for i in range(6)
    ]
    # The very first case of the client also warms the compiled-calendar cache: compare the rest.
    assert len(set(costs[1:])) == 1, costs
    data, total = costs[-1]
    # connector (with the configuration revisions), raw event, identity lookup; a new customer
    # (row, history, identities in one insert); the case opened with its message (case,
    # interaction, both timeline entries in one insert); the SLA engine (case SLA, clocks, clock
    # events); the sentiment task on the ORM broker
    assert data <= 13
    # + BEGIN, COMMIT and two savepoints (the new customer, the opening)
    assert total <= 20


def test_max_queries_pin(realistic, post_event, django_assert_max_num_queries):
    post_event(realistic, b"MessageSid=P0&From=%2B14155550000&Body=first", content_type=FORM)
    with django_assert_max_num_queries(15):
        post_event(realistic, b"MessageSid=P1&From=%2B14155550000&Body=second", content_type=FORM)


@pytest.mark.parametrize("sender", ["%2B14155550000", "%2B14155559999"], ids=["follow-up", "new-case"])
def test_an_ingested_event_commits_once(realistic, post_event, sender):
    """The raw event, all it ingests and the task it enqueues on the ORM broker commit together:
    one COMMIT per event, whatever the fsync of the machine costs (decision 0010)."""
    post_event(realistic, b"MessageSid=C0&From=%2B14155550000&Body=first", content_type=FORM)
    statements = _statements(post_event, realistic, f"MessageSid=C1&From={sender}&Body=hi".encode())
    commits = [i for i, sql in enumerate(statements) if sql.split()[0].upper() == "COMMIT"]
    assert commits == [len(statements) - 1], statements
    begins = [i for i, sql in enumerate(statements) if sql.split()[0].upper() == "BEGIN"]
    assert len(begins) == 1, statements  # (SQLite: BEGIN IMMEDIATE, see config.settings)
    inside = statements[begins[0] + 1 :]
    assert inside[0].startswith('INSERT INTO "connectors_inboundevent"'), inside[0]
    assert any(sql.startswith('INSERT INTO "django_q_ormq"') for sql in inside), inside


def test_a_failed_ingestion_keeps_its_raw_event_and_enqueues_nothing(realistic, post_event):
    """Ingestion fails after the sentiment task was enqueued: the task rolls back with the case
    and the interaction; the raw event alone is kept, failed, for replay."""
    from django_q.models import OrmQ

    from cases import events as case_events
    from cases.models import Case, Interaction
    from config import events as dispatcher
    from connectors.models import InboundEvent

    def fail(event):
        raise RuntimeError("downstream handler broke")

    dispatcher.subscribe(case_events.InteractionAppended, fail, phase="transaction")
    try:
        response = post_event(realistic, b"MessageSid=X1&From=%2B14155550000&Body=hi", content_type=FORM)
    finally:
        dispatcher.unsubscribe(case_events.InteractionAppended, fail, phase="transaction")
    assert response.status_code == 500
    event = InboundEvent.objects.get()
    assert (event.status, event.external_id) == ("failed", "X1")
    assert event.error == "RuntimeError: downstream handler broke"
    assert (Case.objects.count(), Interaction.objects.count(), OrmQ.objects.count()) == (0, 0, 0)
    # Fixed, the re-delivery ingests it and enqueues its task once.
    response = post_event(realistic, b"MessageSid=X1&From=%2B14155550000&Body=hi", content_type=FORM)
    assert response.status_code == 201
    assert (Interaction.objects.count(), OrmQ.objects.count()) == (1, 1)


def test_a_channel_handoff_costs_no_more_than_a_follow_up(realistic, make_connector, post_event):
    """The handoff's timeline entry goes in the message's own insert. (WhatsApp stamps whole
    seconds: the next one, so the message is not older than the SMS before it, which would
    rebuild the clocks from the timeline.)"""
    import json
    import time

    from cases.models import CaseEvent

    whatsapp = make_connector("whatsapp")

    def on_whatsapp(i: int, sender: str = "14155550000") -> bytes:
        message = {
            "from": sender,
            "id": f"wamid.H{i}",
            "timestamp": str(int(time.time()) + 1),
            "type": "text",
        }
        message["text"] = {"body": f"over here {i}"}
        value = {
            "messaging_product": "whatsapp",
            "contacts": [{"wa_id": "14155550000"}],
            "messages": [message],
        }
        entry = {"changes": [{"field": "messages", "value": value}]}
        return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()

    def cost(connector, body, content_type) -> int:
        with CaptureQueriesContext(connection) as context:
            response = post_event(connector, body, content_type=content_type)
        assert response.status_code == 201, response.content
        return len([q for q in context.captured_queries if q["sql"].split()[0].upper() not in CONTROL])

    post_event(whatsapp, on_whatsapp(0, sender="14155559999"), content_type="application/json")  # warm
    post_event(realistic, b"MessageSid=H0&From=%2B14155550000&Body=hi", content_type=FORM)
    same_channel = cost(realistic, b"MessageSid=H1&From=%2B14155550000&Body=again", FORM)
    handoff = cost(whatsapp, on_whatsapp(2), "application/json")
    assert CaseEvent.objects.filter(kind="channel_handoff").count() == 1
    assert handoff == same_channel


def test_a_late_message_replays_the_case_without_reading_policies(realistic, make_connector, post_event):
    """A WhatsApp message stamped before the SMS already applied replays the case's timeline
    under the policy version it applies: no policy read and no savepoint of its own, one
    statement (the timeline) more than a follow-up when no clock changes."""
    import json
    import time

    from slas.models import CaseSLA

    whatsapp = make_connector("whatsapp")
    message = {
        "from": "14155550000",
        "id": "wamid.LATE",
        "timestamp": str(int(time.time()) - 60),
        "type": "text",
        "text": {"body": "sent a minute ago"},
    }
    value = {"messaging_product": "whatsapp", "contacts": [{"wa_id": "14155550000"}], "messages": [message]}
    late = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": value}]}],
    }

    post_event(realistic, b"MessageSid=L0&From=%2B14155550000&Body=hi", content_type=FORM)
    follow_up = _statements(post_event, realistic, b"MessageSid=L1&From=%2B14155550000&Body=again")
    applied_before = CaseSLA.objects.get().last_event_at
    statements = _statements(post_event, whatsapp, json.dumps(late).encode())
    policy_reads = ('FROM "slas_slapolicy"', 'FROM "slas_slatarget"', 'FROM "slas_historicalslapolicy"')
    reads = [sql for sql in statements if sql.startswith("SELECT") and any(r in sql for r in policy_reads)]
    assert [sql.split()[1] for sql in reads] == ['"connectors_connector"."id",']  # its revisions only

    def savepoints(sqls: list[str]) -> int:
        return len([sql for sql in sqls if sql.split()[0].upper() in ("SAVEPOINT", "RELEASE")])

    assert savepoints(statements) == savepoints(follow_up)  # (SQLite: the interaction's insert)
    assert any('FROM "cases_caseevent"' in sql for sql in statements)  # the timeline, replayed
    assert len(statements) == len(follow_up) + 1
    assert CaseSLA.objects.get().last_event_at == applied_before


def _chat(session: str, visitor: str, message: str) -> bytes:
    import json

    return json.dumps(
        {
            "event": "message",
            "event_id": f"evt-{message}",
            "session_id": session,
            "occurred_at": "2025-03-03T10:00:00Z",
            "visitor": {"id": visitor, "email": "ann@example.com"},
            "message": {"id": message, "author": "customer", "text": "Still no line."},
        }
    ).encode()


def test_a_known_customers_new_identity_costs_its_insert_alone(realistic, make_connector, post_event):
    """A chat visitor id new to Accord, beside a known e-mail address: the identity is added to
    the customer found by the address with its INSERT alone, under one savepoint (the client is
    known from the lookup, not read again)."""
    chat = make_connector("chat")
    post_event(chat, _chat("S-1", "visitor-1", "m1"))
    known = _statements(post_event, chat, _chat("S-1", "visitor-1", "m2"), JSON)
    with_new_identity = _statements(post_event, chat, _chat("S-1", "visitor-2", "m3"), JSON)
    added = [sql for sql in with_new_identity if sql not in known]
    inserts = [sql for sql in with_new_identity if sql.startswith('INSERT INTO "cases_customeridentity"')]
    assert len(inserts) == 1
    assert not any('FROM "cases_client"' in sql for sql in with_new_identity), with_new_identity
    assert len(with_new_identity) - len(known) == 3, added  # SAVEPOINT, INSERT, RELEASE


def _call(call_id: str) -> bytes:
    import json

    return json.dumps(
        {
            "call_id": call_id,
            "caller": "+14155550000",
            "queue_entered_at": "2025-03-03T10:00:00Z",
            "answered_at": "2025-03-03T10:00:20Z",
            "agent": "sam",
        }
    ).encode()


def _case_reads(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.startswith("SELECT") and 'FROM "cases_case"' in sql]


@pytest.mark.parametrize("earlier_call", [False, True], ids=["new-case", "follow-up"])
def test_an_answered_call_appends_its_answer_on_the_case_it_holds(
    realistic, make_connector, post_event, earlier_call
):
    """A call record with its answer is two interactions: the answer goes on the case row the
    call already holds, neither read again nor under a savepoint of its own."""
    voice = make_connector("voice")
    if earlier_call:
        post_event(voice, _call("call-1"), content_type=JSON)
    statements = _statements(post_event, voice, _call("call-2"), JSON)
    assert len(_case_reads(statements)) == (1 if earlier_call else 0), _case_reads(statements)
    assert sum(sql.startswith('INSERT INTO "cases_interaction"') for sql in statements) == 2
    if connection.vendor == "postgresql":  # (elsewhere each insert takes its own)
        savepoints = [sql for sql in statements if sql.startswith("SAVEPOINT")]
        assert len(savepoints) == (0 if earlier_call else 2), statements  # new customer, opening
