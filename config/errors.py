"""The one application error type. Services raise it for anything a user did wrong; the
admin, the API and the agent UI turn it into a clear message and change nothing."""

from __future__ import annotations


class ApplicationError(Exception):
    """A refused request: `message` for people, `field_errors` naming the offending fields."""

    code = "invalid"

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}

    @classmethod
    def for_field(cls, field: str, message: str) -> ApplicationError:
        return cls(message, field_errors={field: [message]})


class ConflictError(ApplicationError):
    """The object changed since the caller read it (optimistic locking)."""

    code = "conflict"
