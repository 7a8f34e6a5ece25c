"""The breach sweep: finds running clocks past their warning or due instant and records each
warning and breach exactly once.

Set-based and batched: each batch locks due clock rows with `FOR UPDATE SKIP LOCKED` (so two
sweeps never take the same rows), claims them with one UPDATE that repeats the "not yet done"
condition, writes the warning/breach rows (unique per clock, `ON CONFLICT DO NOTHING`) and the
clock events with one `INSERT ... SELECT` each over the claimed clocks, and publishes one batch
event whose in-transaction handlers write their outbox rows. A batch is one transaction: a crash
midway rolls it back whole and the next run redoes it. The cost follows what is newly due,
through partial indexes on running clocks' `due_at` and `warn_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from cases.models import Case
from config.events import publish

from . import events as sla_events
from .models import Breach, ClockEvent, DetectedBy, SLAClock, SLAWarning

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


def _insert_from_clocks(
    table: str, columns: str, select: str, ids: list[int], now: datetime, tail: str = ""
) -> None:
    """One INSERT ... SELECT over the claimed clocks (joined to their cases): the database writes
    the rows, so the Python cost does not grow with the batch."""
    if connection.vendor == "postgresql":
        where, params = "c.id = ANY(%s)", [now, list(ids)]
    else:
        where, params = f"c.id IN ({', '.join(['%s'] * len(ids))})", [now, *ids]
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {select} FROM {SLAClock._meta.db_table} c "
        f"JOIN {Case._meta.db_table} k ON k.id = c.case_id WHERE {where} {tail}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _record_warnings(ids: list[int], now: datetime) -> None:
    SLAClock.objects.filter(id__in=ids, warned_at__isnull=True).update(warned_at=F("warn_at"), updated_at=now)
    _insert_from_clocks(
        SLAWarning._meta.db_table,
        "clock_id, case_id, client_id, metric, warned_at, detected_by, detected_at",
        f"c.id, c.case_id, c.client_id, c.metric, c.warn_at, '{DetectedBy.SWEEP}', %s",
        ids,
        now,
        "ON CONFLICT (clock_id) DO NOTHING",
    )
    _record_clock_events(ids, "warned", "warn_at", now)


def _record_clock_events(ids: list[int], kind: str, at_column: str, now: datetime) -> None:
    _insert_from_clocks(
        ClockEvent._meta.db_table,
        "clock_id, case_id, client_id, kind, at, detail, reason, recorded_at",
        f"c.id, c.case_id, c.client_id, '{kind}', c.{at_column}, '{{}}', 'sweep', %s",
        ids,
        now,
    )


# A breach voided by an earlier SLA repair comes back when its clock is breached again.
_BREACH_UPSERT = (
    "ON CONFLICT (clock_id) DO UPDATE SET voided_at = NULL, void_reason = '', "
    f"breached_at = excluded.breached_at WHERE {Breach._meta.db_table}.voided_at IS NOT NULL"
)


def _claim_breaches(ids: list[int], now: datetime) -> None:
    """Mark the clocks breached, then write their breach rows and clock events (portable SQL)."""
    SLAClock.objects.filter(id__in=ids, breached_at__isnull=True).update(
        breached_at=F("due_at"), updated_at=now
    )
    _insert_from_clocks(
        Breach._meta.db_table,
        "clock_id, case_id, client_id, metric, priority, channel, breached_at, detected_by, detected_at, "
        "void_reason",
        "c.id, c.case_id, c.client_id, c.metric, k.priority, k.current_channel, c.due_at, "
        f"'{DetectedBy.SWEEP}', %s, ''",
        ids,
        now,
        _BREACH_UPSERT,
    )
    _record_clock_events(ids, "breached", "due_at", now)


def _claim_breaches_postgresql(ids: list[int], now: datetime) -> None:
    """The same in one statement: the claimed rows are read once and feed both inserts."""
    clock, case = SLAClock._meta.db_table, Case._meta.db_table
    breach, event = Breach._meta.db_table, ClockEvent._meta.db_table
    sql = f"""
        WITH claimed AS (
            UPDATE {clock} c SET breached_at = c.due_at, updated_at = %(now)s
            WHERE c.id = ANY(%(ids)s) AND c.breached_at IS NULL
            RETURNING c.id, c.case_id, c.client_id, c.metric, c.due_at
        ), breaches AS (
            INSERT INTO {breach} (clock_id, case_id, client_id, metric, priority, channel, breached_at,
                                  detected_by, detected_at, void_reason)
            SELECT cl.id, cl.case_id, cl.client_id, cl.metric, k.priority, k.current_channel, cl.due_at,
                   '{DetectedBy.SWEEP}', %(now)s, ''
            FROM claimed cl JOIN {case} k ON k.id = cl.case_id
            {_BREACH_UPSERT}
        )
        INSERT INTO {event} (clock_id, case_id, client_id, kind, at, detail, reason, recorded_at)
        SELECT cl.id, cl.case_id, cl.client_id, 'breached', cl.due_at, '{{}}', 'sweep', %(now)s
        FROM claimed cl
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"now": now, "ids": list(ids)})


@transaction.atomic
def _warn_batch(now: datetime, limit: int) -> int:
    rows = _lock_due(
        {"warned_at__isnull": True, "warn_at__isnull": False, "warn_at__lt": now}, "warn_at", limit
    )
    if not rows:
        return 0
    _record_warnings([r["id"] for r in rows], now)
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
    # A clock breached before the sweep saw its warning is warned at its warning instant too.
    unwarned = [r for r in rows if r["warned_at"] is None and r["warn_at"] is not None]
    if unwarned:
        _record_warnings([r["id"] for r in unwarned], now)
    if connection.vendor == "postgresql":
        _claim_breaches_postgresql(ids, now)
    else:
        _claim_breaches(ids, now)
    if unwarned:
        publish(sla_events.ClocksWarned(alerts=tuple(_alert(r, r["warn_at"]) for r in unwarned)))
    publish(sla_events.ClocksBreached(alerts=tuple(_alert(r, r["due_at"]) for r in rows)))
    return len(unwarned), len(rows)
