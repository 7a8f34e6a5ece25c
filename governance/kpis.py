"""Contract KPIs: the measures a client's contract terms are scored on. One aggregate query per
measure (no Python loop over cases), on SQLite and PostgreSQL alike.

Every measure takes `client_ids`, a half-open period ``[start, end)`` and an optional channel, and
returns a `Measure`: the value (a percentage, a score or seconds; None when there is nothing to
measure) with its numerator and denominator, so a scorecard line shows how it was reached.

Definitions (the period applies to the time named):
- service_level: inbound voice and chat contacts offered in the period (by `occurred_at`), from
  the contact's queue data (`metadata.wait_seconds`, `metadata.abandoned`, as the voice and chat
  adapters record them): answered within `threshold_seconds` / (offered - abandoned within the
  threshold). Short abandons are left out, as most contact-center contracts count them.
- abandonment_rate: abandoned / offered (same contacts).
- average_handle_time: mean `metadata.talk_seconds` of answered contacts.
- sla_attainment_<metric>: engine clocks of that metric decided in the period (stopped with an
  outcome, by `stopped_at`); clocks of approved exclusions left out; a breach voided by an
  accepted dispute counts as met. met / (met + missed).
- first_contact_resolution: cases resolved in the period (by `resolved_at`) with
  `first_contact_resolution` known: resolved at first contact / all.
- csat: surveys answered in the period with a CSAT score: score 4 or 5 (of 5) / all.
- nps: surveys answered in the period with an NPS score: % promoters (9-10) - % detractors (0-6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Avg, Count, Exists, IntegerField, OuterRef, Q, When
from django.db.models import Case as DbCase
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from cases.choices import Channel, Direction
from cases.models import Case, Interaction, SatisfactionSurvey
from slas.models import Metric, Outcome, SLAClock

from .choices import KPI, DisputeStatus
from .models import BreachDispute

CONTACT_CHANNELS = (Channel.VOICE, Channel.CHAT)


# Lower is better for these; higher for every other KPI.
LOWER_IS_BETTER = frozenset({KPI.ABANDONMENT_RATE, KPI.AVERAGE_HANDLE_TIME})
PERCENT_KPIS = frozenset(set(KPI) - {KPI.AVERAGE_HANDLE_TIME, KPI.NPS})
_SLA_METRICS = {
    KPI.SLA_FIRST_RESPONSE: Metric.FIRST_RESPONSE,
    KPI.SLA_NEXT_RESPONSE: Metric.NEXT_RESPONSE,
    KPI.SLA_RESOLUTION: Metric.RESOLUTION,
}


@dataclass(frozen=True)
class Measure:
    value: float | None
    numerator: float
    denominator: float


def _ratio(part: float, whole: float, scale: float = 100.0) -> Measure:
    return Measure(round(scale * part / whole, 2) if whole else None, part, whole)


def _ids(client_ids: Iterable[int]) -> list[int]:
    return list(client_ids)


def offered_contacts(*, client_ids: Iterable[int], start: datetime, end: datetime, channel: str | None):
    """Inbound voice/chat contacts carrying queue data, offered in the period, with `wait` and
    `abandoned` and `talk` annotated from their metadata."""
    channels = [channel] if channel else list(CONTACT_CHANNELS)
    return (
        Interaction.objects.filter(
            client_id__in=_ids(client_ids),
            channel__in=channels,
            direction=Direction.INBOUND,
            occurred_at__gte=start,
            occurred_at__lt=end,
            metadata__has_key="wait_seconds",
        )
        .annotate(
            wait=Cast(KeyTextTransform("wait_seconds", "metadata"), IntegerField()),
            talk=Cast(KeyTextTransform("talk_seconds", "metadata"), IntegerField()),
            gave_up=DbCase(When(metadata__abandoned=True, then=1), default=0, output_field=IntegerField()),
        )
        .order_by()
    )


def contact_aggregates(threshold_seconds: int) -> dict:
    """Offered, abandoned (and within the threshold), answered (and within it): the counts every
    contact measure starts from, as aggregates over `offered_contacts`."""
    return {
        "offered": Count("pk"),
        "abandoned": Count("pk", filter=Q(gave_up=1)),
        "abandoned_short": Count("pk", filter=Q(gave_up=1, wait__lte=threshold_seconds)),
        "answered": Count("pk", filter=Q(gave_up=0)),
        "answered_within": Count("pk", filter=Q(gave_up=0, wait__lte=threshold_seconds)),
    }


def contact_counts(*, client_ids, start, end, channel=None, threshold_seconds: int = 20) -> dict:
    """Offered, answered, answered within the threshold, abandoned, abandoned within it, and the
    total and count of talk seconds: one query."""
    return offered_contacts(client_ids=client_ids, start=start, end=end, channel=channel).aggregate(
        **contact_aggregates(threshold_seconds),
        talk_average=Avg("talk", filter=Q(gave_up=0, talk__isnull=False)),
        talk_count=Count("talk", filter=Q(gave_up=0)),
    )


def sla_attainment(*, client_ids, start, end, metric: str, channel: str | None = None) -> Measure:
    from .selectors import without_excluded_clocks

    disputed = Exists(
        BreachDispute.objects.filter(status=DisputeStatus.ACCEPTED, breach__clock_id=OuterRef("pk"))
    )
    clocks = SLAClock.objects.filter(
        client_id__in=_ids(client_ids), metric=metric, stopped_at__gte=start, stopped_at__lt=end
    ).exclude(outcome="")
    if channel:
        clocks = clocks.filter(channel=channel)
    counts = (
        without_excluded_clocks(clocks)
        .annotate(disputed=disputed)
        .aggregate(
            met=Count("pk", filter=Q(outcome=Outcome.MET) | Q(disputed=True)),
            total=Count("pk"),
        )
    )
    return _ratio(counts["met"], counts["total"])


def contract_measure(
    kpi: str,
    *,
    client_ids: Iterable[int],
    start: datetime,
    end: datetime,
    channel: str | None = None,
    threshold_seconds: int | None = None,
) -> Measure:
    """The value of `kpi` for the clients' contacts, clocks, cases or surveys in the period."""
    client_ids = _ids(client_ids)
    if kpi in _SLA_METRICS:
        return sla_attainment(
            client_ids=client_ids, start=start, end=end, metric=_SLA_METRICS[kpi], channel=channel
        )
    if kpi in (KPI.SERVICE_LEVEL, KPI.ABANDONMENT_RATE, KPI.AVERAGE_HANDLE_TIME):
        counts = contact_counts(
            client_ids=client_ids,
            start=start,
            end=end,
            channel=channel,
            threshold_seconds=threshold_seconds or 20,
        )
        if kpi == KPI.SERVICE_LEVEL:
            return _ratio(counts["answered_within"], counts["offered"] - counts["abandoned_short"])
        if kpi == KPI.ABANDONMENT_RATE:
            return _ratio(counts["abandoned"], counts["offered"])
        average = counts["talk_average"]
        return Measure(
            round(float(average), 2) if average is not None else None,
            round(float(average or 0) * counts["talk_count"], 2),
            counts["talk_count"],
        )
    if kpi == KPI.FIRST_CONTACT_RESOLUTION:
        cases = Case.objects.filter(
            client_id__in=client_ids,
            resolved_at__gte=start,
            resolved_at__lt=end,
            first_contact_resolution__isnull=False,
        )
        if channel:
            cases = cases.filter(origin_channel=channel)
        counts = cases.aggregate(
            first=Count("pk", filter=Q(first_contact_resolution=True)), total=Count("pk")
        )
        return _ratio(counts["first"], counts["total"])
    if kpi in (KPI.CSAT, KPI.NPS):
        surveys = SatisfactionSurvey.objects.filter(
            client_id__in=client_ids, answered_at__gte=start, answered_at__lt=end
        )
        if channel:
            surveys = surveys.filter(case__origin_channel=channel)
        if kpi == KPI.CSAT:
            counts = surveys.filter(csat__isnull=False).aggregate(
                happy=Count("pk", filter=Q(csat__gte=4)), total=Count("pk")
            )
            return _ratio(counts["happy"], counts["total"])
        counts = surveys.filter(nps__isnull=False).aggregate(
            promoters=Count("pk", filter=Q(nps__gte=9)),
            detractors=Count("pk", filter=Q(nps__lte=6)),
            total=Count("pk"),
        )
        return _ratio(counts["promoters"] - counts["detractors"], counts["total"])
    raise ValueError(f"Unknown KPI {kpi!r}.")


