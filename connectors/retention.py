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
from django.utils import timezone

from cases.models import Client

from .choices import DeliveryState, InboundStatus
from .models import InboundEvent, WebhookDelivery

BATCH = 5000
MAX_BATCHES = 50
ENDED_DELIVERIES = (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.CANCELLED)


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
        events += _batched(_inbound_events_delete, client_id, now, batch, max_batches)
        deliveries += _batched(_webhook_log_delete, client_id, now, batch, max_batches)
    return RetentionRun(inbound_events_deleted=events, webhook_deliveries_deleted=deliveries)


def _batched(delete, client_id: int, now: datetime, batch: int, max_batches: int) -> int:
    """Run `delete` until it finds less than a batch, or `max_batches` times."""
    total = 0
    for _ in range(max_batches):
        deleted = delete(client_id, now, batch)
        total += deleted
        if deleted < batch:
            break
    return total


def _inbound_events_delete(client_id: int, now: datetime, batch: int) -> int:
    days = settings.ACCORD_INBOUND_RETENTION_DAYS
    if days <= 0:
        return 0
    done = (InboundStatus.PROCESSED, InboundStatus.IGNORED)
    ids = list(
        InboundEvent.objects.filter(
            client_id=client_id, status__in=done, received_at__lt=now - timedelta(days=days)
        )
        .order_by()
        .values_list("pk", flat=True)[:batch]
    )
    if not ids:
        return 0
    # The status again: an event replayed meanwhile is not deleted under it.
    deleted, _ = InboundEvent.objects.filter(pk__in=ids, status__in=done).delete()
    return deleted


def _webhook_log_delete(client_id: int, now: datetime, batch: int) -> int:
    days = settings.ACCORD_WEBHOOK_LOG_RETENTION_DAYS
    if days <= 0:
        return 0
    ids = list(
        WebhookDelivery.objects.filter(
            client_id=client_id, state__in=ENDED_DELIVERIES, created_at__lt=now - timedelta(days=days)
        )
        .order_by()
        .values_list("pk", flat=True)[:batch]
    )
    if not ids:
        return 0
    # A redelivery from admin sets the state back to pending: such a row stays.
    rows = WebhookDelivery.objects.filter(pk__in=ids, state__in=ENDED_DELIVERIES)
    _, by_model = rows.delete()  # its attempts first (CASCADE), then the deliveries
    return by_model.get(WebhookDelivery._meta.label, 0)
