"""Selectors for the governance dashboard: one query per panel, grouped by the database.

Times are read in `tz` (the client's time zone when one client is shown, UTC otherwise). The
attainment panels count engine clocks decided in the period as governance.metrics does: clocks
of approved exclusions left out, a breach voided by an accepted dispute counted as met.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncHour

from cases.models import Client, Queue
from slas.models import ENGINE_METRICS, Outcome, SLAClock

from . import metrics
from .choices import ActionStatus, DisputeStatus
from .models import BreachDispute, BreachReview, CorrectiveAction


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _decided_clocks(client_ids: Iterable[int], start: datetime, end: datetime):
    from .selectors import without_excluded_clocks

    client_ids = list(client_ids)
    disputed = Exists(
        BreachDispute.objects.filter(status=DisputeStatus.ACCEPTED, breach__clock_id=OuterRef("pk"))
    )
    clocks = SLAClock.objects.filter(
        client_id__in=client_ids, metric__in=ENGINE_METRICS, stopped_at__gte=start, stopped_at__lt=end
    ).exclude(outcome="")
    return without_excluded_clocks(clocks).annotate(disputed=disputed)


_COUNTS = {
    "met": Count("pk", filter=Q(outcome=Outcome.MET) | Q(disputed=True)),
    "decided": Count("pk"),
}


def decided_clocks_by_hour(*, client_ids, start: datetime, end: datetime, tz) -> list[dict]:
    """Decided engine clocks counted by metric, channel and the hour (in `tz`) they were decided:
    one query that the trend, the heatmap and attainment by channel or metric fold in Python."""
    rows = (
        _decided_clocks(client_ids, start, end)
        .annotate(at_hour=TruncHour("stopped_at", tzinfo=tz))
        .values("metric", "channel", "at_hour")
        .annotate(**_COUNTS)
        .order_by()
    )
    return [
        {
            "metric": row["metric"],
            "channel": row["channel"],
            "at_hour": row["at_hour"].astimezone(tz),
            "met": row["met"],
            "decided": row["decided"],
        }
        for row in rows
    ]


def _fold(rows: list[dict], key) -> list[dict]:
    totals: dict = {}
    for row in rows:
        met, decided = totals.get(key(row), (0, 0))
        totals[key(row)] = (met + row["met"], decided + row["decided"])
    return [(group, met, decided) for group, (met, decided) in sorted(totals.items())]


def attainment_trend(hourly: list[dict]) -> list[dict]:
    """Attainment per day (by the local day a clock was decided)."""
    return [
        {"day": day, "met": met, "decided": decided, "percent": _percent(met, decided)}
        for day, met, decided in _fold(hourly, lambda row: row["at_hour"].date())
    ]


def attainment_heatmap(hourly: list[dict]) -> list[dict]:
    """Attainment by channel and hour of the week (ISO weekday 1-7, hour 0-23); only the cells
    with clocks come back."""
    return [
        {
            "channel": channel,
            "weekday": weekday,
            "hour": hour,
            "met": met,
            "decided": decided,
            "percent": _percent(met, decided),
        }
        for (channel, weekday, hour), met, decided in _fold(
            hourly, lambda row: (row["channel"], row["at_hour"].isoweekday(), row["at_hour"].hour)
        )
    ]


def _attainment(met: int, decided: int) -> dict:
    """Met, missed and attainment %, in the shape of governance.metrics."""
    return {"met": met, "missed": decided - met, "attainment_percent": _percent(met, decided)}


def attainment_by(hourly: list[dict], field: str) -> list[dict]:
    """Attainment by channel or by metric."""
    return [
        {field: group, **_attainment(met, decided)}
        for group, met, decided in _fold(hourly, lambda row: row[field])
    ]


def attainment_by_queue(*, client_ids, start: datetime, end: datetime) -> list[dict]:
    """Attainment per queue (the case's queue when the clock was decided) of the clocks decided
    in the period, every engine metric together; with the client's name, for views of several
    clients."""
    rows = _decided_clocks(client_ids, start, end).values("queue_id").annotate(**_COUNTS).order_by()
    counts = {row["queue_id"]: row for row in rows}
    queues = Queue.objects.filter(pk__in=[pk for pk in counts if pk is not None]).select_related("client")
    names = {queue.pk: (queue.client.name, queue.name) for queue in queues}
    result = []
    for pk, row in counts.items():
        client_name, queue_name = names.get(pk, ("", "(no queue)"))
        result.append({"client": client_name, "queue": queue_name, **_attainment(row["met"], row["decided"])})
    return sorted(result, key=lambda row: (row["client"], row["queue"]))


def attainment_by_client(*, client_ids, start: datetime, end: datetime) -> list[dict]:
    """Attainment per client of the clocks decided in the period, every engine metric together."""
    rows = _decided_clocks(client_ids, start, end).values("client_id").annotate(**_COUNTS).order_by()
    names = dict(Client.objects.filter(pk__in=[row["client_id"] for row in rows]).values_list("pk", "name"))
    return sorted(
        (
            {"client": names.get(row["client_id"], ""), **_attainment(row["met"], row["decided"])}
            for row in rows
        ),
        key=lambda row: row["client"],
    )


def top_root_causes(*, client_ids, start: datetime, end: datetime, limit: int = 8) -> list[dict]:
    """Root causes of the breach reviews closed in the period, by the breaches they explain."""
    rows = (
        BreachReview.objects.filter(
            client_id__in=list(client_ids), closed_at__gte=start, closed_at__lt=end, root_cause__isnull=False
        )
        .values("root_cause__name", "root_cause__parent__name")
        .annotate(reviews=Count("pk", distinct=True), breaches=Count("items", distinct=True))
        .order_by("-breaches", "-reviews", "root_cause__name")[:limit]
    )
    return [
        {
            "root_cause": " > ".join(
                p for p in (row["root_cause__parent__name"], row["root_cause__name"]) if p
            ),
            "reviews": row["reviews"],
            "breaches": row["breaches"],
        }
        for row in rows
    ]


def overdue_actions(*, client_ids, today: date, limit: int = 20) -> list[dict]:
    rows = (
        CorrectiveAction.objects.filter(
            client_id__in=list(client_ids),
            status__in=[ActionStatus.PROPOSED, ActionStatus.IN_PROGRESS],
            due_on__lt=today,
        )
        .select_related("client", "owner")
        .order_by("due_on", "pk")[:limit]
    )
    return [
        {
            "client": action.client.name,
            "title": action.title,
            "owner": action.owner.get_username() if action.owner else "",
            "due_on": action.due_on,
            "days_overdue": (today - action.due_on).days,
            "status": action.get_status_display(),
        }
        for action in rows
    ]


def attainment_by_metric(*, client_ids, start: datetime, end: datetime) -> list[dict]:
    rows = _decided_clocks(client_ids, start, end).values("metric").annotate(**_COUNTS).order_by("metric")
    return [
        {
            "metric": row["metric"],
            "met": row["met"],
            "decided": row["decided"],
            "percent": _percent(row["met"], row["decided"]),
        }
        for row in rows
    ]


def action_status_counts(*, client_ids) -> dict[str, int]:
    rows = (
        CorrectiveAction.objects.filter(client_id__in=list(client_ids))
        .values("status")
        .annotate(n=Count("pk"))
    )
    return {row["status"]: row["n"] for row in rows.order_by("status")}


def response_times(*, client_ids, start: datetime, end: datetime) -> list[dict]:
    """First response time (cases first answered in the period) and resolution time (cases
    resolved in the period), wall-clock from the case's opening: median and p90."""
    from cases.models import Case

    cases = Case.objects.filter(client_id__in=list(client_ids))
    first = cases.filter(first_responded_at__gte=start, first_responded_at__lt=end)
    resolved = cases.filter(resolved_at__gte=start, resolved_at__lt=end)
    return [
        {
            "measure": "first response",
            **metrics.duration_percentiles(first, "opened_at", "first_responded_at", 0),
        },
        {"measure": "resolution", **metrics.duration_percentiles(resolved, "opened_at", "resolved_at", 0)},
    ]


# Column name, from and to (days since opening; None: no upper bound).
BACKLOG_AGES = (
    ("days_0_1", 0, 1),
    ("days_1_3", 1, 3),
    ("days_3_7", 3, 7),
    ("days_7_30", 7, 30),
    ("days_30_plus", 30, None),
)


def backlog(*, client_ids, now: datetime) -> list[dict]:
    """Unresolved cases by status, with their ages since opening in buckets of days: one query."""
    from datetime import timedelta

    from cases.choices import UNRESOLVED_STATUSES
    from cases.models import Case

    buckets = {}
    for name, low, high in BACKLOG_AGES:
        condition = Q(opened_at__lte=now - timedelta(days=low))
        if high is not None:
            condition &= Q(opened_at__gt=now - timedelta(days=high))
        buckets[name] = Count("pk", filter=condition)
    rows = (
        Case.objects.filter(client_id__in=list(client_ids), status__in=list(UNRESOLVED_STATUSES))
        .values("status")
        .annotate(total=Count("pk"), **buckets)
        .order_by("status")
    )
    return list(rows)
