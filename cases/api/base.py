"""What every /api/v1/ view shares: authentication, deny-by-default permissions, per-caller
throttling, the request size limit, `Idempotency-Key` on POST, the browsable API for staff only,
and the caller's client scope (`client_ids`), which every queryset is filtered by."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from rest_framework import viewsets
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.views import APIView

from .. import revisions
from ..access import client_ids_for_user
from ..models import Client
from .authentication import request_api_key
from .exceptions import PayloadTooLarge
from .idempotency import HEADER, Replay, idempotency_begin, idempotency_finish


def caller_client_ids(request) -> set[int]:
    """The clients the caller may see: its key's client, or the clients a staff user serves."""
    key = request_api_key(request)
    if key is not None:
        return {key.client_id}
    return client_ids_for_user(request.user)


def caller_actor(request):
    """Who acts, as the case services record it: the staff user, or the key by its prefix."""
    key = request_api_key(request)
    if key is not None:
        return f"api-key:{key.prefix} {key.name}"[:120]
    return request.user


class ApiViewMixin:
    """Mixed into every API view (before the DRF view class)."""

    # Every view states per action the Django permissions staff need; no entry, no access.
    required_permissions: dict[str, list[str]] = {}
    key_forbidden_actions: tuple[str, ...] = ()

    def dispatch(self, request, *args, **kwargs):
        # The client configuration revisions read with the API key count for this request only.
        with revisions.request_scope():
            if request.method == "POST" and HEADER in request.headers:
                # The stored response commits with the change it describes (see idempotency).
                with transaction.atomic():
                    return super().dispatch(request, *args, **kwargs)
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > settings.ACCORD_API_MAX_REQUEST_BYTES:
            raise PayloadTooLarge(
                f"The request body is limited to {settings.ACCORD_API_MAX_REQUEST_BYTES} bytes."
            )
        super().initial(request, *args, **kwargs)
        self._idempotency = None
        if request.method == "POST":
            self._idempotency = idempotency_begin(request)

    def perform_authentication(self, request):
        request.user  # noqa: B018 - authenticates now
        if request_api_key(request) is not None:
            # Django-level code that stores users (simple-history's middleware reads
            # request.user) must not receive a client system, which is not a user.
            request._request.user = AnonymousUser()

    def handle_exception(self, exc):
        if isinstance(exc, Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        renderer = getattr(request, "accepted_renderer", None)
        if isinstance(renderer, BrowsableAPIRenderer) and not self._is_staff_session(request):
            # The browsable API is for staff in a browser; everyone else gets JSON.
            request.accepted_renderer = response.accepted_renderer = JSONRenderer()
            request.accepted_media_type = response.accepted_media_type = "application/json"
        record = getattr(self, "_idempotency", None)
        if record is not None:
            idempotency_finish(record, response)
        return response

    @staticmethod
    def _is_staff_session(request) -> bool:
        user = getattr(request, "_user", None)
        return bool(user is not None and getattr(user, "is_staff", False) and not request_api_key(request))

    # --- scope ---------------------------------------------------------------------------------

    def client_ids(self) -> set[int]:
        return caller_client_ids(self.request)

    def actor(self):
        return caller_actor(self.request)

    def single_client(self) -> Client | None:
        """The caller's client when there is exactly one (always for API keys)."""
        key = request_api_key(self.request)
        if key is not None:
            return key.client
        ids = self.client_ids()
        if len(ids) == 1:
            return Client.objects.get(pk=next(iter(ids)))
        return None


class ApiGenericViewSet(ApiViewMixin, viewsets.GenericViewSet):
    pass


UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class PublicIdLookupMixin:
    """Rows addressed in URLs by their public id (`{id}`, a UUID), never their integer key."""

    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = UUID_PATTERN


class ApiView(ApiViewMixin, APIView):
    pass
