"""Data of the SLA engine: calendars, versioned policies and targets, each case's matched
policy snapshot, clocks, their append-only events, warnings and breaches.

Clocks change in bulk (the sweep) so they carry no simple-history: their audit is `ClockEvent`,
written in the same statements. Breaches and warnings are one row per clock (unique)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from cases.choices import CaseStatus, Channel, Priority
from cases.models import Case, Client, Queue, validate_timezone

from .business_time import Calendar, CalendarSpecError


class Metric(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"
    ESCALATION_ACCEPTANCE = "escalation_acceptance", "Escalation acceptance"


# Metrics the clock engine derives from the case timeline; other metrics are standalone clocks
# started and stopped by other apps through `slas.services.clock_start` / `clock_stop`.
ENGINE_METRICS = (Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE, Metric.RESOLUTION)


class Outcome(models.TextChoices):
    MET = "met", "Met"
    MISSED = "missed", "Missed"


class Weekday(models.IntegerChoices):
    MON = 0, "Monday"
    TUE = 1, "Tuesday"
    WED = 2, "Wednesday"
    THU = 3, "Thursday"
    FRI = 4, "Friday"
    SAT = 5, "Saturday"
    SUN = 6, "Sunday"


WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessCalendar(models.Model):
    """Working time of a client's operation: a time zone, weekly intervals (none = 24x7) and
    holidays. `revision` increases on every change so compiled calendars are cached safely."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="calendars", db_index=False)
    name = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    is_24x7 = models.BooleanField(default=False, help_text="Every second counts (holidays still apply).")
    holiday_country = models.CharField(
        max_length=2, blank=True, default="", help_text="For generated holidays."
    )
    holiday_subdivision = models.CharField(max_length=10, blank=True, default="")
    revision = models.PositiveIntegerField(default=1)
    history = HistoricalRecords()

    class Meta:
        ordering = ["client__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["client", "name"], name="calendar_name_unique_per_client")
        ]

    def __str__(self) -> str:
        return self.name

    def spec(self) -> dict:
        """The JSON spec (`slas.business_time.Calendar.from_spec`) of this calendar."""
        holidays = sorted(h.date.isoformat() for h in self.holidays.all())
        result: dict = {"timezone": self.timezone, "holidays": holidays}
        if not self.is_24x7:
            week: dict[str, list[list[str]]] = {key: [] for key in WEEKDAY_KEYS}
            for interval in sorted(self.intervals.all(), key=lambda i: (i.weekday, i.start)):
                week[WEEKDAY_KEYS[interval.weekday]].append([interval.start_text, interval.end_text])
            result["week"] = week
        return result

    def compile(self) -> Calendar:
        return Calendar.from_spec(self.spec())

    def clean(self) -> None:
        if self.pk:
            try:
                self.compile()
            except CalendarSpecError as exc:
                raise ValidationError(str(exc)) from exc


def _time_text(value: dt.time | None, is_end: bool) -> str:
    if value is None:
        return ""
    if is_end and value == dt.time(0, 0):
        return "24:00"
    return value.strftime("%H:%M")


class CalendarInterval(models.Model):
    """A working interval on a weekday, local wall time; an end of 00:00 means midnight (24:00).
    An overnight shift is two intervals."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="intervals")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField(help_text="00:00 means midnight at the end of the day.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["weekday", "start"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_text}-{self.end_text}"

    @property
    def start_text(self) -> str:
        return _time_text(self.start, False)

    @property
    def end_text(self) -> str:
        return _time_text(self.end, True)

    def clean(self) -> None:
        if (
            self.start is not None
            and self.end is not None
            and self.end != dt.time(0, 0)
            and self.end <= self.start
        ):
            raise ValidationError(
                {"end": "The end must be after the start (use two intervals for a night shift)."}
            )


class Holiday(models.Model):
    """A whole local date without working time."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays", db_index=False
    )
    date = models.DateField()
    name = models.CharField(max_length=120, blank=True, default="")
    history = HistoricalRecords()

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_per_calendar")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


def default_pause_statuses() -> dict:
    return {
        Metric.FIRST_RESPONSE: [],
        Metric.NEXT_RESPONSE: [],
        Metric.RESOLUTION: [CaseStatus.PENDING, CaseStatus.ON_HOLD],
    }


