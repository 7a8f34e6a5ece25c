"""Escalation: per-client settings, tiers, rules, escalations, and the records that make rule
evaluation exactly-once (trigger evaluations, rule firings) and sentiment scoring idempotent."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from cases.choices import Channel, Priority
from cases.models import Case, Client, Interaction, Queue
from cases.querysets import ClientScopedQuerySet
from slas.models import BusinessCalendar, Metric, SLAClock

from ..choices import (
    ACTIVE_ESCALATION_STATUSES,
    EscalationStatus,
    EscalationTrigger,
    TierAction,
    TierLevel,
    Trigger,
)
from ..querysets import EscalationQuerySet


class GovernanceSettings(models.Model):
    """A client's governance settings. A client without a row uses the field defaults."""

    client = models.OneToOneField(Client, on_delete=models.CASCADE, related_name="governance_settings")
    auto_review_enabled = models.BooleanField(
        default=True,
        help_text="Open breach reviews automatically: one per urgent/high breach, one per queue and day "
        "for the rest, so every breach has an owner.",
    )
    review_due_days = models.PositiveSmallIntegerField(
        default=5, help_text="An automatic review is due this many days after the breach."
    )
    default_review_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Owns automatic reviews of queues without a supervisor.",
    )
    action_reminder_days_before = models.PositiveSmallIntegerField(
        default=2, help_text="Remind a corrective action's owner this many days before it is due."
    )
    overdue_reminder_every_days = models.PositiveSmallIntegerField(
        default=7, help_text="Remind again every this many days while an action is overdue."
    )
    history = HistoricalRecords()

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "governance settings"
        verbose_name_plural = "governance settings"

    def __str__(self) -> str:
        return f"Governance settings of {self.client}"


class EscalationTier(models.Model):
    """A client's escalation tier (T1 frontline, T2 specialist, T3 supervisor / client liaison):
    who owns it, which queues it serves (none: every queue of the client) and how fast it must
    accept an escalation, in business time of its calendar."""

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="escalation_tiers", db_index=False
    )
    level = models.PositiveSmallIntegerField(choices=TierLevel.choices)
    name = models.CharField(max_length=120)
    owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="owned_tiers", blank=True, help_text="Notified and may accept."
    )
    queues = models.ManyToManyField(
        Queue, related_name="escalation_tiers", blank=True, help_text="Queues served (none: all)."
    )
    acceptance_target_seconds = models.PositiveIntegerField(
        default=1800, help_text="Business seconds to accept an escalation."
    )
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords(m2m_fields=[owners, queues])

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        ordering = ["client__name", "level", "name"]
        constraints = [
            models.UniqueConstraint(fields=["client", "level", "name"], name="tier_name_unique_per_level"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=3), name="tier_level_1_to_3"),
            models.CheckConstraint(condition=Q(acceptance_target_seconds__gt=0), name="tier_target_positive"),
        ]

    def __str__(self) -> str:
        return f"T{self.level} {self.name}"

    def clean(self) -> None:
        if self.calendar_id and self.client_id and self.calendar.client_id != self.client_id:
            raise ValidationError({"calendar": "The calendar belongs to another client."})