def contacts_by_hour(
    *, client_ids: Iterable[int], start: datetime, end: datetime, channel: str, threshold_seconds: int, tz
) -> list[dict]:
    """Per hour of the day (0-23, in `tz`) over the period: offered, answered, answered within the
    threshold, abandoned (short ones apart), and talk seconds: one query. Hours without contacts
    come back with zeros."""
    from django.db.models import Sum
    from django.db.models.functions import ExtractHour

    rows = (
        offered_contacts(client_ids=client_ids, start=start, end=end, channel=channel)
        .annotate(hour=ExtractHour("occurred_at", tzinfo=tz))
        .values("hour")
        .annotate(
            **contact_aggregates(threshold_seconds),
            talk_total=Sum("talk", filter=Q(gave_up=0)),
            talk_count=Count("talk", filter=Q(gave_up=0)),
        )
        .order_by("hour")
    )
    empty = {"offered": 0, "abandoned": 0, "abandoned_short": 0, "answered": 0, "answered_within": 0}
    by_hour = {hour: {"hour": hour, **empty, "talk_total": 0, "talk_count": 0} for hour in range(24)}
    for row in rows:
        by_hour[row["hour"]] = {**row, "talk_total": row["talk_total"] or 0}
    return [by_hour[hour] for hour in range(24)]


