"""Queryset vocabulary of the governance domain."""

from __future__ import annotations

from datetime import date

from django.db.models import ExpressionWrapper, F, IntegerField

from cases.querysets import ClientScopedQuerySet

from .choices import (
    ACTIVE_ESCALATION_STATUSES,
    OPEN_ACTION_STATUSES,
    ChangeStatus,
    DecisionStatus,
    DisputeStatus,
    EscalationStatus,
    ReviewStatus,
    RiskStatus,
)


class EscalationQuerySet(ClientScopedQuerySet):
    def active(self) -> EscalationQuerySet:
        """Awaiting acceptance or accepted: at most one per case."""
        return self.filter(status__in=ACTIVE_ESCALATION_STATUSES)

    def awaiting(self) -> EscalationQuerySet:
        return self.filter(status=EscalationStatus.AWAITING)


class ReviewQuerySet(ClientScopedQuerySet):
    def unclosed(self) -> ReviewQuerySet:
        return self.exclude(status=ReviewStatus.CLOSED)

    def overdue(self, today: date) -> ReviewQuerySet:
        return self.unclosed().filter(due_on__lt=today)


class ActionQuerySet(ClientScopedQuerySet):
    def open(self) -> ActionQuerySet:
        """Proposed or in progress: still owed."""
        return self.filter(status__in=OPEN_ACTION_STATUSES)

    def overdue(self, today: date) -> ActionQuerySet:
        return self.open().filter(due_on__lt=today)


class RiskQuerySet(ClientScopedQuerySet):
    def with_score(self) -> RiskQuerySet:
        return self.annotate(
            score_value=ExpressionWrapper(F("likelihood") * F("impact"), output_field=IntegerField())
        )

    def live(self) -> RiskQuerySet:
        return self.exclude(status=RiskStatus.CLOSED)


class ExclusionQuerySet(ClientScopedQuerySet):
    def approved(self) -> ExclusionQuerySet:
        return self.filter(status=DecisionStatus.APPROVED)


class DisputeQuerySet(ClientScopedQuerySet):
    def open(self) -> DisputeQuerySet:
        return self.filter(status=DisputeStatus.OPEN)


class PolicyChangeQuerySet(ClientScopedQuerySet):
    def pending(self) -> PolicyChangeQuerySet:
        return self.filter(status=ChangeStatus.PROPOSED)

    def due(self, now) -> PolicyChangeQuerySet:
        return self.filter(status=ChangeStatus.APPROVED, effective_at__lte=now)
