"""Authentication of client systems by API key (`Authorization: Bearer acc_…`).

A missing key lets the next authenticator (staff sessions) try; a malformed, unknown, expired or
revoked key is a 401 (`WWW-Authenticate: Bearer`), never a 403."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .. import revisions
from ..models import ApiKey
from .keys import api_key_resolve


class ApiKeyPrincipal:
    """`request.user` for a request made with an API key: a client system, not a person. It holds
    no Django permissions; what it may do is its key's client and scope."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key: ApiKey):
        self.key = key
        self.username = f"api-key:{key.prefix}"
        # What cases.access.client_ids_for_user caches: the key's one client.
        self._accord_client_ids = {key.client_id}

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the key as 'Authorization: Bearer <key>'.")
        try:
            raw = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from exc
        key = api_key_resolve(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid (unknown, expired or revoked).")
        revisions.remember(key, client_id=key.client_id)
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


def request_api_key(request) -> ApiKey | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiKey) else None
