"""The normalized inbound message every adapter produces, and helpers shared by adapters.
Adapters are pure: bytes in, one `InboundMessage` out (or None for a payload that carries no
message), `AdapterError` naming the problem otherwise. No ORM, no settings."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs

import nh3

INBOUND = "inbound"
OUTBOUND = "outbound"
NOTE = "note"
CUSTOMER = "customer"
AGENT = "agent"
BOT = "bot"
SYSTEM = "system"

# Tags kept when HTML is stored for display (the agent UI shows it; everything else is dropped,
# including scripts, styles, event handlers and javascript: URLs).
SAFE_TAGS = {
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "i", "li", "ol",
    "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
SAFE_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
MAX_HTML_CHARS = 200_000


class AdapterError(ValueError):
    """A payload that cannot be read: `field` names the offending part."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Identity:
    kind: str  # cases.choices.IdentityKind value
    value: str  # raw; normalized by the ingestion service


@dataclass(frozen=True)
class FollowUp:
    """A further interaction the same payload records (a voice call's answer by an agent)."""

    external_id: str
    occurred_at: datetime
    direction: str
    author_kind: str
    body: str = ""
    actor_label: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundFile:
    """A file that came with a message (an e-mail attachment), as its sender named it."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class InboundMessage:
    """One contact, whatever the channel. `identities[0]` is the sender's primary identity.
    `thread_key` is stored on the interaction; `thread_refs` are the keys that join an open
    case (the message's own key plus what it replies to)."""

    channel: str
    external_id: str
    occurred_at: datetime
    identities: tuple[Identity, ...]
    display_name: str = ""
    subject: str = ""
    body: str = ""
    direction: str = INBOUND
    author_kind: str = CUSTOMER
    actor_label: str = ""
    thread_key: str = ""
    thread_refs: tuple[str, ...] = ()
    language: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    follow_ups: tuple[FollowUp, ...] = ()
    # Why a program, not a person, sent it ("" for a person's message): an out-of-office reply
    # joins the case it belongs to without counting as the customer writing, and opens none.
    automatic: str = ""
    # The files that came with it, in the order `metadata["attachments"]` lists them.
    files: tuple[InboundFile, ...] = ()


def sanitize_html(html: str) -> str:
    """HTML reduced to an allow-list of tags and attributes (nh3), safe to show."""
    return nh3.clean(
        html[:MAX_HTML_CHARS],
        tags=SAFE_TAGS,
        attributes=SAFE_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


_BLOCK_END = re.compile(r"(?i)<\s*(br\s*/?|/p|/div|/li|/tr|/h[1-6]|/blockquote|/pre|/table|hr\s*/?)\s*>")
_BLANKS = re.compile(r"\n[ \t]*\n[\s]*")
_SPACES = re.compile(r"[ \t\r\f\v]+")


_PRE = re.compile(r"(?is)(<pre\b.*?</pre\s*>)")
_SOURCE_SPACE = re.compile(r"\s+")


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document: scripts and styles dropped, block ends as
    line breaks, entities decoded. The source's own line breaks are spaces, as a browser shows
    them (but in <pre>): `<br>` and a newline after it make one line break, not two."""
    parts = _PRE.split(html[:MAX_HTML_CHARS])
    html = "".join(part if i % 2 else _SOURCE_SPACE.sub(" ", part) for i, part in enumerate(parts))
    marked = _BLOCK_END.sub("\n", html)
    text = unescape(nh3.clean(marked, tags=set(), attributes={}))
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


def text_of(value: str) -> str:
    """A message text as plain text: HTML (if it looks like HTML) converted, else trimmed."""
    value = (value or "").replace("\r\n", "\n").strip()
    if _TAG.search(value):
        return html_to_text(value)
    return value


@dataclass(frozen=True)
class Receipt:
    """A channel's word on a message sent through it: the message's id on the channel and what
    became of it (sent, delivered, read or failed, with why)."""

    message_id: str
    status: str
    detail: str = ""


def digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def load_json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AdapterError("body", f"The body is not UTF-8: {exc.reason} at byte {exc.start}.") from exc
    except json.JSONDecodeError as exc:
        raise AdapterError(
            "body", f"Malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc
    if not isinstance(data, dict):
        raise AdapterError("body", "The body is a JSON object.")
    return data


def load_form_or_json(raw: bytes, content_type: str) -> dict[str, Any]:
    """A form post (application/x-www-form-urlencoded) or a JSON object, by content type."""
    if "json" in (content_type or "").lower() or raw.lstrip()[:1] == b"{":
        return load_json(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AdapterError("body", f"The form body is not UTF-8: {exc.reason}.") from exc
    parsed = parse_qs(text, keep_blank_values=True)
    if not parsed:
        raise AdapterError("body", "The body is neither a form post nor a JSON object.")
    return {key: values[-1] for key, values in parsed.items()}


def require(data: dict[str, Any], key: str, *, label: str | None = None) -> Any:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise AdapterError(label or key, f"Missing required field {label or key!r}.")
    return value


def mapping(data: dict[str, Any], key: str, *, label: str | None = None) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise AdapterError(label or key, f"Missing required object {label or key!r}.")
    return value


def parse_time(value: Any, field_name: str, *, now: datetime) -> datetime:
    """An ISO 8601 time with offset (or Z), or Unix seconds/milliseconds, as aware UTC.
    A time more than 5 minutes in the future is taken as now (senders' clocks drift)."""
    if value is None or value == "":
        raise AdapterError(field_name, f"Missing required field {field_name!r}.")
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            number = float(value)
            if number > 1e11:  # milliseconds
                number /= 1000
            moment = datetime.fromtimestamp(number, tz=UTC)
        else:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError) as exc:
        raise AdapterError(field_name, f"{field_name!r} is not a time: {value!r}.") from exc
    if moment.tzinfo is None:
        raise AdapterError(field_name, f"{field_name!r} needs a UTC offset: {value!r}.")
    moment = moment.astimezone(UTC)
    return min(moment, now + timedelta(minutes=5)) if moment > now else moment


def clip(text: str, length: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"
