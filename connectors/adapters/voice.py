"""Voice: a call record, once the call is over. Two formats:

- an Amazon Connect contact trace record (``ContactId``, ``CustomerEndpoint.Address``,
  ``Queue.EnqueueTimestamp`` / ``DequeueTimestamp``, ``Agent.ConnectedToAgentTimestamp``,
  ``Agent.AgentInteractionDuration``, ``Agent.Username``, ``Recording.Location``);
- a generic record::

    {"call_id": "c-1", "caller": "+14155550123", "dialed": "+18005550100",
     "queue_entered_at": "...", "answered_at": "..." | null, "abandoned_at": "..." | null,
     "wait_seconds": 42, "talk_seconds": 300, "agent": "sam", "recording_url": "https://..."}

The call is an inbound contact at queue entry (the case opens then and first response starts);
an answer is recorded as the agent's public response at `answered_at` (it stops first
response); an abandoned call is flagged in the metadata (`abandoned: true`) for abandonment.
"""

from __future__ import annotations

from datetime import datetime

from .base import (
    AGENT,
    CUSTOMER,
    INBOUND,
    OUTBOUND,
    AdapterError,
    FollowUp,
    Identity,
    InboundMessage,
    load_json,
    parse_time,
    require,
)


def _optional_time(value, name: str, now: datetime) -> datetime | None:
    return parse_time(value, name, now=now) if value not in (None, "") else None


def _from_ctr(data: dict, now: datetime) -> dict:
    if str(data.get("Channel") or "VOICE").upper() != "VOICE":
        raise AdapterError("Channel", f"Not a voice contact record: Channel is {data.get('Channel')!r}.")
    endpoint = data.get("CustomerEndpoint") or {}
    queue = data.get("Queue") or {}
    agent = data.get("Agent") or {}
    recording = data.get("Recording") or {}
    entered = queue.get("EnqueueTimestamp") or data.get("InitiationTimestamp")
    answered = agent.get("ConnectedToAgentTimestamp")
    entered_at = parse_time(entered, "Queue.EnqueueTimestamp", now=now)
    answered_at = _optional_time(answered, "Agent.ConnectedToAgentTimestamp", now)
    dequeued_at = _optional_time(queue.get("DequeueTimestamp"), "Queue.DequeueTimestamp", now)
    abandoned_at = None
    if answered_at is None:
        abandoned_at = dequeued_at or _optional_time(
            data.get("DisconnectTimestamp"), "DisconnectTimestamp", now
        )
    return {
        "call_id": require(data, "ContactId"),
        "caller": require(endpoint, "Address", label="CustomerEndpoint.Address"),
        "dialed": (data.get("SystemEndpoint") or {}).get("Address") or "",
        "entered_at": entered_at,
        "answered_at": answered_at,
        "abandoned_at": abandoned_at,
        "wait_seconds": queue.get("Duration"),
        "talk_seconds": agent.get("AgentInteractionDuration"),
        "agent": agent.get("Username") or "",
        "recording_url": recording.get("Location") or "",
        "queue_name": queue.get("Name") or "",
    }


def _from_generic(data: dict, now: datetime) -> dict:
    return {
        "call_id": require(data, "call_id"),
        "caller": require(data, "caller"),
        "dialed": data.get("dialed") or "",
        "entered_at": parse_time(data.get("queue_entered_at"), "queue_entered_at", now=now),
        "answered_at": _optional_time(data.get("answered_at"), "answered_at", now),
        "abandoned_at": _optional_time(data.get("abandoned_at"), "abandoned_at", now),
        "wait_seconds": data.get("wait_seconds"),
        "talk_seconds": data.get("talk_seconds"),
        "agent": data.get("agent") or "",
        "recording_url": data.get("recording_url") or "",
        "queue_name": data.get("queue") or "",
    }


def _seconds(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        seconds = int(float(value))
    except (TypeError, ValueError) as exc:
        raise AdapterError(name, f"{name!r} is a number of seconds, not {value!r}.") from exc
    if seconds < 0:
        raise AdapterError(name, f"{name!r} cannot be negative.")
    return seconds


def parse(raw: bytes, content_type: str = "", *, now: datetime) -> InboundMessage:
    data = load_json(raw)
    call = _from_ctr(data, now) if "ContactId" in data else _from_generic(data, now)
    entered_at, answered_at, abandoned_at = call["entered_at"], call["answered_at"], call["abandoned_at"]
    if answered_at and abandoned_at:
        raise AdapterError("answered_at", "A call is either answered or abandoned, not both.")
    if answered_at and answered_at < entered_at:
        raise AdapterError("answered_at", "The call was answered before it entered the queue.")
    end = answered_at or abandoned_at
    wait = _seconds(call["wait_seconds"], "wait_seconds")
    if wait is None and end is not None:
        wait = int((end - entered_at).total_seconds())
    talk = _seconds(call["talk_seconds"], "talk_seconds")
    call_id = str(call["call_id"])
    caller = str(call["caller"])
    metadata = {
        "call_id": call_id,
        "caller": caller,
        "dialed": str(call["dialed"]),
        "queue_entered_at": entered_at.isoformat(),
        "answered": answered_at is not None,
        "answered_at": answered_at.isoformat() if answered_at else None,
        "abandoned": abandoned_at is not None and answered_at is None,
        "abandoned_at": abandoned_at.isoformat() if abandoned_at else None,
        "wait_seconds": wait,
        "talk_seconds": talk,
        "agent": str(call["agent"]),
        "recording_url": str(call["recording_url"]),
        "queue": str(call["queue_name"]),
    }
    if answered_at:
        summary = f"Call from {caller}, answered by {call['agent'] or 'an agent'} after {wait or 0} s"
        summary += f", talked {talk} s." if talk is not None else "."
    elif abandoned_at:
        summary = f"Call from {caller}, abandoned after {wait or 0} s in queue."
    else:
        summary = f"Call from {caller}."
    follow_ups = ()
    if answered_at:
        follow_ups = (
            FollowUp(
                external_id=f"{call_id}:answered",
                occurred_at=answered_at,
                direction=OUTBOUND,
                author_kind=AGENT,
                body=f"Call answered by {call['agent'] or 'an agent'}.",
                actor_label=str(call["agent"])[:120],
                metadata={"call_id": call_id, "answered": True, "talk_seconds": talk,
                          "recording_url": metadata["recording_url"]},
            ),
        )  # fmt: skip
    thread_key = f"call:{call_id}"
    return InboundMessage(
        channel="voice",
        external_id=call_id,
        occurred_at=entered_at,
        identities=(Identity("phone", caller),),
        subject=f"Call from {caller}",
        body=summary,
        direction=INBOUND,
        author_kind=CUSTOMER,
        thread_key=thread_key,
        thread_refs=(thread_key,),
        metadata=metadata,
        follow_ups=follow_ups,
    )
