"""Inbound adapters, one module per channel: native payload bytes -> one `InboundMessage`.

`parse(adapter, raw, content_type, now=...)` dispatches by the connector's adapter kind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from . import chat, email, portal, sms, social, voice, whatsapp
from .base import AdapterError, FollowUp, Identity, InboundMessage

Parser = Callable[..., InboundMessage | None]

PARSERS: dict[str, Parser] = {
    "email": email.parse,
    "chat": chat.parse,
    "voice": voice.parse,
    "sms": sms.parse,
    "whatsapp": whatsapp.parse,
    "social": social.parse,
    "portal": portal.parse,
}


def parse(adapter: str, raw: bytes, content_type: str, *, now: datetime) -> InboundMessage | None:
    """The message in `raw` for a connector of kind `adapter`; None when the payload is valid
    but carries no message (a delivery receipt); AdapterError naming the problem otherwise."""
    try:
        parser = PARSERS[adapter]
    except KeyError as exc:
        raise AdapterError("adapter", f"No adapter {adapter!r}.") from exc
    if not raw.strip():
        raise AdapterError("body", "The body is empty.")
    return parser(raw, content_type, now=now)


__all__ = ["PARSERS", "AdapterError", "FollowUp", "Identity", "InboundMessage", "parse"]
