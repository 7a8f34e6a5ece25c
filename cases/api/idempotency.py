"""`Idempotency-Key` on POST: the first response to a key is stored (24 h) and replayed for the
same caller, key and request; the same key with another request is a 422.

The record is inserted at the start of the request's transaction and filled with the response
before it commits (the view wraps the whole request in one transaction when the header is sent).
A concurrent request with the same key waits on the unique index until the first commits, then
replays its response; if the first fails (5xx) everything rolls back and the key stays free.
Keys are per client for API keys (`client:<id>`), per user for staff."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from ..models import IdempotencyRecord
from .authentication import request_api_key
from .exceptions import Unprocessable

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
STORED_HEADERS = ("ETag", "Location")


class Replay(Exception):
    """Raised to short-circuit a request whose response is already stored."""

    def __init__(self, response: HttpResponse):
        super().__init__("replay")
        self.response = response


def principal_of(request) -> tuple[str, int | None]:
    key = request_api_key(request)
    if key is not None:
        return f"client:{key.client_id}", key.client_id
    return f"user:{request.user.pk}", None


def _request_hash(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0")
    digest.update(request.get_full_path().encode())
    digest.update(b"\0")
    digest.update(request._request.body)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        record.response_body, status=record.status_code, content_type=record.content_type or None
    )
    for name, value in record.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def idempotency_begin(request) -> IdempotencyRecord | None:
    """Claim the request's key (inside the request's transaction) or raise Replay/422."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > 255 or not key.isprintable():
        raise ValidationError({HEADER: ["Send 1 to 255 printable characters, e.g. a UUID."]})
    principal, client_id = principal_of(request)
    request_hash = _request_hash(request)
    now = timezone.now()
    IdempotencyRecord.objects.filter(principal=principal, key=key, expires_at__lte=now).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                client_id=client_id,
                principal=principal,
                key=key,
                method=request.method,
                path=request.path[:500],
                request_hash=request_hash,
                expires_at=now + timedelta(seconds=settings.ACCORD_API_IDEMPOTENCY_SECONDS),
            )
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
    if record is None:  # pragma: no cover - the other request rolled back between our two statements
        raise Unprocessable("Retry this request.")
    if record.request_hash != request_hash:
        raise Unprocessable(
            f"This {HEADER} was already used with another request. Use a new key for a new request."
        )
    raise Replay(_replay(record))


def idempotency_finish(record: IdempotencyRecord, response) -> None:
    """Store the response in the claimed record (or give the key back on a server error)."""
    if response.status_code >= 500:
        transaction.set_rollback(True)
        return
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    record.status_code = response.status_code
    record.content_type = response.get("Content-Type", "")
    record.response_body = response.content.decode("utf-8", errors="replace")
    record.response_headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
    record.save(update_fields=["status_code", "content_type", "response_body", "response_headers"])


def idempotency_purge(*, now=None) -> int:
    """Delete expired records; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
