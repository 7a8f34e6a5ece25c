"""WhatsApp: a WhatsApp Cloud API webhook (``object: whatsapp_business_account``,
``entry[].changes[].value.messages[]`` with ``contacts[].profile.name``). Meta may batch several
messages in one webhook (`parse_all`); a payload carrying only delivery statuses has none (it is
stored as ignored)."""

from __future__ import annotations

from datetime import datetime

from .base import (
    CUSTOMER,
    SYSTEM,
    AdapterError,
    Identity,
    InboundMessage,
    Receipt,
    load_json,
    parse_time,
    require,
    text_of,
)


def _text(message: dict) -> str:
    """The message as text. A type without text of its own (a reaction, shared contacts, one
    WhatsApp adds later...) is still the customer writing: it is ingested with its type named,
    never refused (a refusal would leave the contact out of the case)."""
    kind = str(message.get("type") or "unknown")
    if kind == "text":
        return str((message.get("text") or {}).get("body") or "")
    if kind in ("image", "video", "document", "audio", "sticker"):
        media = message.get(kind) or {}
        caption = media.get("caption") or media.get("filename") or ""
        return f"[{kind}] {caption}".strip()
    if kind == "button":
        return str((message.get("button") or {}).get("text") or "")
    if kind == "interactive":
        reply = message.get("interactive") or {}
        chosen = reply.get("button_reply") or reply.get("list_reply") or {}
        return str(chosen.get("title") or "")
    if kind == "location":
        location = message.get("location") or {}
        where = f"{location.get('latitude')},{location.get('longitude')}"
        return " ".join(part for part in ("[location]", location.get("name"), where) if part)
    if kind == "reaction":
        return f"[reaction] {(message.get('reaction') or {}).get('emoji') or 'removed'}"
    if kind == "contacts":
        shared = message.get("contacts") or []
        names = [str((contact.get("name") or {}).get("formatted_name") or "") for contact in shared]
        return f"[contacts] {', '.join(name for name in names if name)}".strip()
    if kind == "system":
        return f"[system] {(message.get('system') or {}).get('body') or ''}".strip()
    return f"[{kind} message]"


def parse_all(raw: bytes, content_type: str = "", *, now: datetime) -> list[InboundMessage]:
    """Every message of the webhook, in order: Meta may batch several (from several customers,
    even to several numbers) in one delivery; none when it carries delivery statuses only."""
    data = load_json(raw)
    if data.get("object") != "whatsapp_business_account":
        raise AdapterError(
            "object", "Not a WhatsApp Cloud API webhook (object must be whatsapp_business_account)."
        )
    entries = data.get("entry")
    if not isinstance(entries, list) or not entries:
        raise AdapterError("entry", "Missing required list 'entry'.")
    result = []
    for entry in entries:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            names = {
                str(contact.get("wa_id")): str((contact.get("profile") or {}).get("name") or "")
                for contact in value.get("contacts") or []
            }
            to = str((value.get("metadata") or {}).get("display_phone_number") or "")
            for message in value.get("messages") or []:
                result.append(_message(message, f"messages[{len(result)}]", names, to, now))
    return result


def parse(raw: bytes, content_type: str = "", *, now: datetime) -> InboundMessage | None:
    """The webhook's one message (None: statuses only); AdapterError for a batch of several,
    which `parse_all` reads."""
    messages = parse_all(raw, content_type, now=now)
    if len(messages) > 1:
        raise AdapterError("messages", "This payload carries several messages.")
    return messages[0] if messages else None


def _message(message: dict, label: str, names: dict[str, str], to: str, now: datetime) -> InboundMessage:
    message_id = str(require(message, "id", label=f"{label}.id"))
    sender = str(require(message, "from", label=f"{label}.from"))
    body = text_of(_text(message))
    context = message.get("context") or {}
    # A system notice (the customer changed number) is WhatsApp's, not the customer writing.
    automatic = ""
    if message.get("type") == "system":
        automatic = f"WhatsApp system notice ({(message.get('system') or {}).get('type') or 'unknown'})"
    return InboundMessage(
        channel="whatsapp",
        external_id=message_id,
        occurred_at=parse_time(message.get("timestamp"), f"{label}.timestamp", now=now),
        identities=(Identity("phone", "+" + sender.lstrip("+")),),
        display_name=names.get(sender, "")[:200],
        subject=body[:120] or "WhatsApp message",
        body=body,
        metadata={
            "message_id": message_id,
            "from": sender,
            "to": to,
            "type": message.get("type"),
            "in_reply_to": context.get("id") or "",
            **({"automatic": automatic} if automatic else {}),
        },
        author_kind=SYSTEM if automatic else CUSTOMER,
        automatic=automatic,
    )


def receipts(raw: bytes, content_type: str = "") -> list[Receipt]:
    """The statuses of the webhook: Meta's word on messages sent (sent, delivered, read, failed
    with its errors' titles)."""
    result = []
    for entry in load_json(raw).get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            for status in ((change or {}).get("value") or {}).get("statuses") or []:
                state, message_id = str(status.get("status") or ""), str(status.get("id") or "")
                if not message_id or state not in ("sent", "delivered", "read", "failed"):
                    continue
                why = "; ".join(
                    str(error.get("title") or error.get("code")) for error in status.get("errors") or []
                )
                result.append(Receipt(message_id, state, why))
    return result
