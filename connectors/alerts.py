"""SLA alerts by e-mail to the supervisors of the case's queue (writes of AlertNotification).

`on_clock_alerts` runs inside the SLA engine's transaction (sweep batch or live clock change)
and writes one outbox row per alert and supervisor, in bulk, unique per clock, kind and
supervisor. `alert_digests_send` (periodic) sends each supervisor one e-mail per run with all
their pending alerts: many alerts arriving together make one digest, not a flood.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from cases.models import Queue
from config.mail import notification_send
from slas import events as sla_events

from .choices import AlertKind, AlertState
from .models import AlertNotification

logger = logging.getLogger(__name__)

_KINDS = {sla_events.ClocksWarned: AlertKind.WARNING, sla_events.ClocksBreached: AlertKind.BREACHED}


def on_clock_alerts(event) -> None:
    kind = _KINDS[type(event)]
    alerts = event.alerts
    if not alerts:
        return
    supervisors: dict[int, list[int]] = defaultdict(list)
    for queue_id, user_id in Queue.supervisors.through.objects.filter(
        queue_id__in={a.queue_id for a in alerts}, user__is_active=True
    ).values_list("queue_id", "user_id"):
        supervisors[queue_id].append(user_id)
    rows = [
        AlertNotification(
            client_id=alert.client_id,
            recipient_id=user_id,
            case_id=alert.case_id,
            queue_id=alert.queue_id,
            kind=kind,
            metric=alert.metric,
            clock_id=alert.clock_id,
            alert_at=alert.at,
        )
        for alert in alerts
        for user_id in supervisors.get(alert.queue_id, ())
    ]
    if rows:
        AlertNotification.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


def _digest(rows: list[AlertNotification]) -> tuple[str, str]:
    breached = sum(1 for row in rows if row.kind == AlertKind.BREACHED)
    warned = len(rows) - breached
    if len(rows) == 1:
        row = rows[0]
        label = "SLA breached" if row.kind == AlertKind.BREACHED else "SLA at risk"
        subject = f"[Accord] {label}: {row.case.subject[:80]}"
    else:
        subject = f"[Accord] {len(rows)} SLA alerts: {breached} breached, {warned} at risk"
    lines = [f"{len(rows)} SLA alert(s) for the queues you supervise:", ""]
    for row in rows:
        label = "BREACHED" if row.kind == AlertKind.BREACHED else "AT RISK "
        lines.append(
            f"- {label} {row.metric.replace('_', ' ')} at {row.alert_at:%Y-%m-%d %H:%M} UTC · "
            f"{row.client.name} / {row.queue.name} · "
            f"case {str(row.case.public_id)[:8]}: {row.case.subject[:100]}"
        )
    return subject, "\n".join(lines) + "\n"


def alert_digests_send(*, now: datetime | None = None, max_recipients: int = 200) -> int:
    """Send each supervisor with pending alerts one digest e-mail; returns how many e-mails.
    Rows are locked while their e-mail is sent (two runs never send the same alert) and marked
    sent in the same transaction: a failed send leaves them pending for the next run."""
    now = now or timezone.now()
    recipients = list(
        AlertNotification.objects.filter(state=AlertState.PENDING)
        .order_by("recipient_id")
        .values_list("recipient_id", flat=True)
        .distinct()[:max_recipients]
    )
    sent = 0
    for recipient_id in recipients:
        try:
            sent += _digest_send(recipient_id, now)
        except Exception:  # one recipient's failed send leaves their rows pending; others go on
            logger.exception("Alert digest for user %s could not be sent", recipient_id)
    return sent


def _digest_send(recipient_id: int, now: datetime) -> int:
    with transaction.atomic():
        rows = list(
            AlertNotification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(recipient_id=recipient_id, state=AlertState.PENDING)
            .select_related("case", "queue", "client", "recipient")
            .order_by("alert_at", "id")[:500]
        )
        if not rows:
            return 0
        ids = [row.pk for row in rows]
        address = rows[0].recipient.email
        if not address:
            AlertNotification.objects.filter(pk__in=ids).update(state=AlertState.SKIPPED, sent_at=now)
            return 0
        subject, body = _digest(rows)
        notification_send(subject=subject, body=body, to=[address])
        AlertNotification.objects.filter(pk__in=ids).update(state=AlertState.SENT, sent_at=now)
        return 1