INTERVAL_MINUTES = 30


def service_level_by_interval(
    *,
    client_ids: Iterable[int],
    start: datetime,
    end: datetime,
    tz,
    channel: str | None = None,
    threshold_seconds: int = 20,
) -> list[dict]:
    """Service level per 30-minute interval (the contact-center interval report): for every
    interval of the period with contacts, its start in `tz`, the contacts offered, answered,
    answered within the threshold and abandoned (within the threshold too), and the service
    level as `contract_measure` defines it. One query; intervals without contacts are left out."""
    from django.db.models.functions import ExtractMinute, TruncHour

    rows = (
        offered_contacts(client_ids=client_ids, start=start, end=end, channel=channel)
        .annotate(at_hour=TruncHour("occurred_at", tzinfo=tz), minute=ExtractMinute("occurred_at", tzinfo=tz))
        .annotate(half=DbCase(When(minute__gte=30, then=1), default=0, output_field=IntegerField()))
        .values("at_hour", "half")
        .annotate(
            **contact_aggregates(threshold_seconds),
        )
        .order_by("at_hour", "half")
    )
    return [
        {
            "interval_start": row["at_hour"].astimezone(tz)
            + timedelta(minutes=INTERVAL_MINUTES * row["half"]),
            **{name: row[name] for name in _INTERVAL_COUNTS},
            "service_level_percent": _ratio(
                row["answered_within"], row["offered"] - row["abandoned_short"]
            ).value,
        }
        for row in rows
    ]


_INTERVAL_COUNTS = ("offered", "answered", "answered_within", "abandoned", "abandoned_short")


def service_level_by_time_of_day(intervals: list[dict]) -> list[dict]:
    """The interval report folded over the days of the period: one row per time of day
    (00:00, 00:30 ... 23:30) that had contacts, summed, with its service level."""
    totals: dict = {}
    for row in intervals:
        key = row["interval_start"].strftime("%H:%M")
        sums = totals.setdefault(key, dict.fromkeys(_INTERVAL_COUNTS, 0))
        for name in _INTERVAL_COUNTS:
            sums[name] += row[name]
    return [
        {
            "time_of_day": key,
            **sums,
            "service_level_percent": _ratio(
                sums["answered_within"], sums["offered"] - sums["abandoned_short"]
            ).value,
        }
        for key, sums in sorted(totals.items())
    ]
