"""Root causes, breach reviews, corrective actions and their reminders, meetings, risks."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from cases.models import Client, Queue
from cases.querysets import ClientScopedQuerySet
from slas.models import Breach

from ..choices import (
    OPEN_ACTION_STATUSES,
    ActionStatus,
    GovernanceRating,
    MeetingKind,
    MeetingStatus,
    ReminderKind,
    ReviewKind,
    ReviewStatus,
    RiskStatus,
)
from ..querysets import ActionQuerySet, ReviewQuerySet, RiskQuerySet


class RootCause(models.Model):
    """A node of the root-cause taxonomy shared by every client: a category (people, process,
    platform, knowledge, demand, third party) or one of its children. Seeded by migration."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    description = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        if self.parent_id:
            return f"{self.parent.name} > {self.name}"
        return self.name

    def clean(self) -> None:
        if self.parent_id and self.parent.parent_id:
            raise ValidationError({"parent": "The taxonomy has two levels: a category and its causes."})


class BreachReview(models.Model):
    """The analysis of one or more breaches: an owner, a due date, the root cause and findings.
    Each breach is in at most one review (`BreachReviewItem` is unique on the breach), which is
    how every breach gets exactly one owner for its analysis. Closing needs a root cause and
    findings."""

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="breach_reviews", db_index=False
    )
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=ReviewKind.choices, default=ReviewKind.MANUAL)
    auto_key = models.CharField(
        max_length=80, blank=True, default="", help_text="Automatic reviews: what they group (unique)."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    due_on = models.DateField()
    root_cause = models.ForeignKey(
        RootCause, null=True, blank=True, on_delete=models.PROTECT, related_name="reviews"
    )
    findings = models.TextField(blank=True, default="")
    status = models.CharField(max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    breaches = models.ManyToManyField(Breach, through="BreachReviewItem", related_name="reviews")
    history = HistoricalRecords()

    objects = ReviewQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "auto_key"], condition=~Q(auto_key=""), name="review_auto_key_unique"
            ),
            models.CheckConstraint(
                condition=~Q(status=ReviewStatus.CLOSED)
                | (Q(root_cause__isnull=False) & Q(closed_at__isnull=False)),
                name="closed_review_has_root_cause",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "status", "due_on"], name="review_client_status_due"),
            models.Index(fields=["owner", "status"], name="review_owner_status"),
        ]

    def __str__(self) -> str:
        return self.title

    def is_overdue(self, today: date) -> bool:
        return self.status != ReviewStatus.CLOSED and self.due_on < today