class SLAPolicy(models.Model):
    """A client's service-level promise for the cases its conditions match (empty = any). The
    first active policy in `order` that matches a case at open is the case's policy. Every change
    is kept by simple-history; a clock records the history row (`version`) it was computed from."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="sla_policies", db_index=False)
    name = models.CharField(max_length=120)
    order = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)
    channels = models.JSONField(default=list, blank=True, help_text="Match these channels (empty: any).")
    priorities = models.JSONField(default=list, blank=True, help_text="Match these priorities (empty: any).")
    segments = models.JSONField(
        default=list, blank=True, help_text="Match these customer segments (empty: any)."
    )
    queues = models.ManyToManyField(Queue, blank=True, related_name="sla_policies")
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="policies")
    pause_statuses = models.JSONField(default=default_pause_statuses, blank=True)
    warning_percent = models.PositiveSmallIntegerField(default=80, help_text="Warn at this % of the target.")
    history = HistoricalRecords(m2m_fields=[queues])

    class Meta:
        ordering = ["client__name", "order", "id"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(warning_percent__lte=100), name="policy_warning_percent_le_100"
            ),
        ]
        indexes = [models.Index(fields=["client", "is_active", "order"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        for name, allowed in (("channels", Channel.values), ("priorities", Priority.values)):
            unknown = set(getattr(self, name) or []) - set(allowed)
            if unknown:
                errors[name] = f"Unknown values: {', '.join(sorted(unknown))}."
        pauses = self.pause_statuses or {}
        if not isinstance(pauses, dict) or set(pauses) - set(Metric.values):
            errors["pause_statuses"] = f"Keys are metrics: {', '.join(Metric.values)}."
        else:
            bad = {s for statuses in pauses.values() for s in statuses} - {
                CaseStatus.PENDING,
                CaseStatus.ON_HOLD,
            }
            if bad:
                errors["pause_statuses"] = (
                    f"Only pending and on_hold can pause a clock, not {', '.join(sorted(bad))}."
                )
        if self.calendar_id and self.client_id and self.calendar.client_id != self.client_id:
            errors["calendar"] = "The calendar belongs to another client."
        if errors:
            raise ValidationError(errors)


class SLATarget(models.Model):
    """A policy's target for one metric and priority, in seconds."""

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets", db_index=False)
    metric = models.CharField(max_length=24, choices=Metric.choices)
    priority = models.CharField(max_length=8, choices=Priority.choices)
    seconds = models.PositiveIntegerField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["metric", "priority"]
        verbose_name = "SLA target"
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "metric", "priority"], name="target_unique_per_metric_priority"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} / {self.priority}: {self.seconds} s"


class CaseSLA(models.Model):
    """A case's SLA state: the policy matched at open (or none, with the reason), the snapshot of
    its targets the clocks follow, and the engine's per-case state."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="sla")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    policy = models.ForeignKey(
        SLAPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="cases"
    )
    policy_version = models.PositiveBigIntegerField(null=True, blank=True, help_text="Policy history row id.")
    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    snapshot = models.JSONField(
        default=dict, blank=True, help_text="Targets, pauses and warning % at match time."
    )
    unmatched_reason = models.CharField(max_length=300, blank=True, default="")
    engine_state = models.JSONField(default=dict, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "case SLA"

    def __str__(self) -> str:
        return f"SLA of case {self.case_id}"


class SLAClock(models.Model):
    """One clock of a case (metric and cycle). `due_at`/`warn_at` are stored in UTC so finding
    what is due is an indexed range query; a paused clock has neither."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    # No single-column indexes on case, policy and calendar: the unique (case, metric, cycle) index
    # serves lookups by case, and every index costs the sweep an entry per breached clock.
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="clocks", db_index=False)
    policy = models.ForeignKey(
        SLAPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="clocks", db_index=False
    )
    policy_version = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="History row id of the policy applied (none for standalone clocks)."
    )
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+", db_index=False)
    metric = models.CharField(max_length=24, choices=Metric.choices)
    # A copy of the case's origin channel (fixed when the case opens), so reports group clocks
    # by channel from the clock_decided index alone.
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True, default="", db_default="")
    # The case's queue while the clock runs (moved with the case; kept once decided), so reports
    # group decided clocks by queue from the clock_decided index without a join to the cases.
    # No database constraint (like the clock event log): a copy, nulled by the ORM if the queue goes.
    queue = models.ForeignKey(
        "cases.Queue",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    cycle = models.PositiveIntegerField(default=1)
    warning_percent = models.PositiveSmallIntegerField(default=80)
    target_seconds = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    paused_since = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.PositiveBigIntegerField(default=0, help_text="Business seconds spent paused.")
    pauses = models.JSONField(
        default=list, blank=True, help_text="Closed pauses: [[start, end], ...] (UTC, ISO)."
    )
    stopped_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True, default="")
    breached_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["case", "metric", "cycle"]
        verbose_name = "SLA clock"
        constraints = [
            models.UniqueConstraint(
                fields=["case", "metric", "cycle"], name="clock_unique_per_case_metric_cycle"
            ),
        ]
        indexes = [
            # Reports read decided clocks by client and the time they stopped (attainment, scorecards);
            # partial, so the sweep's updates of running clocks never touch it.
            models.Index(
                fields=["client", "metric", "stopped_at"],
                include=["outcome", "channel", "queue", "case", "started_at", "id"],
                condition=Q(stopped_at__isnull=False),
                name="clock_decided",
            ),
            # The sweep's two range scans touch only running clocks not yet breached / warned.
            models.Index(
                fields=["due_at"],
                name="clock_due_unbreached",
                condition=Q(breached_at__isnull=True, stopped_at__isnull=True, due_at__isnull=False),
            ),
            models.Index(
                fields=["warn_at"],
                name="clock_warn_unwarned",
                condition=Q(warned_at__isnull=True, stopped_at__isnull=True, warn_at__isnull=False),
            ),
            # "Has this case a breached clock?" (the API's breached filter, the at-risk filter's
            # exclusion), asked of case after case in list order: an index-only probe of breached
            # clocks alone, half the cost of the unique index's rows filtered (decision 0009).
            models.Index(fields=["case"], name="clock_breached_case", condition=Q(breached_at__isnull=False)),
        ]

    def __str__(self) -> str:
        cycle = f" #{self.cycle}" if self.metric == Metric.NEXT_RESPONSE else ""
        return f"{self.get_metric_display()}{cycle} of case {self.case_id}"

    @property
    def state(self) -> str:
        if self.stopped_at is not None:
            return self.outcome or "stopped"
        if self.paused_since is not None:
            return "paused"
        if self.breached_at is not None:
            return "breached"
        if self.warned_at is not None:
            return "at_risk"
        return "running"


