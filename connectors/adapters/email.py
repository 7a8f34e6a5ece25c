"""E-mail: a raw RFC 822 / MIME message (stdlib `email`, policy=default).

- From (address and display name), To, Subject (encoded words decoded), Date;
- Message-ID is the external id and the thread key (without angle brackets); In-Reply-To and
  References are the thread references that join the open case;
- text/plain preferred; HTML-only mail converted to text, the HTML kept sanitized (nh3);
- charsets decoded (an unknown charset is read as UTF-8 with replacement characters);
- attachments recorded as metadata (file name, type, size), never stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from .base import AdapterError, Identity, InboundMessage, digest, html_to_text, sanitize_html

_MSGID = re.compile(r"<([^<>\s]+)>")
MAX_BODY_CHARS = 100_000


def message_ids(value: str | None) -> list[str]:
    """The message ids in a Message-ID / In-Reply-To / References header, without brackets."""
    if not value:
        return []
    found = _MSGID.findall(str(value))
    if not found and str(value).strip() and " " not in str(value).strip():
        found = [str(value).strip()]
    return found


def _header(message: EmailMessage, name: str):
    try:
        return message[name]
    except (IndexError, ValueError, TypeError) as exc:  # unparsable structured header
        raise AdapterError(name.lower(), f"Malformed {name} header: {exc}.") from exc


def _part_text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return content


def _attachments(message: EmailMessage) -> list[dict]:
    items = []
    for part in message.iter_attachments():
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:  # a broken transfer encoding still lists the attachment
            payload = b""
        items.append(
            {
                "filename": part.get_filename() or "",
                "content_type": part.get_content_type(),
                "size": len(payload),
                "content_id": (part.get("Content-ID") or "").strip("<> "),
            }
        )
    return items


def _date(message: EmailMessage, now: datetime) -> datetime:
    raw = message.get("Date")
    if not raw:
        return now
    try:
        moment = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError):
        return now
    if moment is None:
        return now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    # Clocks start when the message was sent, but never from the future.
    return min(moment, now) if moment > now + timedelta(minutes=5) else moment


def parse(raw: bytes, content_type: str = "", *, now: datetime) -> InboundMessage:
    try:
        message: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the stdlib parser is lenient; this is a truly broken message
        raise AdapterError("body", f"Malformed MIME message: {exc}.") from exc
    if not message.keys():
        raise AdapterError("body", "Malformed MIME message: no headers found.")
    sender = _header(message, "From")
    addresses = getattr(sender, "addresses", ()) if sender is not None else ()
    address = next((a for a in addresses if a.addr_spec and "@" in a.addr_spec), None)
    if address is None:
        raise AdapterError("from", "The message has no usable From address.")
    to_header = _header(message, "To")
    recipients = [a.addr_spec for a in getattr(to_header, "addresses", ()) if a.addr_spec]
    subject = str(_header(message, "Subject") or "").strip()
    own_ids = message_ids(_header(message, "Message-ID"))
    external_id = own_ids[0] if own_ids else digest(raw)
    in_reply_to = message_ids(_header(message, "In-Reply-To"))
    references = message_ids(_header(message, "References"))
    refs = tuple(dict.fromkeys([external_id, *in_reply_to, *reversed(references)]))

    body_part = message.get_body(preferencelist=("plain", "html"))
    html = ""
    if body_part is None:
        text = ""
    elif body_part.get_content_subtype() == "html":
        html = _part_text(body_part)
        text = html_to_text(html)
    else:
        text = _part_text(body_part).replace("\r\n", "\n").strip()
        html_part = message.get_body(preferencelist=("html",))
        if html_part is not None and html_part is not body_part:
            html = _part_text(html_part)
    metadata = {
        "message_id": external_id,
        "from": address.addr_spec,
        "to": recipients,
        "subject": subject,
        "in_reply_to": in_reply_to[0] if in_reply_to else "",
        "references": references,
        "attachments": _attachments(message),
        "charset": (body_part.get_content_charset() if body_part is not None else None) or "",
    }
    if html:
        metadata["html"] = sanitize_html(html)
    reply_to = _header(message, "Reply-To")
    reply_addresses = [a.addr_spec for a in getattr(reply_to, "addresses", ()) if a.addr_spec]
    if reply_addresses:
        metadata["reply_to"] = reply_addresses[0]
    return InboundMessage(
        channel="email",
        external_id=external_id[:255],
        occurred_at=_date(message, now),
        identities=(Identity("email", address.addr_spec),),
        display_name=str(address.display_name or "")[:200],
        subject=subject,
        body=text[:MAX_BODY_CHARS],
        thread_key=external_id[:255],
        thread_refs=tuple(ref[:255] for ref in refs),
        language=str(message.get("Content-Language") or "").split(",")[0].strip(),
        metadata=metadata,
    )
