"""Social: public posts (mentions) and private messages. Two formats:

- X Account Activity API: ``tweet_create_events`` (a public mention or reply: thread by the
  tweet it replies to) or ``direct_message_events`` (private, with ``users`` to name the
  sender);
- generic JSON::

    {"platform": "facebook", "handle": "ann.a", "name": "Ann", "message_id": "m-1",
     "kind": "post" | "message", "public": true, "permalink": "https://...",
     "text": "...", "created_at": "...", "in_reply_to": "m-0"}

The identity is ``platform:handle``.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

from .base import AdapterError, Identity, InboundMessage, load_json, mapping, parse_time, require, text_of


def _message(*, platform, handle, name, message_id, public, permalink, text, at, in_reply_to, kind):
    thread_key = f"{platform}:{message_id}"
    refs = [thread_key] + ([f"{platform}:{in_reply_to}"] if in_reply_to else [])
    if not public:
        # Private conversations thread by the sender.
        thread_key = f"{platform}:dm:{handle.lower()}"
        refs = [thread_key]
    return InboundMessage(
        channel="social",
        external_id=f"{platform}:{message_id}",
        occurred_at=at,
        identities=(Identity("social", f"{platform}:{handle}"),),
        display_name=name[:200],
        subject=text[:120] or f"{platform} {kind}",
        body=text,
        thread_key=thread_key,
        thread_refs=tuple(refs),
        metadata={
            "platform": platform,
            "handle": handle,
            "message_id": str(message_id),
            "kind": kind,
            "public": public,
            "permalink": permalink,
            "in_reply_to": in_reply_to or "",
        },
    )


def _x_time(value, now: datetime) -> datetime:
    try:
        return min(parsedate_to_datetime(value), now)
    except (TypeError, ValueError) as exc:
        raise AdapterError("created_at", f"'created_at' is not a time: {value!r}.") from exc


def _from_x(data: dict, now: datetime) -> InboundMessage:
    if data.get("tweet_create_events"):
        tweet = data["tweet_create_events"][0]
        user = mapping(tweet, "user", label="tweet_create_events[0].user")
        handle = str(require(user, "screen_name", label="user.screen_name"))
        tweet_id = str(require(tweet, "id_str", label="tweet_create_events[0].id_str"))
        return _message(
            platform="x",
            handle=handle,
            name=str(user.get("name") or ""),
            message_id=tweet_id,
            public=True,
            permalink=f"https://x.com/{handle}/status/{tweet_id}",
            text=text_of(str(tweet.get("full_text") or tweet.get("text") or "")),
            at=_x_time(tweet.get("created_at"), now),
            in_reply_to=tweet.get("in_reply_to_status_id_str") or "",
            kind="post",
        )
    event = data["direct_message_events"][0]
    if event.get("type") != "message_create":
        raise AdapterError("direct_message_events[0].type", f"Unknown X event type {event.get('type')!r}.")
    create = mapping(event, "message_create", label="direct_message_events[0].message_create")
    sender_id = str(require(create, "sender_id", label="message_create.sender_id"))
    user = (data.get("users") or {}).get(sender_id) or {}
    handle = str(user.get("screen_name") or "")
    if not handle:
        raise AdapterError("users", f"The sender {sender_id} is not described in 'users'.")
    return _message(
        platform="x",
        handle=handle,
        name=str(user.get("name") or ""),
        message_id=str(require(event, "id", label="direct_message_events[0].id")),
        public=False,
        permalink="",
        text=text_of(str((create.get("message_data") or {}).get("text") or "")),
        at=parse_time(event.get("created_timestamp"), "created_timestamp", now=now),
        in_reply_to="",
        kind="message",
    )


def parse(raw: bytes, content_type: str = "", *, now: datetime) -> InboundMessage:
    data = load_json(raw)
    if "tweet_create_events" in data or "direct_message_events" in data:
        return _from_x(data, now)
    platform = str(require(data, "platform")).strip().lower()
    kind = str(data.get("kind") or "post")
    if kind not in ("post", "message"):
        raise AdapterError("kind", f"Unknown social event type {kind!r}; expected post or message.")
    public = data.get("public")
    if public is None:
        public = kind == "post"
    return _message(
        platform=platform,
        handle=str(require(data, "handle")).lstrip("@"),
        name=str(data.get("name") or ""),
        message_id=str(require(data, "message_id")),
        public=bool(public),
        permalink=str(data.get("permalink") or ""),
        text=text_of(str(require(data, "text"))),
        at=parse_time(data.get("created_at"), "created_at", now=now),
        in_reply_to=str(data.get("in_reply_to") or ""),
        kind=kind,
    )
