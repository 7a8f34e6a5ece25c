"""SMS: a Twilio-style inbound message webhook (form post; JSON with the same keys accepted):
``MessageSid``, ``From``, ``To``, ``Body``, ``NumMedia`` and ``MediaUrl0``... The sender's
number is the identity; the conversation continues through the continuation window. A status
callback for a message sent is a receipt: no message (stored as ignored)."""

from __future__ import annotations

from datetime import datetime

from .base import Identity, InboundMessage, Receipt, load_form_or_json, require, text_of

# A status callback (Twilio posts one per state of a message sent, to this URL when configured
# so) carries a MessageStatus other than "received" and no text: a receipt, nothing to ingest.
# Its delivery state, for the states a reply's delivery records (the others: still on its way).
RECEIPT_DELIVERY = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}
RECEIPT_STATUSES = frozenset({"accepted", "queued", "sending", *RECEIPT_DELIVERY})


def parse(raw: bytes, content_type: str = "", *, now: datetime) -> InboundMessage | None:
    data = load_form_or_json(raw, content_type)
    sid = str(require(data, "MessageSid"))
    if str(data.get("MessageStatus") or "").lower() in RECEIPT_STATUSES and not data.get("Body"):
        return None
    sender = str(require(data, "From"))
    body = text_of(str(data.get("Body") or ""))
    try:
        media_count = int(data.get("NumMedia") or 0)
    except ValueError:
        media_count = 0
    media = [str(data[f"MediaUrl{i}"]) for i in range(media_count) if data.get(f"MediaUrl{i}")]
    if not body and not media:
        require(data, "Body")
    return InboundMessage(
        channel="sms",
        external_id=sid,
        occurred_at=now,
        identities=(Identity("phone", sender),),
        subject=body[:120] or "SMS",
        body=body or f"[{len(media)} media attachment(s)]",
        metadata={"message_id": sid, "from": sender, "to": str(data.get("To") or ""), "media": media},
    )


def receipts(raw: bytes, content_type: str = "") -> list[Receipt]:
    """A status callback's word on the message it names (none while the message is on its way)."""
    data = load_form_or_json(raw, content_type)
    status = str(data.get("MessageStatus") or "").lower()
    sid = str(data.get("MessageSid") or "")
    if not sid or data.get("Body"):
        return []
    delivery = RECEIPT_DELIVERY.get(status)
    if delivery is None:
        return []
    if delivery != "failed":
        return [Receipt(sid, delivery)]
    code = data.get("ErrorCode") or ""
    return [Receipt(sid, delivery, status + (f" (error {code})" if code else ""))]
