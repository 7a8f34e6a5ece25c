"""Services for API keys: create (the raw key is returned once), revoke, and resolve a raw key."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.errors import ApplicationError
from config.prepared import prepared_select

from .. import revisions
from ..models import ApiKey, ApiKeyScope, Client

KEY_PREFIX = "acc_"
_RATE = re.compile(r"^(none|\d+/(s|sec|second|m|min|minute|h|hour|d|day))$")
# last_used_at is written at most once per this interval, so reads cost no write.
LAST_USED_PRECISION = timedelta(minutes=1)


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    raw: str


def throttle_rate_validate(rate: str) -> None:
    if rate and not _RATE.match(rate):
        raise ApplicationError.for_field(
            "throttle_rate", "Write the rate as N/s, N/min, N/hour or N/day (or none: unlimited)."
        )


@transaction.atomic
def api_key_create(
    *,
    client: Client,
    name: str,
    scope: str = ApiKeyScope.READ,
    expires_at: datetime | None = None,
    throttle_rate: str = "",
    actor=None,
) -> CreatedKey:
    """Create a key for `client`. The raw key is in the result only: it is stored hashed."""
    if scope not in ApiKeyScope.values:
        raise ApplicationError.for_field("scope", f"Unknown scope {scope!r}.")
    if not name.strip():
        raise ApplicationError.for_field("name", "Name the system that uses this key.")
    throttle_rate_validate(throttle_rate)
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError.for_field("expires_at", "The expiry must be in the future.")
    prefix = KEY_PREFIX + secrets.token_hex(4)
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        client=client,
        name=name.strip(),
        prefix=prefix,
        key_hash=key_hash(raw),
        scope=scope,
        expires_at=expires_at,
        throttle_rate=throttle_rate,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    return CreatedKey(key=key, raw=raw)


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor=None) -> ApiKey:
    """Revoke a key now (idempotent: a revoked key keeps its first revocation time)."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    return key


@prepared_select
def _key_by_hash(key_hash: str) -> QuerySet[ApiKey]:
    """The key of a hash with its client and the revisions of the client's configuration
    (cases.revisions), so a request serves the client's queues, SLA policies and webhook
    subscriptions from caches without reading them. Compiled once (config.prepared). No ORDER
    BY: the hash is unique (the model's joins the client)."""
    client_id = f'"{ApiKey._meta.db_table}"."client_id"'
    return (
        ApiKey.objects.select_related("client")
        .annotate(**revisions.annotations(client_id, reader="api"))
        .filter(key_hash=key_hash)
        .order_by()[:1]
    )


def api_key_resolve(raw: str, *, now: datetime | None = None) -> ApiKey | None:
    """The usable key for `raw` (not revoked, not expired, client active), or None. Records the
    last use at most once a minute."""
    if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        return None
    key = next(iter(_key_by_hash(key_hash=key_hash(raw))), None)
    now = now or timezone.now()
    if (
        key is None
        or key.revoked_at is not None
        or (key.expires_at is not None and key.expires_at <= now)
        or not key.client.is_active
    ):
        return None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
