"""Who may see which client's data. Every client-scoped read goes through these."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Client


def clients_for_user(user) -> QuerySet[Client]:
    """The clients `user` serves: all for superusers, the ones they are staff of otherwise,
    none for anonymous or inactive users."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Client.objects.none()
    if user.is_superuser:
        return Client.objects.all()
    return Client.objects.filter(staff=user)


def client_ids_for_user(user) -> set[int]:
    """Ids of `clients_for_user`, cached on the user object for the request."""
    cached = getattr(user, "_accord_client_ids", None)
    if cached is None:
        cached = set(clients_for_user(user).values_list("id", flat=True))
        if getattr(user, "is_authenticated", False):
            user._accord_client_ids = cached
    return cached


def user_serves_client(user, client_id: int) -> bool:
    return client_id in client_ids_for_user(user)
