"""One JSON error envelope for every API error (RFC 9457 problem details):

    {"type": "/api/v1/errors/validation", "title": "Invalid input", "status": 400,
     "detail": "...", "errors": {"field": ["message", ...]}}

`exception_handler` is DRF's EXCEPTION_HANDLER; `api_404`/`api_500` give the same envelope for
errors raised outside DRF views on /api/ paths. ApplicationError from services becomes a 400
(409 for ConflictError) with its field errors.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ApplicationError, ConflictError

logger = logging.getLogger(__name__)
CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: ("validation", "Invalid input"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    412: ("precondition_failed", "Precondition failed"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("unprocessable", "Unprocessable request"),
    429: ("throttled", "Too many requests"),
    500: ("server_error", "Server error"),
}


def problem(status_code: int, detail: str, *, errors: dict | None = None, code: str | None = None) -> dict:
    """The envelope as a dict."""
    default_code, title = TITLES.get(status_code, ("error", "Error"))
    body = {
        "type": f"/api/v1/errors/{code or default_code}",
        "title": title,
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


def _flatten(data, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structures as {"field.sub": ["message"]}."""
    out: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in _flatten(value, name).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(data, list):
        if all(not isinstance(item, dict | list) for item in data):
            out[prefix or "non_field_errors"] = [str(item) for item in data]
        else:
            for index, item in enumerate(data):
                for field, messages in _flatten(
                    item, f"{prefix}[{index}]" if prefix else f"[{index}]"
                ).items():
                    out.setdefault(field, []).extend(messages)
    else:
        out[prefix or "non_field_errors"] = [str(data)]
    return out


def exception_handler(exc, context):
    """DRF exception handler producing the envelope for every error."""
    if isinstance(exc, ApplicationError):
        code = status.HTTP_409_CONFLICT if isinstance(exc, ConflictError) else status.HTTP_400_BAD_REQUEST
        return Response(
            problem(code, exc.message, errors=exc.field_errors or None),
            status=code,
            content_type=CONTENT_TYPE,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(problem(413, "The request body is too large."), status=413, content_type=CONTENT_TYPE)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response(
            problem(500, "The server failed to handle this request."), status=500, content_type=CONTENT_TYPE
        )
    if isinstance(exc, exceptions.ValidationError):
        body = problem(
            response.status_code, "The request has invalid fields.", errors=_flatten(response.data)
        )
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else str(response.data)
        body = problem(response.status_code, str(detail))
    response.data = body
    response.content_type = CONTENT_TYPE
    return response


def api_404(request, exception=None):
    return JsonResponse(problem(404, "No such resource."), status=404, content_type=CONTENT_TYPE)


def api_500(request):
    return JsonResponse(
        problem(500, "The server failed to handle this request."), status=500, content_type=CONTENT_TYPE
    )
