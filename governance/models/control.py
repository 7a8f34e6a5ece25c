"""Four-eyes controls: SLA exclusions, breach disputes, SLA policy change proposals."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from cases.models import Case, Client
from slas.models import Breach, SLAClock, SLAPolicy

from ..choices import (
    ChangeStatus,
    DecisionStatus,
    DisputeStatus,
    ExclusionReason,
    ExclusionScope,
)
from ..querysets import DisputeQuerySet, ExclusionQuerySet, PolicyChangeQuerySet


class Exclusion(models.Model):
    """Takes clocks out of SLA attainment (and scorecards) once approved by a second person: one
    clock, every clock of one case, or every clock of the client running during an interval
    (client outage, client-caused delay, force majeure). The clocks themselves are untouched;
    reporting asks `governance.selectors.excluded_clock_ids`."""

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="sla_exclusions", db_index=False
    )
    scope = models.CharField(max_length=8, choices=ExclusionScope.choices)
    clock = models.ForeignKey(SLAClock, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    reason_kind = models.CharField(max_length=16, choices=ExclusionReason.choices)
    reason = models.TextField()
    evidence = models.TextField(help_text="Where the proof is: incident number, e-mail, document link.")
    status = models.CharField(max_length=12, choices=DecisionStatus.choices, default=DecisionStatus.PROPOSED)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    history = HistoricalRecords()

    objects = ExclusionQuerySet.as_manager()

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope=ExclusionScope.CLOCK, clock__isnull=False)
                    | Q(scope=ExclusionScope.CASE, case__isnull=False)
                    | Q(
                        scope=ExclusionScope.INTERVAL,
                        starts_at__isnull=False,
                        ends_at__isnull=False,
                        ends_at__gt=models.F("starts_at"),
                    )
                ),
                name="exclusion_scope_complete",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("proposed_by")),
                name="exclusion_four_eyes",
            ),
        ]
        indexes = [models.Index(fields=["client", "status"], name="exclusion_client_status")]

    def __str__(self) -> str:
        return f"Exclusion ({self.get_scope_display().lower()}): {self.get_reason_kind_display()}"


class BreachDispute(models.Model):
    """A client contesting a breach. Decided by someone else than who raised it: accepted (the
    breach does not count in attainment), waived (it counts, but no service credit is owed) or
    upheld (it stands). One live dispute per breach."""

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="breach_disputes", db_index=False
    )
    breach = models.ForeignKey(Breach, on_delete=models.CASCADE, related_name="disputes")
    status = models.CharField(max_length=12, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField()
    grounds = models.TextField()
    evidence = models.TextField(blank=True, default="")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    history = HistoricalRecords()

    objects = DisputeQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["breach"], condition=~Q(status=DisputeStatus.WITHDRAWN), name="one_dispute_per_breach"
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("raised_by")),
                name="dispute_four_eyes",
            ),
        ]
        indexes = [models.Index(fields=["client", "status"], name="dispute_client_status")]

    def __str__(self) -> str:
        return f"Dispute of {self.breach}"


class SLAPolicyChange(models.Model):
    """A proposed change to an SLA policy and its targets (`proposed`, in the shape of
    `governance.policy_data.policy_data`), with the policy as it was when proposed (`base`,
    `base_version`) for the diff, and a what-if replay of the last 30 days. Approved by another
    governance user, applied by a scheduled task at `effective_at`; a policy changed in between
    makes the proposal stale instead of overwriting that change."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    policy = models.ForeignKey(SLAPolicy, on_delete=models.PROTECT, related_name="change_proposals")
    base = models.JSONField(help_text="The policy when the change was proposed.")
    base_version = models.PositiveBigIntegerField(null=True, blank=True, help_text="Policy history row id.")
    proposed = models.JSONField(help_text="The policy as proposed.")
    reason = models.TextField()
    effective_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=ChangeStatus.choices, default=ChangeStatus.PROPOSED)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    applied_at = models.DateTimeField(null=True, blank=True)
    result_version = models.PositiveBigIntegerField(null=True, blank=True)
    whatif = models.JSONField(default=dict, blank=True)
    whatif_computed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    objects = PolicyChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-proposed_at", "-id"]
        verbose_name = "SLA policy change"
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("proposed_by")),
                name="policy_change_four_eyes",
            ),
        ]
        indexes = [models.Index(fields=["status", "effective_at"], name="policy_change_due")]

    def __str__(self) -> str:
        return f"Change #{self.pk} to {self.policy}" if self.pk else f"Change to {self.policy}"
