"""Who may open the reporting pages: superusers, and staff with the governance or supervisor
role, for the clients they serve. Anyone else gets 403; another client's page is a 404."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from cases.access import client_ids_for_user
from cases.choices import Role
from cases.models import Client

REPORTING_ROLES = frozenset({Role.GOVERNANCE, Role.SUPERVISOR})


def reporting_client_ids(user) -> set[int]:
    """The clients whose reports `user` may read, or PermissionDenied."""
    if not user.is_authenticated or not user.is_active:
        raise PermissionDenied
    if not user.is_superuser:
        roles = set(user.groups.values_list("name", flat=True))
        if not user.is_staff or not roles & REPORTING_ROLES:
            raise PermissionDenied("Reports are for supervisors and governance staff.")
    return client_ids_for_user(user)


def can_manage_scorecards(user) -> bool:
    return user.is_superuser or user.groups.filter(name=Role.GOVERNANCE).exists()


def client_or_404(user, slug: str) -> Client:
    client = Client.objects.filter(slug=slug, pk__in=reporting_client_ids(user)).first()
    if client is None:
        raise Http404("No such client.")
    return client
