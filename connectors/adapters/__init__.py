"""Inbound adapters, one module per channel: native payload bytes -> one `InboundMessage`.

`parse(adapter, raw, content_type, now=...)` dispatches by the connector's adapter kind;
`parse_all` also reads a payload that batches several messages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from . import chat, email, portal, sms, social, voice, whatsapp
from .base import AdapterError, FollowUp, Identity, InboundMessage, Receipt

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


# Adapters whose payloads may batch several messages: they read them all.
BATCH_PARSERS: dict[str, Callable[..., list[InboundMessage]]] = {
    "whatsapp": whatsapp.parse_all,
    "social": social.parse_all,
}


# What an adapter meeting a payload of an unexpected shape raises (a string where an object
# was expected, an empty list, a number too large): the payload is unreadable, said as such.
_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError)


def _shape_error(exc: Exception) -> AdapterError:
    return AdapterError(
        "body", f"The payload does not have the expected shape ({type(exc).__name__}: {exc})."
    )


def parse_all(adapter: str, raw: bytes, content_type: str, *, now: datetime) -> list[InboundMessage]:
    """Every message in `raw`, in order: one for most payloads, none for a delivery receipt,
    several for a batched WhatsApp webhook; AdapterError naming the problem otherwise."""
    try:
        if adapter in BATCH_PARSERS and raw.strip():
            return BATCH_PARSERS[adapter](raw, content_type, now=now)
        message = parse(adapter, raw, content_type, now=now)
    except AdapterError:
        raise
    except _SHAPE_ERRORS as exc:
        raise _shape_error(exc) from exc
    return [message] if message is not None else []


# Adapters whose payloads may carry receipts for messages sent (delivery status callbacks).
RECEIPT_READERS: dict[str, Callable[..., list[Receipt]]] = {
    "email": email.receipts,
    "sms": sms.receipts,
    "whatsapp": whatsapp.receipts,
}


def receipts(adapter: str, raw: bytes, content_type: str) -> list[Receipt]:
    """The receipts in a payload that carries no message (none when it is not one)."""
    reader = RECEIPT_READERS.get(adapter)
    if reader is None:
        return []
    try:
        return reader(raw, content_type)
    except (AdapterError, *_SHAPE_ERRORS):
        return []


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


__all__ = [
    "PARSERS",
    "AdapterError",
    "FollowUp",
    "Identity",
    "InboundMessage",
    "Receipt",
    "parse",
    "parse_all",
    "receipts",
]
