"""Governance metrics: set-based selectors, one query each (percentiles: one query, computed by
the database on PostgreSQL with ``percentile_cont``, from the one result list on SQLite with the
same linear interpolation).

Every selector takes `client_ids` (None: all clients) and a period: datetimes ``[start, end)``,
or dates for actions (``start <= due_on < end``).

Definitions:
- escalation rate per channel: cases opened in the period by origin channel, and how many of
  them have been escalated (at any time); rate = escalated / cases.
- escalation turnaround: accepted_at - created_at of the escalations created in the period and
  accepted; median and 90th percentile (continuous, linear interpolation), in seconds.
- root-cause closure: of the reviews opened in the period, the share closed (a closed review
  always has its root cause); of the breaches in the period (not voided, not voided by an
  accepted dispute), the share whose review is closed.
- action completion: actions due in the period, cancelled ones aside; completion % = done or
  verified / due; on-time % = done (UTC date) on or before the due date / due.
- breach ageing: breaches (not voided, not voided by an accepted dispute) whose review is not
  closed, by age since the breach.
- attainment by channel: engine clocks (first response, next response, resolution) that
  stopped in the period, by the case's origin channel; clocks of approved exclusions left out;
  a clock whose breach was voided by an accepted dispute counts as met.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
)

from cases.models import Case
from slas.models import ENGINE_METRICS, Breach, Outcome, SLAClock

from .choices import COMPLETED_ACTION_STATUSES, ActionStatus, DisputeStatus, ReviewStatus
from .models import BreachDispute, BreachReview, CorrectiveAction, Escalation

AGEING_BUCKETS: tuple[tuple[str, timedelta, timedelta | None], ...] = (
    ("under 1 day", timedelta(0), timedelta(days=1)),
    ("1-3 days", timedelta(days=1), timedelta(days=3)),
    ("3-7 days", timedelta(days=3), timedelta(days=7)),
    ("7-30 days", timedelta(days=7), timedelta(days=30)),
    ("over 30 days", timedelta(days=30), None),
)


def _scoped(queryset: QuerySet, client_ids: Iterable[int] | None) -> QuerySet:
    return queryset if client_ids is None else queryset.filter(client_id__in=list(client_ids))


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The continuous percentile of sorted `values` (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    position = fraction * (len(values) - 1)
    low, high = math.floor(position), math.ceil(position)
    return float(values[low] + (values[high] - values[low]) * (position - low))


class PercentileCont(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _dispute_accepted(breach_ref: str = "pk") -> Exists:
    return Exists(BreachDispute.objects.filter(status=DisputeStatus.ACCEPTED, breach_id=OuterRef(breach_ref)))


def escalation_rate_by_channel(
    *, client_ids: Iterable[int] | None, start: datetime, end: datetime
) -> list[dict]:
    rows = (
        _scoped(Case.objects.all(), client_ids)
        .filter(opened_at__gte=start, opened_at__lt=end)
        .annotate(was_escalated=Exists(Escalation.objects.filter(case_id=OuterRef("pk"))))
        .values("origin_channel")
        .annotate(cases=Count("pk"), escalated=Count("pk", filter=Q(was_escalated=True)))
        .order_by("origin_channel")
    )
    return [
        {
            "channel": row["origin_channel"],
            "cases": row["cases"],
            "escalated": row["escalated"],
            "rate_percent": _percent(row["escalated"], row["cases"]),
        }
        for row in rows
    ]


def duration_percentiles(queryset: QuerySet, since: str, until: str, digits: int | None = 3) -> dict:
    """Count, median and 90th percentile (continuous) of `until - since` in seconds over the
    queryset's rows: one query (PostgreSQL computes them; on SQLite, from the one sorted list).
    `digits` None: whole seconds as int."""
    duration = ExpressionWrapper(F(until) - F(since), output_field=DurationField())
    if connection.vendor == "postgresql":
        seconds = Func(duration, template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField())
        result = queryset.aggregate(
            count=Count("pk"), median=PercentileCont(seconds, 0.5), p90=PercentileCont(seconds, 0.9)
        )
        count, median, p90 = result["count"], result["median"], result["p90"]
    else:
        values = sorted(d.total_seconds() for d in queryset.annotate(d=duration).values_list("d", flat=True))
        count, median, p90 = len(values), percentile(values, 0.5), percentile(values, 0.9)
    return {
        "count": count,
        "median_seconds": None if median is None else round(float(median), digits),
        "p90_seconds": None if p90 is None else round(float(p90), digits),
    }


def escalation_turnaround(*, client_ids: Iterable[int] | None, start: datetime, end: datetime) -> dict:
    accepted = _scoped(Escalation.objects.all(), client_ids).filter(
        created_at__gte=start, created_at__lt=end, accepted_at__isnull=False
    )
    return duration_percentiles(accepted, "created_at", "accepted_at")


def root_cause_closure(*, client_ids: Iterable[int] | None, start: datetime, end: datetime) -> dict:
    reviews = _scoped(BreachReview.objects.all(), client_ids).aggregate(
        opened=Count("pk", filter=Q(opened_at__gte=start, opened_at__lt=end)),
        closed=Count("pk", filter=Q(opened_at__gte=start, opened_at__lt=end, status=ReviewStatus.CLOSED)),
    )
    breaches = (
        _scoped(Breach.objects.all(), client_ids)
        .filter(breached_at__gte=start, breached_at__lt=end, voided_at__isnull=True)
        .exclude(_dispute_accepted())
        .aggregate(
            total=Count("pk"),
            with_root_cause=Count("pk", filter=Q(review_item__review__status=ReviewStatus.CLOSED)),
        )
    )
    return {
        "reviews_opened": reviews["opened"],
        "reviews_closed": reviews["closed"],
        "review_closure_percent": _percent(reviews["closed"], reviews["opened"]),
        "breaches": breaches["total"],
        "breaches_with_root_cause": breaches["with_root_cause"],
        "breach_root_cause_percent": _percent(breaches["with_root_cause"], breaches["total"]),
    }


def action_completion(*, client_ids: Iterable[int] | None, start: date, end: date) -> dict:
    result = (
        _scoped(CorrectiveAction.objects.all(), client_ids)
        .filter(due_on__gte=start, due_on__lt=end)
        .exclude(status=ActionStatus.CANCELLED)
        .aggregate(
            due=Count("pk"),
            completed=Count("pk", filter=Q(status__in=COMPLETED_ACTION_STATUSES)),
            on_time=Count(
                "pk", filter=Q(status__in=COMPLETED_ACTION_STATUSES, done_at__date__lte=F("due_on"))
            ),
        )
    )
    return {
        **result,
        "completion_percent": _percent(result["completed"], result["due"]),
        "on_time_percent": _percent(result["on_time"], result["due"]),
    }


def breach_ageing(*, client_ids: Iterable[int] | None, now: datetime) -> list[dict]:
    unclosed = (
        _scoped(Breach.objects.all(), client_ids)
        .filter(voided_at__isnull=True, breached_at__lte=now)
        .exclude(review_item__review__status=ReviewStatus.CLOSED)
        .exclude(_dispute_accepted())
    )
    aggregates = {}
    for index, (_label, low, high) in enumerate(AGEING_BUCKETS):
        condition = Q(breached_at__lte=now - low)
        if low == timedelta(0):
            condition = Q(breached_at__lte=now)
        if high is not None:
            condition &= Q(breached_at__gt=now - high)
        aggregates[f"b{index}"] = Count("pk", filter=condition)
    counts = unclosed.aggregate(**aggregates)
    return [
        {"bucket": label, "count": counts[f"b{index}"]} for index, (label, _, _) in enumerate(AGEING_BUCKETS)
    ]


def attainment_by_channel(*, client_ids: Iterable[int] | None, start: datetime, end: datetime) -> list[dict]:
    from .selectors import without_excluded_clocks

    disputed = Exists(
        BreachDispute.objects.filter(status=DisputeStatus.ACCEPTED, breach__clock_id=OuterRef("pk"))
    )
    clocks = (
        _scoped(SLAClock.objects.all(), client_ids)
        .filter(metric__in=ENGINE_METRICS, stopped_at__gte=start, stopped_at__lt=end)
        .exclude(outcome="")
    )
    rows = (
        without_excluded_clocks(clocks)
        .annotate(disputed=disputed)
        .values("channel")
        .annotate(
            met=Count("pk", filter=Q(outcome=Outcome.MET) | Q(disputed=True)),
            missed=Count("pk", filter=Q(outcome=Outcome.MISSED, disputed=False)),
        )
        .order_by("channel")
    )
    return [
        {
            "channel": row["channel"],
            "met": row["met"],
            "missed": row["missed"],
            "attainment_percent": _percent(row["met"], row["met"] + row["missed"]),
        }
        for row in rows
    ]