class EscalationRule(models.Model):
    """When `trigger` happens on a case matching the conditions (empty: any), apply the actions.
    Active rules of a client are evaluated in `order`; each fires at most once per case and
    trigger occurrence (`RuleFiring`)."""

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="escalation_rules", db_index=False
    )
    name = models.CharField(max_length=120)
    order = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)
    trigger = models.CharField(max_length=24, choices=Trigger.choices)
    # Conditions
    channels = models.JSONField(default=list, blank=True, help_text="Case channels (empty: any).")
    priorities = models.JSONField(default=list, blank=True, help_text="Case priorities (empty: any).")
    queues = models.ManyToManyField(Queue, blank=True, related_name="escalation_rules")
    metrics = models.JSONField(
        default=list, blank=True, help_text="SLA triggers only: clock metrics (empty: any)."
    )
    sentiment_threshold = models.FloatField(
        default=-0.5, help_text="Negative sentiment: fire when the rolling sentiment falls below this."
    )
    reopen_count = models.PositiveSmallIntegerField(
        default=2, help_text="Reopened N times: fire at this reopen and every later one."
    )
    # Actions
    tier_action = models.CharField(max_length=4, choices=TierAction.choices, blank=True, default="")
    move_to_queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    raise_priority_to = models.CharField(max_length=8, choices=Priority.choices, blank=True, default="")
    notify_owners = models.BooleanField(default=False, help_text="E-mail the owners of the case's tier.")
    stop_processing = models.BooleanField(
        default=False, help_text="When this rule fires, later rules are not evaluated for the occurrence."
    )
    history = HistoricalRecords(m2m_fields=[queues])

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        ordering = ["client__name", "order", "id"]
        indexes = [models.Index(fields=["client", "trigger", "is_active", "order"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(sentiment_threshold__gte=-1, sentiment_threshold__lte=1),
                name="rule_sentiment_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_action(self) -> bool:
        return bool(self.tier_action or self.move_to_queue_id or self.raise_priority_to or self.notify_owners)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        for name, allowed in (
            ("channels", Channel.values),
            ("priorities", Priority.values),
            ("metrics", Metric.values),
        ):
            value = getattr(self, name) or []
            if not isinstance(value, list):
                errors[name] = "A list of values."
                continue
            unknown = set(value) - set(allowed)
            if unknown:
                errors[name] = f"Unknown values: {', '.join(sorted(unknown))}."
        if self.metrics and self.trigger not in (Trigger.SLA_WARNING, Trigger.SLA_BREACH):
            errors["metrics"] = "Only SLA triggers filter by metric."
        if self.reopen_count < 1:
            errors["reopen_count"] = "At least one reopen."
        if self.move_to_queue_id and self.client_id and self.move_to_queue.client_id != self.client_id:
            errors["move_to_queue"] = "This queue belongs to another client."
        if not self.has_action:
            errors["tier_action"] = "A rule needs at least one action."
        if errors:
            raise ValidationError(errors)


class Escalation(models.Model):
    """A case raised to a higher tier, by a rule or a person, with why and a context summary so
    the next tier need not ask the customer again. Its acceptance is an SLA clock
    (`escalation_acceptance`, cycle = `sequence`); turnaround = accepted_at - created_at. A case
    has at most one active (awaiting or accepted) escalation; a later one supersedes it."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="escalations", db_index=False)
    sequence = models.PositiveIntegerField(help_text="1 for the case's first escalation, and so on.")
    from_tier = models.PositiveSmallIntegerField(choices=TierLevel.choices)
    to_tier = models.PositiveSmallIntegerField(choices=TierLevel.choices)
    tier = models.ForeignKey(EscalationTier, on_delete=models.PROTECT, related_name="escalations")
    trigger = models.CharField(max_length=24, choices=EscalationTrigger.choices)
    rule = models.ForeignKey(
        EscalationRule, null=True, blank=True, on_delete=models.PROTECT, related_name="escalations"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()
    context_summary = models.TextField(help_text="The case so far, built from its timeline.")
    from_channel = models.CharField(max_length=16, choices=Channel.choices)
    handoff_channel = models.CharField(
        max_length=16,
        choices=Channel.choices,
        blank=True,
        default="",
        help_text="Channel the next tier continues on (e.g. chat to a voice callback).",
    )
    from_queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=16, choices=EscalationStatus.choices, default=EscalationStatus.AWAITING
    )
    created_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    close_reason = models.TextField(blank=True, default="")
    acceptance_clock = models.OneToOneField(
        SLAClock, null=True, blank=True, on_delete=models.SET_NULL, related_name="escalation"
    )
    notified_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    objects = EscalationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "sequence"], name="escalation_sequence_unique_per_case"),
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(status__in=ACTIVE_ESCALATION_STATUSES),
                name="one_active_escalation_per_case",
            ),
            models.CheckConstraint(condition=Q(to_tier__gt=models.F("from_tier")), name="escalation_goes_up"),
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(accepted_at__gte=models.F("created_at")),
                name="escalation_accepted_after_created",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "created_at"], name="escalation_client_created"),
            models.Index(fields=["client", "status"], name="escalation_client_status"),
        ]

    def __str__(self) -> str:
        return f"Escalation #{self.sequence} of case {self.case_id}: T{self.from_tier} → T{self.to_tier}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_ESCALATION_STATUSES

    @property
    def turnaround_seconds(self) -> int | None:
        if self.accepted_at is None:
            return None
        return int((self.accepted_at - self.created_at).total_seconds())


class TriggerEvaluation(models.Model):
    """One trigger occurrence on a case, evaluated against the client's rules exactly once
    (unique). The catch-up task looks for occurrences without this row."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+", db_index=False)
    trigger = models.CharField(max_length=24, choices=Trigger.choices)
    trigger_key = models.CharField(max_length=64)
    evaluated_at = models.DateTimeField()
    rules_fired = models.PositiveSmallIntegerField(default=0)
    note = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-evaluated_at"]
        constraints = [
            models.UniqueConstraint(fields=["case", "trigger", "trigger_key"], name="trigger_evaluated_once"),
        ]

    def __str__(self) -> str:
        return f"{self.trigger} {self.trigger_key} on case {self.case_id}"


class RuleFiring(models.Model):
    """A rule that fired on a case for one trigger occurrence, and what its actions did.
    Unique per (rule, case, trigger key): a rule never fires twice for one occurrence."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    rule = models.ForeignKey(EscalationRule, on_delete=models.PROTECT, related_name="firings", db_index=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="rule_firings")
    trigger = models.CharField(max_length=24, choices=Trigger.choices)
    trigger_key = models.CharField(max_length=64)
    fired_at = models.DateTimeField()
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.SET_NULL, related_name="firings"
    )
    outcome = models.JSONField(default=list, blank=True, help_text="Each action and what it did.")
    notified_at = models.DateTimeField(null=True, blank=True)

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "case", "trigger_key"], name="rule_fires_once_per_occurrence"
            ),
        ]
        indexes = [models.Index(fields=["client", "fired_at"], name="firing_client_time")]

    def __str__(self) -> str:
        return f"{self.rule} on case {self.case_id} ({self.trigger_key})"


class SentimentScore(models.Model):
    """The VADER compound score of one inbound customer text interaction (or why it was not
    scored). One per interaction, so scoring twice changes nothing."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="sentiment_scores", db_index=False)
    interaction = models.OneToOneField(Interaction, on_delete=models.CASCADE, related_name="sentiment_score")
    score = models.FloatField(null=True, blank=True)
    skipped_reason = models.CharField(max_length=120, blank=True, default="")
    occurred_at = models.DateTimeField()
    scored_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "interaction_id"]
        indexes = [models.Index(fields=["case", "occurred_at"], name="sentiment_case_time")]

    def __str__(self) -> str:
        return f"Sentiment {self.score} of interaction {self.interaction_id}"