class ClockEventKind(models.TextChoices):
    STARTED = "started", "Started"
    PAUSED = "paused", "Paused"
    RESUMED = "resumed", "Resumed"
    TARGET_CHANGED = "target_changed", "Target changed"
    WARNED = "warned", "Warned"
    BREACHED = "breached", "Breached"
    MET = "met", "Met"
    MISSED = "missed", "Missed"
    RECOMPUTED = "recomputed", "Recomputed"


class ClockEvent(models.Model):
    """Append-only record of every change of a clock: when (case time), what, and why."""

    # An append-only log written by the thousand (the sweep): no database constraint on any of its
    # keys, so a batch's commit runs no foreign-key triggers (docs/decisions/0003); rows are written
    # only from a clock and deleted with it (CASCADE in the ORM).
    clock = models.ForeignKey(SLAClock, on_delete=models.CASCADE, related_name="events", db_constraint=False)
    # Copies of the clock's case and client for scoped queries. No index of its own on case:
    # clock_event_case_time starts with it.
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="clock_events", db_constraint=False, db_index=False
    )
    client = models.ForeignKey(Client, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    kind = models.CharField(max_length=16, choices=ClockEventKind.choices)
    at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=300, blank=True, default="")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="clock_event_case_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M:%S}"


class DetectedBy(models.TextChoices):
    SWEEP = "sweep", "Sweep (clock still running past due)"
    STOP = "stop", "Clock stopped late"
    REPLAY = "replay", "Replay (synced history or SLA repair)"


class Breach(models.Model):
    """Exactly one per missed clock (unique on the clock), breached at the clock's due time.
    A recompute that finds the clock met voids it (kept, with the reason)."""

    clock = models.OneToOneField(SLAClock, on_delete=models.CASCADE, related_name="breach")
    # Copies of the clock's case and client (see ClockEvent).
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="breaches", db_constraint=False)
    # No index of its own: breach_client_time and breach_client_metric_time start with it.
    client = models.ForeignKey(
        Client, on_delete=models.DO_NOTHING, related_name="breaches", db_constraint=False, db_index=False
    )
    metric = models.CharField(max_length=24, choices=Metric.choices)
    priority = models.CharField(max_length=8, choices=Priority.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    breached_at = models.DateTimeField()
    detected_by = models.CharField(max_length=8, choices=DetectedBy.choices)
    detected_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # partial index below: the sweep inserts unacknowledged breaches by the thousand
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-breached_at"]
        verbose_name_plural = "breaches"
        indexes = [
            models.Index(
                fields=["acknowledged_by"],
                condition=models.Q(acknowledged_by__isnull=False),
                name="breach_acknowledged_by",
            ),
            models.Index(fields=["client", "breached_at"], name="breach_client_time"),
            models.Index(fields=["client", "metric", "breached_at"], name="breach_client_metric_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} breach on case {self.case_id}"


class SLAWarning(models.Model):
    """Exactly one per clock that crossed its warning threshold (at risk)."""

    clock = models.OneToOneField(SLAClock, on_delete=models.CASCADE, related_name="warning")
    # Copies of the clock's case and client (see ClockEvent).
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="sla_warnings", db_constraint=False)
    client = models.ForeignKey(Client, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    metric = models.CharField(max_length=24, choices=Metric.choices)
    warned_at = models.DateTimeField()
    detected_by = models.CharField(max_length=8, choices=DetectedBy.choices)
    detected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-warned_at"]
        verbose_name = "SLA warning"

    def __str__(self) -> str:
        return f"{self.get_metric_display()} warning on case {self.case_id}"
