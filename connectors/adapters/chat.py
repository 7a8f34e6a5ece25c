"""Chat: session events as JSON.

    {"event": "session.started" | "message" | "session.ended",
     "event_id": "evt-1", "session_id": "s-42", "occurred_at": "2025-03-03T10:00:00Z",
     "visitor": {"id": "v-7", "name": "Ann", "email": "ann@example.com"},
     "message": {"id": "m-1", "author": "customer" | "bot" | "agent", "text": "...",
                 "agent_name": "Sam"},
     "language": "en", "reason": "visitor_left"}

The session id is the thread key. A started session is an inbound contact (it starts the
first-response clock); an agent's message is a public reply (it stops it); a bot's is not;
an ended session is a timeline note.
"""

from __future__ import annotations

from datetime import datetime

from .base import (
    AGENT,
    BOT,
    CUSTOMER,
    INBOUND,
    NOTE,
    OUTBOUND,
    SYSTEM,
    AdapterError,
    Identity,
    InboundMessage,
    load_json,
    mapping,
    parse_time,
    require,
    text_of,
)

EVENTS = ("session.started", "message", "session.ended")
AUTHORS = {CUSTOMER: (INBOUND, CUSTOMER), BOT: (OUTBOUND, BOT), AGENT: (OUTBOUND, AGENT)}


def parse(raw: bytes, content_type: str = "", *, now: datetime) -> InboundMessage:
    data = load_json(raw)
    event = require(data, "event")
    if event not in EVENTS:
        raise AdapterError(
            "event", f"Unknown chat event type {event!r}; expected one of {', '.join(EVENTS)}."
        )
    session_id = str(require(data, "session_id"))
    visitor = mapping(data, "visitor")
    visitor_id = str(require(visitor, "id", label="visitor.id"))
    occurred_at = parse_time(data.get("occurred_at"), "occurred_at", now=now)
    identities = [Identity("chat", visitor_id)]
    if visitor.get("email"):
        identities.append(Identity("email", str(visitor["email"])))
    thread_key = f"chat:{session_id}"
    common = {
        "channel": "chat",
        "occurred_at": occurred_at,
        "identities": tuple(identities),
        "display_name": str(visitor.get("name") or "")[:200],
        "thread_key": thread_key,
        "thread_refs": (thread_key,),
        "language": str(data.get("language") or ""),
    }
    metadata = {"session_id": session_id, "chat_event": event, "visitor_id": visitor_id}
    if event == "session.started":
        event_id = str(data.get("event_id") or f"{session_id}:started")
        first = str(data.get("initial_message") or "")
        return InboundMessage(
            external_id=event_id,
            subject=first[:120] or "Chat session",
            body=text_of(first) or "Chat session started.",
            metadata=metadata,
            **common,
        )
    if event == "session.ended":
        reason = str(data.get("reason") or "")
        return InboundMessage(
            external_id=str(data.get("event_id") or f"{session_id}:ended"),
            body=f"Chat session ended ({reason})." if reason else "Chat session ended.",
            direction=NOTE,
            author_kind=SYSTEM,
            metadata={**metadata, "reason": reason},
            **common,
        )
    message = mapping(data, "message")
    message_id = str(require(message, "id", label="message.id"))
    author = message.get("author")
    if author not in AUTHORS:
        raise AdapterError(
            "message.author", f"Unknown chat author {author!r}; expected customer, bot or agent."
        )
    text = text_of(str(require(message, "text", label="message.text")))
    direction, author_kind = AUTHORS[author]
    return InboundMessage(
        external_id=message_id,
        subject=text[:120],
        body=text,
        direction=direction,
        author_kind=author_kind,
        actor_label=str(message.get("agent_name") or "")[:120] if author != CUSTOMER else "",
        metadata={**metadata, "author": author},
        **common,
    )
