"""Social: public posts (mentions) and private messages. Two formats:

- X Account Activity API: ``tweet_create_events`` (a public mention or reply: thread by the
  tweet it replies to) and ``direct_message_events`` (private, with ``users`` to name the
  sender), each a list X may fill with several events (`parse_all` reads them all); the
  subscribed account's own tweets and messages, echoed back (``for_user_id``), are skipped;
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


def _from_x(data: dict, now: datetime) -> list[InboundMessage]:
    """Every event of an Account Activity delivery (X may put several in one), but the
    subscribed account's own tweets and messages, which X echoes back (`for_user_id`): they
    are the brand's, not a customer's."""
    own = str(data.get("for_user_id") or "")
    result = []
    for index, tweet in enumerate(data.get("tweet_create_events") or []):
        user = mapping(tweet, "user", label=f"tweet_create_events[{index}].user")
        if own and str(user.get("id_str") or "") == own:
            continue
        result.append(_x_tweet(tweet, user, index, now))
    for index, event in enumerate(data.get("direct_message_events") or []):
        if event.get("type") != "message_create":
            raise AdapterError(
                f"direct_message_events[{index}].type", f"Unknown X event type {event.get('type')!r}."
            )
        create = mapping(event, "message_create", label=f"direct_message_events[{index}].message_create")
        if own and str(create.get("sender_id") or "") == own:
            continue
        result.append(_x_message(data, event, create, index, now))
    return result


def _x_tweet(tweet: dict, user: dict, index: int, now: datetime) -> InboundMessage:
    handle = str(require(user, "screen_name", label="user.screen_name"))
    tweet_id = str(require(tweet, "id_str", label=f"tweet_create_events[{index}].id_str"))
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


def _x_message(data: dict, event: dict, create: dict, index: int, now: datetime) -> InboundMessage:
    sender_id = str(require(create, "sender_id", label="message_create.sender_id"))
    user = (data.get("users") or {}).get(sender_id) or {}
    handle = str(user.get("screen_name") or "")
    if not handle:
        raise AdapterError("users", f"The sender {sender_id} is not described in 'users'.")
    return _message(
        platform="x",
        handle=handle,
        name=str(user.get("name") or ""),
        message_id=str(require(event, "id", label=f"direct_message_events[{index}].id")),
        public=False,
        permalink="",
        text=text_of(str((create.get("message_data") or {}).get("text") or "")),
        at=parse_time(event.get("created_timestamp"), "created_timestamp", now=now),
        in_reply_to="",
        kind="message",
    )


def parse_all(raw: bytes, content_type: str = "", *, now: datetime) -> list[InboundMessage]:
    """Every customer message of the payload: several for an X delivery that batches events,
    none when it only echoes the account's own; one for the generic format."""
    data = load_json(raw)
    if "tweet_create_events" in data or "direct_message_events" in data:
        return _from_x(data, now)
    return [_generic(data, now)]


def parse(raw: bytes, content_type: str = "", *, now: datetime) -> InboundMessage | None:
    """The payload's one message (None: only the account's own echoes); AdapterError for a
    batch of several, which `parse_all` reads."""
    messages = parse_all(raw, content_type, now=now)
    if len(messages) > 1:
        raise AdapterError("events", "This payload carries several messages.")
    return messages[0] if messages else None


def _generic(data: dict, now: datetime) -> InboundMessage:
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
