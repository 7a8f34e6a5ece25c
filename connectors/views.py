"""The inbound endpoint: `POST /api/v1/connectors/<slug>/events`.

Thin: find the connector, check the size, the signature and the connector's state, hand the
raw bytes to `services.inbound_receive`, shape the answer. Every error is the API's problem
envelope (config.api_errors). Checks run in this order, and each refusal writes nothing:
unknown connector 404, body over the limit 413, signature missing/bad/outside the tolerance
401, inactive connector 403.
"""

from __future__ import annotations

import contextlib
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from config.api_errors import CONTENT_TYPE, problem

from . import selectors, services, signing


def _problem(status: int, detail: str, *, errors: dict | None = None, code: str | None = None, **extra):
    body = problem(status, detail, errors=errors, code=code)
    body.update(extra)
    response = JsonResponse(body, status=status, content_type=CONTENT_TYPE)
    if status == 401:
        response["WWW-Authenticate"] = 'HMAC-SHA256 realm="accord-connectors"'
    return response


@csrf_exempt
def inbound_events(request, slug: str):
    if request.method != "POST":
        response = _problem(405, "Send events with POST.")
        response["Allow"] = "POST"
        return response
    connector = selectors.connector_for_inbound(slug=slug)
    if connector is None:
        return _problem(404, f"No connector {slug!r}.")
    limit = _body_limit()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _problem(400, "Content-Length is not a number.")
    raw = None
    if declared <= limit:
        with contextlib.suppress(RequestDataTooBig):
            raw = request.body
    if raw is None or len(raw) > limit:
        return _problem(413, f"The body is over the limit of {limit} bytes.")
    now = time.time()
    try:
        signing.verify(
            secrets=services.connector_secrets(connector, now=_aware(now)),
            timestamp_header=request.headers.get(signing.TIMESTAMP_HEADER),
            signature_header=request.headers.get(signing.SIGNATURE_HEADER),
            body=raw,
            now=now,
            tolerance_seconds=settings.ACCORD_CONNECTOR_SIGNATURE_TOLERANCE_SECONDS,
        )
    except signing.SignatureError as exc:
        return _problem(401, str(exc), code="bad_signature")
    if not connector.is_active:
        return _problem(403, f"Connector {slug!r} is inactive.", code="connector_inactive")
    result = services.inbound_receive(
        connector=connector, raw=raw, content_type=request.META.get("CONTENT_TYPE", "")
    )
    batch = {"messages": [_outcome(part) for part in result.parts]} if result.parts else {}
    if result.outcome == "failed":
        code = {400: "bad_payload", 422: "unprocessable"}.get(result.http_status)
        event_id = result.event.pk if result.event else None
        return _problem(
            result.http_status,
            result.detail,
            errors=result.errors,
            code=code,
            inbound_event=event_id,
            **batch,
        )
    return JsonResponse({**_outcome(result), **batch}, status=result.http_status)


def _outcome(result: services.ReceiveResult) -> dict:
    """A message's answer: what became of it, its raw event, and the case and interaction."""
    body = {"status": result.outcome, "detail": result.detail}
    body["inbound_event"] = result.event.pk if result.event else None
    if result.case is not None:
        body["case"] = str(result.case.public_id)
    if result.interaction is not None:
        body["interaction"] = str(result.interaction.public_id)
    return body


def _body_limit() -> int:
    """The connector limit, or Django's own (DATA_UPLOAD_MAX_MEMORY_SIZE) where that is lower:
    Django refuses to read a body over it."""
    limit = settings.ACCORD_CONNECTOR_MAX_BODY_BYTES
    django_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit if django_limit is None else min(limit, django_limit)


def _aware(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC)
