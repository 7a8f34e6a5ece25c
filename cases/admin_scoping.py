"""Client scoping for the admin: a staff user sees only the rows of the clients they serve.

Every client-scoped ModelAdmin in Accord subclasses `ClientScopedAdmin` (or the inline
variant). Scoping the queryset also scopes change pages by URL (another client's row is a 404
redirect) and autocomplete (Django's autocomplete view searches the target admin's queryset).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q

from .access import client_ids_for_user
from .models import Client


def _scoped_related_queryset(db_field, request):
    """Limit a foreign key / many-to-many choice list to what the user's clients allow."""
    model = db_field.related_model
    user = request.user
    queryset = model._default_manager.all()
    if user.is_superuser:
        return queryset
    client_ids = client_ids_for_user(user)
    if model is Client:
        return queryset.filter(pk__in=client_ids)
    if model is get_user_model():
        return queryset.filter(Q(served_clients__in=client_ids)).distinct()
    if any(field.name == "client" for field in model._meta.get_fields()):
        return queryset.filter(client_id__in=client_ids)
    return queryset


def scoped_filter(field_path: str) -> tuple:
    """A list filter on a related field whose choices come only from the (client-scoped) rows
    the user can see, so another client's name never shows in the sidebar."""
    return (field_path, admin.RelatedOnlyFieldListFilter)


class ClientScopedMixin:
    """Filter by the user's clients. `client_lookup` is the path to the client from the model."""

    client_lookup = "client"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.client_lookup}__in": client_ids_for_user(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs.setdefault("queryset", _scoped_related_queryset(db_field, request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("queryset", _scoped_related_queryset(db_field, request))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ClientScopedAdmin(ClientScopedMixin, admin.ModelAdmin):
    pass


class ReadOnlyAdminMixin:
    """For append-only records (timelines, clock events): viewable, never edited in admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
