"""E-mail: a raw RFC 822 / MIME message (stdlib `email`, policy=default).

- From (address and display name), To, Cc, Reply-To, Subject (encoded words decoded), Date;
- Message-ID is the external id and the thread key (without angle brackets); In-Reply-To and
  References are the thread references that join the open case;
- text/plain preferred; HTML-only mail converted to text, the HTML kept sanitized (nh3);
- charsets decoded (an unknown charset is read as UTF-8 with replacement characters);
- a reply's body is what the customer wrote: the quoted history under it ("On ... wrote:",
  "-----Original Message-----", in the languages mail-parser-reply knows) is cut off, the whole
  text kept as `metadata["quoted_text"]`; a forward keeps its forwarded message;
- attachments listed as metadata (file name, type, size) and handed over as files (kept with
  the case by the ingestion, up to a size);
- mail a program sent rather than a person (RFC 3834: an out-of-office or vacation reply, a
  mail-system notice) is marked `automatic`, with what gave it away, and comes from the system,
  not the customer: it joins a case it belongs to without counting as the customer writing
  (no SLA clock moves, a pending case stays pending) and never opens one;
- a report (multipart/report: a bounce, RFC 3464, or a read receipt, RFC 8098) carries no
  message: `receipts` reads what it says of the reply it names (failed, delivered, read).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from mailparser_reply import EmailReplyParser

from .base import (
    CUSTOMER,
    SYSTEM,
    AdapterError,
    Identity,
    InboundFile,
    InboundMessage,
    Receipt,
    digest,
    html_to_text,
    sanitize_html,
)

_MSGID = re.compile(r"<([^<>\s]+)>")
MAX_BODY_CHARS = 100_000
# Where a reply's own words are looked for: its head. The quoted history starts there on a
# top-posted reply; a message that shows none in its head is kept whole (and the parser's work
# bounded whatever the size).
REPLY_HEAD_CHARS = 20_000
_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|wg|tr|rv|i)\s*:", re.IGNORECASE)
# The languages of the quote headers recognised (mail-parser-reply's, all but its test one).
REPLY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pl", "sv", "da", "cs", "ja", "ko", "zh")


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


def _attachments(message: EmailMessage) -> tuple[list[dict], tuple[InboundFile, ...]]:
    """The message's attachments as metadata (name, type, size), and their files."""
    items, files = [], []
    for part in message.iter_attachments():
        try:
            if part.get_content_type() == "message/rfc822":  # a forwarded message, attached
                inner = part.get_payload()
                payload = inner[0].as_bytes() if isinstance(inner, list) and inner else b""
            else:
                payload = part.get_payload(decode=True) or b""
        except Exception:  # a broken transfer encoding still lists the attachment
            payload = b""
        filename = part.get_filename() or ""
        items.append(
            {
                "filename": filename,
                "content_type": part.get_content_type(),
                "size": len(payload),
                "content_id": (part.get("Content-ID") or "").strip("<> "),
            }
        )
        files.append(InboundFile(filename, part.get_content_type(), payload))
    return items, tuple(files)


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


# Headers by which a program's mail names itself (RFC 3834 and the de facto ones of vacation
# programs and mail servers), with the values that do not: header -> values meaning "a person".
_AUTOMATIC_HEADERS = {
    "Auto-Submitted": {"no"},
    "X-Autoreply": {"no", "false"},
    "X-Autorespond": {"no", "false"},
    "X-Autogenerated": {"no", "false"},
}
_AUTOMATIC_PRECEDENCE = {"auto_reply", "bulk", "junk"}
# Mailboxes of the mail system itself (bounces that are not multipart/report).
_SYSTEM_SENDERS = {"mailer-daemon", "postmaster"}


@functools.cache
def _reply_parser() -> EmailReplyParser:
    return EmailReplyParser(languages=list(REPLY_LANGUAGES))


def latest_reply(text: str) -> str:
    """What the sender wrote in a reply, without the quoted history under it: `text` itself when
    its head shows no quote header, or when nothing would be left."""
    head = text[:REPLY_HEAD_CHARS]
    own = _reply_parser().parse_reply(text=head).strip()
    if not own or own == head.strip():
        return text
    return own


def _read(raw: bytes) -> EmailMessage:
    try:
        message: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the stdlib parser is lenient; this is a truly broken message
        raise AdapterError("body", f"Malformed MIME message: {exc}.") from exc
    if not message.keys():
        raise AdapterError("body", "Malformed MIME message: no headers found.")
    return message


def _is_report(message: EmailMessage) -> bool:
    return message.get_content_type() == "multipart/report"


def automatic_reason(message: EmailMessage, sender: str) -> str:
    """What shows that a program sent `message` ("" for a person's mail): the header and its
    value, a null return path, or the mail system's own mailbox."""
    for name, personal in _AUTOMATIC_HEADERS.items():
        value = str(message.get(name) or "").strip()
        if value and value.split(";")[0].strip().lower() not in personal:
            return f"{name}: {value}"[:120]
    precedence = str(message.get("Precedence") or "").strip().lower()
    if precedence in _AUTOMATIC_PRECEDENCE:
        return f"Precedence: {precedence}"
    if str(message.get("Return-Path") or "").strip() == "<>":
        return "Return-Path: <> (a mail-system notice)"
    if sender.partition("@")[0].lower() in _SYSTEM_SENDERS:
        return f"sent by {sender}"
    return ""


