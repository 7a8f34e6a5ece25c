"""Reads of the governance domain, scoped to the caller and prefetched.

For reporting (attainment, scorecards): `excluded_clock_ids` (approved exclusions take these
clocks out of attainment) and `breaches_voided_by_dispute` (an accepted dispute voids the
breach: its clock counts as met) / `breaches_credit_waived` (a waived dispute keeps the breach
in attainment but no service credit is owed for it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from cases.access import client_ids_for_user
from cases.choices import AuthorKind, CaseEventKind, Direction
from cases.models import Case, CaseEvent, Interaction
from slas.models import ENGINE_METRICS, Breach, SLAClock

from .choices import (
    ActionStatus,
    ChangeStatus,
    DecisionStatus,
    DisputeStatus,
    ExclusionScope,
)
from .models import (
    BreachDispute,
    BreachReview,
    BreachReviewItem,
    CorrectiveAction,
    Escalation,
    Exclusion,
    GovernanceMeeting,
    Risk,
    SLAPolicyChange,
)
from .summary import ClockLine, Message, PastEscalation, SummaryFacts, render_context_summary


def _scope(queryset: QuerySet, client_ids: Iterable[int] | None, lookup: str = "client_id") -> QuerySet:
    if client_ids is None:
        return queryset
    return queryset.filter(**{f"{lookup}__in": list(client_ids)})


# --- Exclusions and disputes, for reporting ----------------------------------------------------------


def excluded_clocks(*, client_ids: Iterable[int] | None = None) -> QuerySet[SLAClock]:
    """Clocks taken out of attainment by an approved exclusion: the clock itself, every clock of
    an excluded case, and every clock of the client running at some time in an excluded
    interval (started before its end and not stopped before its start)."""
    approved = Exclusion.objects.filter(status=DecisionStatus.APPROVED)
    if client_ids is not None:
        approved = approved.filter(client_id__in=list(client_ids))
    intervals = approved.filter(
        scope=ExclusionScope.INTERVAL, client_id=OuterRef("client_id"), ends_at__gt=OuterRef("started_at")
    )
    condition = (
        Q(pk__in=approved.filter(scope=ExclusionScope.CLOCK).values("clock_id"))
        | Q(case_id__in=approved.filter(scope=ExclusionScope.CASE).values("case_id"))
        | Q(Exists(intervals.filter(starts_at__lt=OuterRef("stopped_at"))))
        | (Q(stopped_at__isnull=True) & Q(Exists(intervals)))
    )
    return _scope(SLAClock.objects.filter(condition), client_ids)


def without_excluded_clocks(clocks: QuerySet[SLAClock]) -> QuerySet[SLAClock]:
    """`clocks` (stopped ones) without those `excluded_clocks` takes out, by the same rule as a
    condition on the clock row itself: three NOT EXISTS probes into the small exclusion table,
    which PostgreSQL runs as anti-joins while it scans millions of clocks (a NOT IN over the
    excluded clock ids went quadratic; one NOT (A OR B OR C) stays a per-row subplan and wrecks
    the row estimate, so the report's aggregate spills to disk)."""
    approved = Exclusion.objects.filter(status=DecisionStatus.APPROVED)
    return (
        clocks.exclude(Exists(approved.filter(scope=ExclusionScope.CLOCK, clock_id=OuterRef("pk"))))
        .exclude(Exists(approved.filter(scope=ExclusionScope.CASE, case_id=OuterRef("case_id"))))
        .exclude(
            Exists(
                approved.filter(
                    scope=ExclusionScope.INTERVAL,
                    client_id=OuterRef("client_id"),
                    ends_at__gt=OuterRef("started_at"),
                    starts_at__lt=OuterRef("stopped_at"),
                )
            )
        )
    )


def excluded_clock_ids(*, client_ids: Iterable[int] | None = None) -> QuerySet:
    """Ids of `excluded_clocks`, as a subquery-ready values list."""
    return excluded_clocks(client_ids=client_ids).values_list("pk", flat=True)


def breaches_voided_by_dispute(*, client_ids: Iterable[int] | None = None) -> QuerySet[Breach]:
    """Breaches whose dispute was accepted: they do not count as misses."""
    disputed = BreachDispute.objects.filter(status=DisputeStatus.ACCEPTED, breach_id=OuterRef("pk"))
    return _scope(Breach.objects.filter(Exists(disputed)), client_ids)


def breaches_credit_waived(*, client_ids: Iterable[int] | None = None) -> QuerySet[Breach]:
    """Breaches whose dispute ended waived: they count in attainment, no service credit is owed."""
    waived = BreachDispute.objects.filter(status=DisputeStatus.WAIVED, breach_id=OuterRef("pk"))
    return _scope(Breach.objects.filter(Exists(waived)), client_ids)


def clock_exclusions(*, clock: SLAClock) -> QuerySet[Exclusion]:
    """The approved exclusions that take `clock` out of attainment (the link kept)."""
    condition = (
        Q(scope=ExclusionScope.CLOCK, clock_id=clock.pk)
        | Q(scope=ExclusionScope.CASE, case_id=clock.case_id)
        | Q(scope=ExclusionScope.INTERVAL, client_id=clock.client_id, ends_at__gt=clock.started_at)
        & (Q(starts_at__lt=clock.stopped_at) if clock.stopped_at else Q())
    )
    return Exclusion.objects.filter(condition, status=DecisionStatus.APPROVED)


# --- Scoped lists --------------------------------------------------------------------------------------


def escalation_list(*, user) -> QuerySet[Escalation]:
    return Escalation.objects.filter(client_id__in=client_ids_for_user(user)).select_related(
        "case", "tier", "rule", "requested_by", "acceptance_clock"
    )


def breach_review_list(*, user) -> QuerySet[BreachReview]:
    return BreachReview.objects.filter(client_id__in=client_ids_for_user(user)).select_related(
        "client", "queue", "owner", "root_cause__parent"
    )


def repeat_breach_condition() -> Exists:
    """True for a completed action when a breach of its queue, reviewed with its root cause (or a
    child of it), happened after the action was done: the cause came back."""
    return Exists(
        BreachReviewItem.objects.filter(
            Q(review__root_cause_id=OuterRef("root_cause_id"))
            | Q(review__root_cause__parent_id=OuterRef("root_cause_id")),
            review__queue_id=OuterRef("queue_id"),
            breach__breached_at__gt=OuterRef("done_at"),
        )
    )


def corrective_actions_with_signals(queryset: QuerySet[CorrectiveAction]) -> QuerySet[CorrectiveAction]:
    """Annotate `repeat_breach` (see `repeat_breach_condition`)."""
    return queryset.annotate(
        repeat_breach=ExpressionWrapper(
            Q(
                repeat_breach_condition(),
                status__in=[ActionStatus.DONE, ActionStatus.VERIFIED],
                root_cause__isnull=False,
                queue__isnull=False,
            ),
            output_field=BooleanField(),
        )
    )


def corrective_action_list(*, user) -> QuerySet[CorrectiveAction]:
    return corrective_actions_with_signals(
        CorrectiveAction.objects.filter(client_id__in=client_ids_for_user(user)).select_related(
            "client", "owner", "review", "root_cause", "queue"
        )
    )


def meeting_list(*, user) -> QuerySet[GovernanceMeeting]:
    return GovernanceMeeting.objects.filter(client_id__in=client_ids_for_user(user)).select_related(
        "client", "chair"
    )


def risk_list(*, user) -> QuerySet[Risk]:
    return Risk.objects.filter(client_id__in=client_ids_for_user(user)).with_score().select_related("owner")


# --- Context summary ------------------------------------------------------------------------------------


def _clock_state(clock: SLAClock) -> str:
    if clock.stopped_at is not None:
        return "missed" if clock.breached_at or clock.outcome == "missed" else "met"
    if clock.paused_since is not None:
        return "paused"
    if clock.breached_at is not None:
        return "breached"
    if clock.warned_at is not None:
        return "at risk"
    return "running"


def case_context_summary(*, case: Case, now: datetime, message_limit: int = 40) -> str:
    """The escalation context summary of `case` (see `governance.summary`), from a bounded
    number of queries whatever the length of its timeline."""
    case = Case.objects.select_related("customer", "queue").get(pk=case.pk)
    handoffs = [
        (e.occurred_at, (e.before or {}).get("channel", ""), (e.after or {}).get("channel", ""))
        for e in CaseEvent.objects.filter(case=case, kind=CaseEventKind.CHANNEL_HANDOFF).order_by(
            "occurred_at", "id"
        )[:20]
    ]
    rows = list(
        Interaction.objects.filter(case=case)
        .order_by("-occurred_at", "-id")
        .values("occurred_at", "channel", "direction", "author_kind", "body")[:message_limit]
    )
    messages = []
    for row in reversed(rows):
        if row["direction"] == Direction.NOTE:
            author = "note"
        elif row["direction"] == Direction.INBOUND and row["author_kind"] == AuthorKind.CUSTOMER:
            author = "customer"
        elif row["author_kind"] == AuthorKind.AGENT:
            author = "agent"
        else:
            author = row["author_kind"]
        messages.append(Message(row["occurred_at"], row["channel"], author, row["body"]))
    clocks = {}
    for clock in SLAClock.objects.filter(case=case, metric__in=ENGINE_METRICS).order_by("metric", "cycle"):
        clocks[clock.metric] = clock  # the latest cycle of each metric
    escalations = [
        PastEscalation(
            e.created_at, e.from_tier, e.to_tier, e.get_trigger_display(), e.reason, e.get_status_display()
        )
        for e in Escalation.objects.filter(case=case).order_by("sequence")
    ]
    facts = SummaryFacts(
        subject=case.subject,
        customer=str(case.customer),
        is_vip=case.customer.is_vip,
        segment=case.customer.segment,
        language=case.customer.language,
        priority=case.priority,
        status=case.status,
        tier=case.tier,
        queue=case.queue.name,
        origin_channel=case.origin_channel,
        current_channel=case.current_channel,
        opened_at=case.opened_at,
        now=now,
        reopen_count=case.reopen_count,
        sentiment=case.sentiment,
        channel_path=handoffs,
        messages=messages,
        clocks=[
            ClockLine(metric, _clock_state(clock), clock.due_at)
            for metric, clock in sorted(clocks.items(), key=lambda item: ENGINE_METRICS.index(item[0]))
        ],
        escalations=escalations,
        interaction_count=Interaction.objects.filter(case=case).count(),
    )
    return render_context_summary(facts)


# --- What needs attention today ---------------------------------------------------------------------------


def attention_today(*, user, now: datetime, limit: int = 10) -> dict:
    """What a governance user should look at today, in the clients they serve: unowned or
    unreviewed breaches, overdue and due reviews, overdue and soon-due actions, actions done but
    not verified, repeat-breach signals, escalations awaiting acceptance, proposals and disputes
    waiting for a decision by someone else, risks due for review, today's meetings, breach
    ageing. Each list is capped at `limit`, with its total."""
    from . import metrics

    client_ids = client_ids_for_user(user)
    today = now.date()

    def section(queryset, *, order: list[str]):
        return {"total": queryset.count(), "items": list(queryset.order_by(*order)[:limit])}

    breaches = Breach.objects.filter(client_id__in=client_ids, voided_at__isnull=True)
    reviews = breach_review_list(user=user).exclude(status="closed")
    actions = corrective_action_list(user=user)
    open_actions = actions.filter(status__in=[ActionStatus.PROPOSED, ActionStatus.IN_PROGRESS])
    return {
        "now": now,
        "unreviewed_breaches": section(
            breaches.filter(
                review_item__isnull=True, breached_at__gte=now - timedelta(days=30)
            ).select_related("case", "client"),
            order=["breached_at"],
        ),
        "unowned_reviews": section(reviews.filter(owner__isnull=True), order=["due_on"]),
        "overdue_reviews": section(reviews.filter(due_on__lt=today), order=["due_on"]),
        "reviews_due_today": section(reviews.filter(due_on=today), order=["pk"]),
        "my_reviews": section(reviews.filter(owner=user), order=["due_on"]),
        "overdue_actions": section(open_actions.filter(due_on__lt=today), order=["due_on"]),
        "actions_due_soon": section(
            open_actions.filter(due_on__gte=today, due_on__lte=today + timedelta(days=3)), order=["due_on"]
        ),
        "actions_to_verify": section(actions.filter(status=ActionStatus.DONE), order=["done_at"]),
        "repeat_breaches": section(actions.filter(repeat_breach=True), order=["-done_at"]),
        "escalations_awaiting": section(
            escalation_list(user=user).filter(status="awaiting"),
            order=["acceptance_clock__due_at", "created_at"],
        ),
        "changes_to_approve": section(
            SLAPolicyChange.objects.filter(client_id__in=client_ids, status=ChangeStatus.PROPOSED)
            .exclude(proposed_by=user)
            .select_related("policy", "proposed_by"),
            order=["effective_at"],
        ),
        "exclusions_to_decide": section(
            Exclusion.objects.filter(client_id__in=client_ids, status=DecisionStatus.PROPOSED)
            .exclude(proposed_by=user)
            .select_related("client"),
            order=["proposed_at"],
        ),
        "disputes_to_decide": section(
            BreachDispute.objects.filter(client_id__in=client_ids, status=DisputeStatus.OPEN)
            .exclude(raised_by=user)
            .select_related("breach__case", "client"),
            order=["raised_at"],
        ),
        "risks_to_review": section(
            risk_list(user=user).live().filter(review_on__lte=today), order=["-score_value", "review_on"]
        ),
        "meetings_today": section(
            meeting_list(user=user).filter(
                scheduled_for__gte=now.replace(hour=0, minute=0, second=0, microsecond=0),
                scheduled_for__lt=now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1),
            ),
            order=["scheduled_for"],
        ),
        "breach_ageing": metrics.breach_ageing(client_ids=client_ids, now=now),
    }
