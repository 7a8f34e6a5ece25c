"""A chat session's queue outcome, recorded on the interaction that started it so chat counts in
service level and abandonment as voice does (governance.kpis reads `wait_seconds` and
`abandoned` from an inbound contact's metadata).

A session is answered by the first agent message (a bot's does not answer it): the wait is from
the start to that message. A session that ends before any agent message is abandoned: the wait is
from the start to the end. The outcome is written once; later messages change nothing.
"""

from __future__ import annotations

from datetime import datetime

from cases.models import Case, Interaction

from .adapters.base import AGENT, SYSTEM, InboundMessage

STARTED, ENDED = "session.started", "session.ended"


def queue_outcome(*, started_at: datetime, event: str, author: str | None, at: datetime) -> dict | None:
    """The queue data a chat event settles for its session, or None when it settles nothing."""
    if event == ENDED:
        abandoned = True
    elif event == "message" and author == AGENT:
        abandoned = False
    else:
        return None
    return {"wait_seconds": max(0, round((at - started_at).total_seconds())), "abandoned": abandoned}


def chat_session_settle(*, case: Case, source: str, message: InboundMessage) -> Interaction | None:
    """Record the queue outcome of `message`'s session on its opening interaction, once.
    Returns the interaction updated, or None (nothing to settle, already settled, or the
    session's start has not arrived)."""
    event = message.metadata.get("chat_event")
    if event not in ("message", ENDED) or message.author_kind not in (AGENT, SYSTEM):
        return None
    started = (
        Interaction.objects.filter(
            case=case,
            thread_key=message.thread_key,
            source=source,
            metadata__chat_event=STARTED,
        )
        .exclude(metadata__has_key="wait_seconds")
        .select_for_update()
        .first()
    )
    if started is None:
        return None
    outcome = queue_outcome(
        started_at=started.occurred_at,
        event=event,
        author=message.metadata.get("author"),
        at=message.occurred_at,
    )
    if outcome is None:
        return None
    started.metadata = {**started.metadata, **outcome}
    started.save(update_fields=["metadata"])
    return started
