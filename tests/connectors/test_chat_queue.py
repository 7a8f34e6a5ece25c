"""A chat session's queue outcome (answered by the first agent message, or abandoned when it ends
first) lands on the session's opening interaction, so chat counts in service level and
abandonment like voice."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cases.models import Interaction
from governance.kpis import contract_measure
from tests.connectors.conftest import fixture_bytes

pytestmark = pytest.mark.django_db


def _event(name: str, **changes) -> bytes:
    data = json.loads(fixture_bytes(name))
    data.update(changes)
    return json.dumps(data).encode()


def _opening():
    return Interaction.objects.get(metadata__chat_event="session.started")


def test_the_first_agent_message_answers_the_session_and_sets_its_wait(make_connector, post_event):
    chat = make_connector("chat")
    post_event(chat, fixture_bytes("chat_session_started.json"))  # 10:00:00
    post_event(chat, _event("chat_message_bot.json", occurred_at="2025-03-03T10:00:05Z"))
    assert "wait_seconds" not in _opening().metadata  # a bot does not answer
    post_event(chat, _event("chat_message_agent.json", occurred_at="2025-03-03T10:00:25Z"))
    assert (_opening().metadata["wait_seconds"], _opening().metadata["abandoned"]) == (25, False)
    # later messages and the end change nothing
    post_event(
        chat,
        _event(
            "chat_message_agent.json",
            event_id="e-9",
            message={"id": "m-9", "author": "agent", "text": "More"},
            occurred_at="2025-03-03T10:03:00Z",
        ),
    )
    post_event(chat, fixture_bytes("chat_session_ended.json"))
    assert {k: _opening().metadata[k] for k in ("wait_seconds", "abandoned")} == {
        "wait_seconds": 25,
        "abandoned": False,
    }


def test_a_session_ending_before_an_agent_answers_is_abandoned(make_connector, post_event, client_a):
    chat = make_connector("chat")
    post_event(chat, fixture_bytes("chat_session_started.json"))  # 10:00:00
    post_event(chat, _event("chat_message_customer.json"))
    post_event(chat, _event("chat_session_ended.json", occurred_at="2025-03-03T10:01:30Z"))
    assert {k: _opening().metadata[k] for k in ("wait_seconds", "abandoned")} == {
        "wait_seconds": 90,
        "abandoned": True,
    }
    start, end = datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 4, tzinfo=UTC)
    abandonment = contract_measure("abandonment_rate", client_ids=[client_a.pk], start=start, end=end)
    assert (abandonment.value, abandonment.denominator) == (100.0, 1)


def test_an_answered_chat_counts_in_service_level(make_connector, post_event, client_a):
    chat = make_connector("chat")
    for n, wait in enumerate((10, 45)):
        session = {"session_id": f"S-{n}", "visitor": {"id": f"v-{n}"}}
        post_event(chat, _event("chat_session_started.json", event_id=f"start-{n}", **session))
        post_event(
            chat,
            _event(
                "chat_message_agent.json",
                **session,
                event_id=f"agent-{n}",
                message={"id": f"m-{n}", "author": "agent", "text": "Hello"},
                occurred_at=f"2025-03-03T10:00:{wait:02d}Z",
            ),
        )
    start, end = datetime(2025, 3, 3, tzinfo=UTC), datetime(2025, 3, 4, tzinfo=UTC)
    level = contract_measure(
        "service_level", client_ids=[client_a.pk], start=start, end=end, channel="chat", threshold_seconds=20
    )
    assert (level.value, level.numerator, level.denominator) == (50.0, 1, 2)
