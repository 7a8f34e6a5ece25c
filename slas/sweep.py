"""The breach sweep: finds running clocks past their warning or due instant and records each
warning and breach exactly once.

Set-based and batched: each batch locks due clock rows with `FOR UPDATE SKIP LOCKED` (so two
sweeps never take the same rows), claims them with one UPDATE that repeats the "not yet done"
condition, inserts the warning/breach rows (unique per clock) and clock events in bulk, and
publishes one batch event whose in-transaction handlers write their outbox rows. A batch is one
transaction: a crash midway rolls it back whole and the next run redoes it. The cost follows
what is newly due, through partial indexes on running clocks' `due_at` and `warn_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.events import publish

from . import events as sla_events
from .models import Breach, ClockEvent, DetectedBy, SLAClock, SLAWarning
from .services import breaches_record

_FIELDS = (
    "id",
    "case_id",
    "client_id",
    "metric",
    "cycle",
    "due_at",
    "warn_at",
    "warned_at",
    "case__priority",
    "case__current_channel",
    "case__queue_id",
)


@dataclass(frozen=True)
class SweepResult:
    warned: int
    breached: int

    def as_dict(self) -> dict:
        return {"warned": self.warned, "breached": self.breached}


def sla_sweep(*, now: datetime | None = None, batch_size: int | None = None) -> SweepResult:
    """Record every warning and breach due by `now`; returns how many this run recorded."""
    now = now or timezone.now()
    batch_size = batch_size or settings.ACCORD_SWEEP_BATCH_SIZE
    warned = breached = 0
    while True:
        newly_warned = _warn_batch(now, batch_size)
        also_warned, newly_breached = _breach_batch(now, batch_size)
        warned += newly_warned + also_warned
        breached += newly_breached
        if newly_warned < batch_size and newly_breached < batch_size:
            return SweepResult(warned=warned, breached=breached)


def _alert(row: dict, at: datetime) -> sla_events.ClockAlert:
    return sla_events.ClockAlert(
        clock_id=row["id"],
        case_id=row["case_id"],
        client_id=row["client_id"],
        queue_id=row["case__queue_id"],
        metric=row["metric"],
        cycle=row["cycle"],
        priority=row["case__priority"],
        channel=row["case__current_channel"],
        at=at,
        detected_by=DetectedBy.SWEEP,
    )


def _lock_due(filters: dict, order: str, limit: int) -> list[dict]:
    return list(
        SLAClock.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(stopped_at__isnull=True, **filters)
        .order_by(order)
        .values(*_FIELDS)[:limit]
    )


def _warning_rows(rows: list[dict]) -> list[SLAWarning]:
    return [
        SLAWarning(
            clock_id=r["id"],
            case_id=r["case_id"],
            client_id=r["client_id"],
            metric=r["metric"],
            warned_at=r["warn_at"],
            detected_by=DetectedBy.SWEEP,
        )
        for r in rows
    ]


def _warning_events(rows: list[dict]) -> list[ClockEvent]:
    return [
        ClockEvent(
            clock_id=r["id"],
            case_id=r["case_id"],
            client_id=r["client_id"],
            kind="warned",
            at=r["warn_at"],
            detail={"warn_at": r["warn_at"].isoformat()},
            reason="sweep",
        )
        for r in rows
    ]


@transaction.atomic
def _warn_batch(now: datetime, limit: int) -> int:
    rows = _lock_due(
        {"warned_at__isnull": True, "warn_at__isnull": False, "warn_at__lt": now}, "warn_at", limit
    )
    if not rows:
        return 0
    ids = [r["id"] for r in rows]
    SLAClock.objects.filter(id__in=ids, warned_at__isnull=True).update(warned_at=F("warn_at"), updated_at=now)
    SLAWarning.objects.bulk_create(_warning_rows(rows), ignore_conflicts=True)
    ClockEvent.objects.bulk_create(_warning_events(rows))
    publish(sla_events.ClocksWarned(alerts=tuple(_alert(r, r["warn_at"]) for r in rows)))
    return len(rows)


@transaction.atomic
def _breach_batch(now: datetime, limit: int) -> tuple[int, int]:
    """Breach what is due; returns (warnings recorded on the way, breaches recorded)."""
    rows = _lock_due(
        {"breached_at__isnull": True, "due_at__isnull": False, "due_at__lt": now}, "due_at", limit
    )
    if not rows:
        return 0, 0
    ids = [r["id"] for r in rows]
    SLAClock.objects.filter(id__in=ids, breached_at__isnull=True).update(
        breached_at=F("due_at"), updated_at=now
    )
    # A clock breached before the sweep saw its warning is warned at its warning instant too.
    unwarned = [r for r in rows if r["warned_at"] is None and r["warn_at"] is not None]
    if unwarned:
        SLAClock.objects.filter(id__in=[r["id"] for r in unwarned], warned_at__isnull=True).update(
            warned_at=F("warn_at")
        )
        SLAWarning.objects.bulk_create(_warning_rows(unwarned), ignore_conflicts=True)
    breaches_record(
        [
            Breach(
                clock_id=r["id"],
                case_id=r["case_id"],
                client_id=r["client_id"],
                metric=r["metric"],
                priority=r["case__priority"],
                channel=r["case__current_channel"],
                breached_at=r["due_at"],
                detected_by=DetectedBy.SWEEP,
            )
            for r in rows
        ]
    )
    ClockEvent.objects.bulk_create(
        [
            *_warning_events(unwarned),
            *(
                ClockEvent(
                    clock_id=r["id"],
                    case_id=r["case_id"],
                    client_id=r["client_id"],
                    kind="breached",
                    at=r["due_at"],
                    detail={"due_at": r["due_at"].isoformat()},
                    reason="sweep",
                )
                for r in rows
            ),
        ]
    )
    if unwarned:
        publish(sla_events.ClocksWarned(alerts=tuple(_alert(r, r["warn_at"]) for r in unwarned)))
    publish(sla_events.ClocksBreached(alerts=tuple(_alert(r, r["due_at"]) for r in rows)))
    return len(unwarned), len(rows)
