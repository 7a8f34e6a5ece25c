"""How long the connectors keep what they received raw and the log of what they sent.

- An inbound event keeps its raw payload while it may be needed again: `received` or `failed`
  (to process, or to replay once fixed), whatever its age. A `processed` or `ignored` event is
  deleted `ACCORD_INBOUND_RETENTION_DAYS` after it was received (default 30; 0 keeps them): what
  the message said lives on in its interaction, and a raw payload holds the customer's personal
  data in full. A re-delivery after that appends nothing: the interaction's own key
  `(client, source, external_id)` recognises it, and the sender is answered "duplicate".
- A webhook delivery that ended (delivered, failed after its attempts, cancelled) is deleted with
  its attempt log `ACCORD_WEBHOOK_LOG_RETENTION_DAYS` after it was written (default 90; 0 keeps
  them). A pending delivery is never deleted.

`retention_apply` runs hourly (schedule `connectors-retention`). It deletes in batches of `batch`
rows, each its own statement (and transaction, in a task's autocommit), found through the
indexes led by the client; at most `max_batches` of each kind per client and run, so a first run
over a long backlog spreads over several runs, while a busy client's hour (up to 250,000 events
with the defaults) is kept up with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from cases.models import Client

from .choices import DeliveryState, InboundStatus
from .models import InboundEvent, WebhookDelivery

BATCH = 5000
MAX_BATCHES = 50


@dataclass(frozen=True)
class _Kept:
    """Rows of `model` in one of `ended` (`state_field`) go `setting` days after `time_field`."""

    model: type[models.Model]
    setting: str
    state_field: str
    ended: tuple[str, ...]
    time_field: str


_INBOUND = _Kept(
    InboundEvent,
    "ACCORD_INBOUND_RETENTION_DAYS",
    "status",
    (InboundStatus.PROCESSED, InboundStatus.IGNORED),
    "received_at",
)
_WEBHOOK_LOG = _Kept(
    WebhookDelivery,
    "ACCORD_WEBHOOK_LOG_RETENTION_DAYS",
    "state",
    (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.CANCELLED),
    "created_at",
)


@dataclass(frozen=True)
class RetentionRun:
    inbound_events_deleted: int
    webhook_deliveries_deleted: int


def retention_apply(
    *, now: datetime | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES
) -> RetentionRun:
    now = now or timezone.now()
    events = deliveries = 0
    for client_id in Client.objects.order_by("pk").values_list("pk", flat=True):
        events += _expired_delete(_INBOUND, client_id, now, batch, max_batches)
        deliveries += _expired_delete(_WEBHOOK_LOG, client_id, now, batch, max_batches)
    return RetentionRun(inbound_events_deleted=events, webhook_deliveries_deleted=deliveries)


def _expired_delete(kind: _Kept, client_id: int, now: datetime, batch: int, max_batches: int) -> int:
    """Delete the client's rows of `kind` past their days, a batch at a time, until less than a
    batch is found or `max_batches` have run."""
    days = getattr(settings, kind.setting)
    if days <= 0:
        return 0
    ended = {f"{kind.state_field}__in": kind.ended}
    expired = kind.model.objects.filter(
        client_id=client_id, **ended, **{f"{kind.time_field}__lt": now - timedelta(days=days)}
    ).order_by()
    total = 0
    for _ in range(max_batches):
        ids = list(expired.values_list("pk", flat=True)[:batch])
        if not ids:
            break
        # The state again: a row set back meanwhile (an event replayed, a delivery redelivered
        # from admin) stays. A delivery's attempts go first (CASCADE).
        _, by_model = kind.model.objects.filter(pk__in=ids, **ended).delete()
        total += by_model.get(kind.model._meta.label, 0)
        if len(ids) < batch:
            break
    return total
