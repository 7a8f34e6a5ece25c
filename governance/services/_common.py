"""Helpers shared by the governance services."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from cases.access import user_serves_client
from cases.choices import Role
from config.errors import ApplicationError

HISTORY_REASON_CHARS = 100  # simple-history's change reason column


def now_or(value: datetime | None, field: str = "at") -> datetime:
    if value is None:
        return timezone.now()
    if timezone.is_naive(value):
        raise ApplicationError.for_field(field, "Give a time with its UTC offset.")
    return value


def is_user(actor: Any) -> bool:
    return actor is not None and hasattr(actor, "pk") and hasattr(actor, "is_authenticated")


def text_required(value: str, field: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ApplicationError.for_field(field, message)
    return value


def has_role(user: Any, role: str) -> bool:
    """Superusers hold every role."""
    if not is_user(user) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=role).exists()


def require_serves(user: Any, client_id: int, field: str = "actor") -> None:
    if not is_user(user) or not user_serves_client(user, client_id):
        raise ApplicationError.for_field(field, "This user does not serve this client.")


def require_governance(user: Any, client_id: int, what: str) -> None:
    """`user` has the governance role and serves the client, or ApplicationError."""
    require_serves(user, client_id)
    if not has_role(user, Role.GOVERNANCE):
        raise ApplicationError(f"Only a user with the governance role may {what}.")


def save_with_history(obj, reason: str, actor: Any = None, update_fields: list[str] | None = None) -> None:
    """Save a historied row with its change reason (and the acting user when there is one)."""
    obj._change_reason = reason[:HISTORY_REASON_CHARS]
    if is_user(actor):
        obj._history_user = actor
    if update_fields is None:
        obj.save()
    else:
        obj.save(update_fields=update_fields)


def user_label(actor: Any) -> str:
    if is_user(actor):
        return actor.get_username()
    return str(actor or "system")


def a_an(words: str) -> str:
    """`words` with its indefinite article: "an open review", "a closed review"."""
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"
