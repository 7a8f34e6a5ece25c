"""The breach sweep: finds running clocks past their warning or due instant and records each
warning and breach exactly once.

Set-based and batched: each batch locks due clock rows with `FOR UPDATE SKIP LOCKED` (so two
sweeps never take the same rows), claims them with one UPDATE that repeats the "not yet done"
condition, writes the warning/breach rows (unique per clock, `ON CONFLICT DO NOTHING`) and the
clock events with one `INSERT ... SELECT` each over the claimed clocks, and publishes one batch
event whose in-transaction handlers write their outbox rows. On PostgreSQL a breach batch's lock,
claim and inserts are one statement. A batch is one transaction: a crash midway rolls it back
whole and the next run redoes it (docs/decisions/0003). The cost follows what is newly due,
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


def _cases_touch(ids: list[int]) -> None:
    """Mark the cases of the clocks `ids` changed (`updated_at`, not their version: nothing of
    the case itself changed): their representation in the API (SLA state, clocks) did, and the
    export and `updated_since` follow `updated_at`. Stamped with the wall clock, whatever time
    the sweep evaluates at: it says when the row changed, which the export pages by."""
    Case.objects.filter(pk__in=SLAClock.objects.filter(id__in=ids).values("case_id")).update(
        updated_at=timezone.now()
    )


def _record_warnings(ids: list[int], now: datetime) -> None:
    SLAClock.objects.filter(id__in=ids, warned_at__isnull=True).update(warned_at=F("warn_at"), updated_at=now)
    _cases_touch(ids)
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
    _cases_touch(ids)
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


_CLAIM_FIELDS = ("id", "case_id", "client_id", "metric", "cycle", "due_at", "warned_now_at")
_CASE_FIELDS = ("case__priority", "case__current_channel", "case__queue_id")


def _breach_batch_postgresql(now: datetime, limit: int) -> list[dict]:
    """Lock, claim and record one batch in a single statement: the due clocks are locked
    (`SKIP LOCKED`), marked breached (and warned, when the sweep had not seen their warning yet),
    and feed the warning, breach and clock-event inserts; the claimed rows come back with their
    case's priority, channel and queue for the batch event. `warned_now_at` is the warning
    instant of a clock whose warning this batch records too (None when it was recorded before;
    only the datetimes needed are returned: parsing them is most of the Python cost)."""
    clock, case = SLAClock._meta.db_table, Case._meta.db_table
    breach, warning, event = Breach._meta.db_table, SLAWarning._meta.db_table, ClockEvent._meta.db_table
    sweep = DetectedBy.SWEEP
    sql = f"""
        WITH due AS (
            SELECT id, warned_at FROM {clock}
            WHERE stopped_at IS NULL AND breached_at IS NULL AND due_at IS NOT NULL AND due_at < %(now)s
            ORDER BY due_at LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE {clock} c SET breached_at = c.due_at, warned_at = COALESCE(c.warned_at, c.warn_at),
                updated_at = %(now)s
            FROM due WHERE c.id = due.id AND c.breached_at IS NULL
            RETURNING c.id, c.case_id, c.client_id, c.metric, c.cycle, c.due_at, c.warn_at,
                due.warned_at AS was_warned_at
        ), claimed_rows AS (
            SELECT cl.*, k.priority, k.current_channel, k.queue_id
            FROM claimed cl JOIN {case} k ON k.id = cl.case_id
        ), warnings AS (
            INSERT INTO {warning} (clock_id, case_id, client_id, metric, warned_at, detected_by, detected_at)
            SELECT id, case_id, client_id, metric, warn_at, '{sweep}', %(now)s FROM claimed_rows
            WHERE was_warned_at IS NULL AND warn_at IS NOT NULL
            ON CONFLICT (clock_id) DO NOTHING
        ), breaches AS (
            INSERT INTO {breach} (clock_id, case_id, client_id, metric, priority, channel, breached_at,
                                  detected_by, detected_at, void_reason)
            SELECT id, case_id, client_id, metric, priority, current_channel, due_at, '{sweep}', %(now)s, ''
            FROM claimed_rows
            {_BREACH_UPSERT}
        ), events AS (
            INSERT INTO {event} (clock_id, case_id, client_id, kind, at, detail, reason, recorded_at)
            SELECT id, case_id, client_id, kind, at, '{{}}', 'sweep', %(now)s FROM (
                SELECT id, case_id, client_id, 'warned' AS kind, warn_at AS at, 0 AS step FROM claimed_rows
                WHERE was_warned_at IS NULL AND warn_at IS NOT NULL
                UNION ALL
                SELECT id, case_id, client_id, 'breached', due_at, 1 FROM claimed_rows
            ) AS changes ORDER BY step, id
        )
        SELECT id, case_id, client_id, metric, cycle, due_at,
               CASE WHEN was_warned_at IS NULL THEN warn_at END AS warned_now_at,
               priority, current_channel, queue_id
        FROM claimed_rows ORDER BY due_at, id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"now": now, "limit": limit})
        return [dict(zip(_CLAIM_FIELDS + _CASE_FIELDS, row, strict=True)) for row in cursor.fetchall()]


def _commit_without_wal_flush() -> None:
    """This batch's commit need not wait for the WAL flush (docs/decisions/0003): a batch lost in a
    server crash is lost whole (clock claims with their rows) and the next sweep redoes it. Read at
    commit, so it is set only once a batch has written something (an idle sweep stays two lookups)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


@transaction.atomic
def _warn_batch(now: datetime, limit: int) -> int:
    rows = _lock_due(
        {"warned_at__isnull": True, "warn_at__isnull": False, "warn_at__lt": now}, "warn_at", limit
    )
    if not rows:
        return 0
    _commit_without_wal_flush()
    _record_warnings([r["id"] for r in rows], now)
    publish(sla_events.ClocksWarned(alerts=tuple(_alert(r, r["warn_at"]) for r in rows)))
    return len(rows)


@transaction.atomic
def _breach_batch(now: datetime, limit: int) -> tuple[int, int]:
    """Breach what is due; returns (warnings recorded on the way, breaches recorded)."""
    if connection.vendor == "postgresql":
        rows = _breach_batch_postgresql(now, limit)
        # A clock breached before the sweep saw its warning was warned at its warning instant too.
        unwarned = [{**r, "warn_at": r["warned_now_at"]} for r in rows if r["warned_now_at"] is not None]
    else:
        rows = _lock_due(
            {"breached_at__isnull": True, "due_at__isnull": False, "due_at__lt": now}, "due_at", limit
        )
        if not rows:
            return 0, 0
        unwarned = [r for r in rows if r["warned_at"] is None and r["warn_at"] is not None]
        if unwarned:
            _record_warnings([r["id"] for r in unwarned], now)
        _claim_breaches([r["id"] for r in rows], now)
    if not rows:
        return 0, 0
    _commit_without_wal_flush()
    if unwarned:
        publish(sla_events.ClocksWarned(alerts=tuple(_alert(r, r["warn_at"]) for r in unwarned)))
    publish(sla_events.ClocksBreached(alerts=tuple(_alert(r, r["due_at"]) for r in rows)))
    return len(unwarned), len(rows)
