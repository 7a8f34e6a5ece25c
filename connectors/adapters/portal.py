"""Portal: a self-service web form, posted as a form or JSON: ``email`` and ``body`` (or
``message``) required; ``name``, ``subject``, ``submission_id``, ``language``, ``submitted_at``
optional. Without a submission id the payload's digest dedupes re-deliveries."""

from __future__ import annotations

from datetime import datetime

from .base import Identity, InboundMessage, digest, load_form_or_json, parse_time, require, text_of


def parse(raw: bytes, content_type: str = "", *, now: datetime) -> InboundMessage:
    data = load_form_or_json(raw, content_type)
    email = str(require(data, "email"))
    body = text_of(str(data.get("body") or data.get("message") or ""))
    if not body:
        require(data, "body")
    submission = str(data.get("submission_id") or "") or digest(raw)
    subject = str(data.get("subject") or "").strip()
    submitted = data.get("submitted_at")
    return InboundMessage(
        channel="portal",
        external_id=submission[:255],
        occurred_at=parse_time(submitted, "submitted_at", now=now) if submitted else now,
        identities=(Identity("email", email),),
        display_name=str(data.get("name") or "")[:200],
        subject=subject or body[:120],
        body=body,
        language=str(data.get("language") or ""),
        metadata={"submission_id": submission, "form": str(data.get("form") or ""), "email": email},
    )
