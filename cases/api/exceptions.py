"""API errors beyond DRF's own; each becomes the one problem+json envelope (config.api_errors)."""

from collections.abc import Iterator
from contextlib import contextmanager

from rest_framework import status
from rest_framework.exceptions import APIException

from config.errors import ConflictError


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource changed since you read it (If-Match does not match). Reload it."
    default_code = "precondition_failed"


@contextmanager
def conflict_as_precondition(precondition: bool) -> Iterator[None]:
    """A ConflictError raised inside: a 412 when the request set a precondition (If-Match,
    If-None-Match), else it stays a 409."""
    try:
        yield
    except ConflictError as exc:
        if precondition:
            raise PreconditionFailed(exc.message) from exc
        raise


class Unprocessable(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"