class BreachReviewItem(models.Model):
    """A breach covered by a review. Unique on the breach: one review, one owner per breach."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    review = models.ForeignKey(BreachReview, on_delete=models.CASCADE, related_name="items")
    breach = models.OneToOneField(Breach, on_delete=models.CASCADE, related_name="review_item")
    added_at = models.DateTimeField()
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["added_at", "id"]

    def __str__(self) -> str:
        return f"{self.breach} in {self.review}"


class CorrectiveAction(models.Model):
    """Something owed to prevent breaches recurring, raised from a review or a meeting. Status
    proposed → in progress → done → verified (effective), or cancelled; done can go back to in
    progress when verification finds it ineffective. Linked to the breaches and root cause it
    answers; `queue` (from its review) is where a repeat breach is looked for."""

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="corrective_actions", db_index=False
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    due_on = models.DateField()
    status = models.CharField(max_length=12, choices=ActionStatus.choices, default=ActionStatus.PROPOSED)
    review = models.ForeignKey(
        BreachReview, null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    meeting = models.ForeignKey(
        "GovernanceMeeting", null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    root_cause = models.ForeignKey(
        RootCause, null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    breaches = models.ManyToManyField(Breach, blank=True, related_name="corrective_actions")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verification_notes = models.TextField(blank=True, default="")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True, default="")
    history = HistoricalRecords()

    objects = ActionQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status__in=[ActionStatus.DONE, ActionStatus.VERIFIED])
                | Q(done_at__isnull=False),
                name="completed_action_has_done_at",
            ),
            models.CheckConstraint(
                condition=~Q(status=ActionStatus.VERIFIED) | ~Q(verification_notes=""),
                name="verified_action_has_notes",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "status", "due_on"], name="action_client_status_due"),
            models.Index(fields=["owner", "status"], name="action_owner_status"),
        ]

    def __str__(self) -> str:
        return self.title

    def is_overdue(self, today: date) -> bool:
        return self.status in OPEN_ACTION_STATUSES and self.due_on < today


class ActionReminder(models.Model):
    """A reminder e-mail about a corrective action, sent once per `key` (``before_due:<due>``,
    ``overdue:<due>:0``, ``overdue:<due>:1``...: a new due date is reminded anew)."""

    action = models.ForeignKey(
        CorrectiveAction, on_delete=models.CASCADE, related_name="reminders", db_index=False
    )
    kind = models.CharField(max_length=12, choices=ReminderKind.choices)
    key = models.CharField(max_length=40)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["action", "key"], name="reminder_once_per_key")]

    def __str__(self) -> str:
        return f"{self.key} reminder for {self.action_id}"


class GovernanceMeeting(models.Model):
    """A daily huddle, weekly review or monthly business review of one client. Its agenda is
    built from the figures since the last meeting of the same kind and frozen in `agenda`; the
    client's governance rating is given at a monthly business review."""

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="governance_meetings", db_index=False
    )
    kind = models.CharField(max_length=24, choices=MeetingKind.choices)
    title = models.CharField(max_length=200, blank=True, default="")
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=12, choices=MeetingStatus.choices, default=MeetingStatus.PLANNED)
    chair = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attendees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    external_attendees = models.TextField(blank=True, default="", help_text="Client-side attendees.")
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    agenda = models.JSONField(default=dict, blank=True)
    agenda_built_at = models.DateTimeField(null=True, blank=True)
    minutes = models.TextField(blank=True, default="")
    decisions = models.TextField(blank=True, default="")
    governance_rating = models.CharField(
        max_length=8, choices=GovernanceRating.choices, blank=True, default=""
    )
    rating_notes = models.TextField(blank=True, default="")
    held_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(m2m_fields=[attendees])

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(governance_rating="") | Q(kind=MeetingKind.MONTHLY_BUSINESS_REVIEW),
                name="rating_only_at_business_review",
            ),
        ]
        indexes = [models.Index(fields=["client", "kind", "scheduled_for"], name="meeting_client_kind_time")]

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()} {self.scheduled_for:%Y-%m-%d}"

    def clean(self) -> None:
        if self.governance_rating and self.kind != MeetingKind.MONTHLY_BUSINESS_REVIEW:
            raise ValidationError({"governance_rating": "Rated at a monthly business review only."})


class Risk(models.Model):
    """An entry of a client's risk log: likelihood and impact 1-5 (score = product), an owner,
    the mitigation and when it is reviewed next."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="risks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    likelihood = models.PositiveSmallIntegerField(help_text="1 rare … 5 almost certain")
    impact = models.PositiveSmallIntegerField(help_text="1 negligible … 5 severe")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    mitigation = models.TextField(blank=True, default="")
    review_on = models.DateField()
    status = models.CharField(max_length=12, choices=RiskStatus.choices, default=RiskStatus.OPEN)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raised_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    objects = RiskQuerySet.as_manager()

    class Meta:
        ordering = ["review_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(likelihood__gte=1, likelihood__lte=5), name="risk_likelihood_1_5"
            ),
            models.CheckConstraint(condition=Q(impact__gte=1, impact__lte=5), name="risk_impact_1_5"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def score(self) -> int:
        return (self.likelihood or 0) * (self.impact or 0)

    @property
    def level(self) -> str:
        score = self.score
        return "high" if score >= 15 else "medium" if score >= 8 else "low"