def parse(raw: bytes, content_type: str = "", *, now: datetime) -> InboundMessage | None:
    message = _read(raw)
    if _is_report(message):
        return None  # a bounce or a read receipt: see `receipts`
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
    quoted_text = ""
    if (in_reply_to or references) and not _FORWARD_SUBJECT.match(subject):
        own = latest_reply(text)
        if own != text:
            text, quoted_text = own, text
    attachments, files = _attachments(message)
    metadata = {
        "message_id": external_id,
        "from": address.addr_spec,
        "to": recipients,
        "subject": subject,
        "in_reply_to": in_reply_to[0] if in_reply_to else "",
        "references": references,
        "attachments": attachments,
        "charset": (body_part.get_content_charset() if body_part is not None else None) or "",
    }
    if html:
        metadata["html"] = sanitize_html(html)
    if quoted_text:
        metadata["quoted_text"] = quoted_text[:MAX_BODY_CHARS]
    reply_to = _header(message, "Reply-To")
    reply_addresses = [a.addr_spec for a in getattr(reply_to, "addresses", ()) if a.addr_spec]
    if reply_addresses:
        metadata["reply_to"] = reply_addresses[0]
    cc_header = _header(message, "Cc")
    copied = [a.addr_spec for a in getattr(cc_header, "addresses", ()) if a.addr_spec and "@" in a.addr_spec]
    if copied:
        metadata["cc"] = copied[:50]
    automatic = automatic_reason(message, address.addr_spec)
    if automatic:
        metadata["automatic"] = automatic
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
        author_kind=SYSTEM if automatic else CUSTOMER,
        automatic=automatic,
        files=files,
    )


# --- Reports: bounces (RFC 3464) and read receipts (RFC 8098) -----------------------------------

# A delivery status notification's Action, per recipient -> the reply's delivery state. "delayed"
# (still trying) and "relayed"/"expanded" (passed on, no word yet) say nothing final.
_DSN_ACTION = {"failed": "failed", "delivered": "delivered"}


def receipts(raw: bytes, content_type: str = "") -> list[Receipt]:
    """What a report says of the message it is about (none for any other mail): a bounce fails
    it, with the status and the server's words; a successful delivery report delivers it; a
    read receipt reads it. The message is named by its Message-ID, without brackets."""
    message = _read(raw)
    if not _is_report(message):
        return []
    report_type = str(message.get_param("report-type") or "").lower()
    parts = list(message.iter_parts())
    if report_type == "delivery-status":
        original = _original_message_id(parts)
        status = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
        if not original or status is None:
            return []
        return [r for block in _blocks(status) if (r := _dsn_receipt(original, block)) is not None][:1]
    if report_type == "disposition-notification":
        notice = next((p for p in parts if p.get_content_type() == "message/disposition-notification"), None)
        if notice is None:
            return []
        fields = _blocks(notice)
        block = fields[0] if fields else None
        original = next(iter(message_ids(block.get("Original-Message-ID") if block else None)), "")
        if not original:
            original = _original_message_id(parts)
        disposition = str(block.get("Disposition") or "").lower() if block else ""
        if original and disposition.rstrip().endswith("displayed"):
            return [Receipt(original[:255], "read")]
    return []


def _blocks(part: EmailMessage) -> list:
    """The header blocks of a message/delivery-status or message/disposition-notification part:
    the per-message one, then one per recipient."""
    payload = part.get_payload()
    return payload if isinstance(payload, list) else []


def _original_message_id(parts: list[EmailMessage]) -> str:
    """The Message-ID of the message a report returns (its headers or the whole message)."""
    for part in parts:
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            found = message_ids(inner.get("Message-ID")) if hasattr(inner, "get") else []
        elif kind == "text/rfc822-headers":
            headers = BytesParser(policy=policy.default).parsebytes(
                _part_text(part).encode("utf-8", errors="replace"), headersonly=True
            )
            found = message_ids(headers.get("Message-ID"))
        else:
            continue
        if found:
            return found[0]
    return ""


def _dsn_receipt(original: str, block) -> Receipt | None:
    delivery = _DSN_ACTION.get(str(block.get("Action") or "").strip().lower())
    if delivery is None:
        return None
    if delivery != "failed":
        return Receipt(original[:255], delivery)
    recipient = str(block.get("Final-Recipient") or "").partition(";")[2].strip()
    status = str(block.get("Status") or "").strip()
    diagnostic = " ".join(str(block.get("Diagnostic-Code") or "").partition(";")[2].split())
    detail = f"bounced{f' by {recipient}' if recipient else ''}: {status or 'failed'}"
    return Receipt(original[:255], delivery, (detail + (f" ({diagnostic})" if diagnostic else ""))[:500])
