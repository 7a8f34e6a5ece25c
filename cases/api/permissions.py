"""Deny by default. Each view names, per action, the Django model permissions a staff user needs
(`required_permissions`); an action without an entry is refused to everyone. A client system's
API key needs no Django permission: a read key may use the safe methods of the actions the view
opens to keys, a read-write key all of them. Which rows anyone sees is a separate matter: every
queryset is scoped to the caller's clients (`cases.api.base`)."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .authentication import request_api_key


class RolePermission(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        if hasattr(view, "action_map") and view.action is None:
            return True  # a method this route does not have: let the view answer 405
        action = getattr(view, "action", None) or request.method.lower()
        required = getattr(view, "required_permissions", {}).get(action)
        if required is None:
            return False
        key = request_api_key(request)
        if key is not None:
            if action in getattr(view, "key_forbidden_actions", ()):
                return False
            return request.method in SAFE_METHODS or key.can_write
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        return user.has_perms(required)
