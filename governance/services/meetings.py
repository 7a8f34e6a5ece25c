"""Governance meetings: scheduled with an agenda built from the figures since the last meeting
of the same kind, held (attendees, minutes, decisions), rated at a monthly business review.
Actions raised in a meeting go through `corrective_action_raise(meeting=...)`."""

from __future__ import annotations

import zoneinfo
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from cases.models import Client
from config.errors import ApplicationError
from slas.models import Breach

from .. import metrics
from ..choices import (
    ActionStatus,
    ChangeStatus,
    DecisionStatus,
    DisputeStatus,
    EscalationStatus,
    GovernanceRating,
    MeetingKind,
    MeetingStatus,
    ReviewStatus,
    RiskStatus,
)
from ..models import (
    BreachDispute,
    BreachReview,
    CorrectiveAction,
    Escalation,
    Exclusion,
    GovernanceMeeting,
    Risk,
    SLAPolicyChange,
)
from ..selectors import corrective_actions_with_signals
from ._common import a_an, now_or, require_serves, save_with_history, text_required

DEFAULT_PERIOD = {
    MeetingKind.DAILY_HUDDLE: timedelta(days=1),
    MeetingKind.WEEKLY_REVIEW: timedelta(days=7),
    MeetingKind.MONTHLY_BUSINESS_REVIEW: timedelta(days=30),
}
LIST_LIMIT = 25


def meeting_period(
    meeting: GovernanceMeeting, now: datetime
) -> tuple[datetime, datetime, GovernanceMeeting | None]:
    """Since the last meeting of the same kind of the client (not cancelled), until the meeting
    (or now, when preparing it ahead); without a previous one, the kind's default period."""
    end = min(meeting.scheduled_for, now)
    previous = (
        GovernanceMeeting.objects.filter(
            client_id=meeting.client_id, kind=meeting.kind, scheduled_for__lt=meeting.scheduled_for
        )
        .exclude(status=MeetingStatus.CANCELLED)
        .exclude(pk=meeting.pk)
        .order_by("-scheduled_for")
        .first()
    )
    start = previous.scheduled_for if previous is not None else end - DEFAULT_PERIOD[meeting.kind]
    return min(start, end), end, previous


def _person(user) -> str:
    return user.get_full_name() or user.get_username() if user is not None else ""


def meeting_agenda_data(*, meeting: GovernanceMeeting, now: datetime) -> dict:
    """The agenda's figures (JSON), computed from the database for the meeting's period."""
    start, end, previous = meeting_period(meeting, now)
    client_ids = [meeting.client_id]
    today = end.date()
    breaches = Breach.objects.filter(
        client_id=meeting.client_id, breached_at__gte=start, breached_at__lt=end, voided_at__isnull=True
    )
    review_state: Counter = Counter()
    for row in breaches.values("review_item__review__status").annotate(n=Count("pk")).order_by():
        review_state[row["review_item__review__status"] or "unreviewed"] += row["n"]
    by_metric = {
        row["metric"]: row["n"] for row in breaches.values("metric").annotate(n=Count("pk")).order_by()
    }
    reviews = BreachReview.objects.filter(client_id=meeting.client_id)
    closed_reviews = reviews.filter(closed_at__gte=start, closed_at__lt=end).select_related(
        "root_cause__parent", "owner"
    )
    actions = corrective_actions_with_signals(
        CorrectiveAction.objects.filter(client_id=meeting.client_id).select_related(
            "owner", "root_cause__parent"
        )
    )
    overdue = actions.filter(status__in=[ActionStatus.PROPOSED, ActionStatus.IN_PROGRESS], due_on__lt=today)
    verified = actions.filter(verified_at__gte=start, verified_at__lt=end)
    done = actions.filter(status=ActionStatus.DONE, done_at__gte=start, done_at__lt=end)
    escalations = Escalation.objects.filter(
        client_id=meeting.client_id, created_at__gte=start, created_at__lt=end
    )

    def action_row(action: CorrectiveAction) -> dict:
        return {
            "id": action.pk,
            "title": action.title,
            "owner": _person(action.owner),
            "due_on": action.due_on.isoformat(),
            "status": action.status,
            "root_cause": str(action.root_cause) if action.root_cause else "",
            "verification_notes": action.verification_notes,
            "repeat_breach": bool(getattr(action, "repeat_breach", False)),
        }

    agenda = {
        "kind": meeting.kind,
        "period": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "since_meeting": previous.pk if previous else None,
        },
        "attainment_by_channel": metrics.attainment_by_channel(client_ids=client_ids, start=start, end=end),
        "breaches": {
            "total": sum(review_state.values()),
            "by_metric": by_metric,
            "by_review_state": {
                state: review_state.get(state, 0)
                for state in ("unreviewed", ReviewStatus.OPEN, ReviewStatus.IN_PROGRESS, ReviewStatus.CLOSED)
            },
        },
        "breach_ageing": metrics.breach_ageing(client_ids=client_ids, now=end),
        "reviews": {
            "opened": reviews.filter(opened_at__gte=start, opened_at__lt=end).count(),
            "closed": [
                {
                    "id": r.pk,
                    "title": r.title,
                    "root_cause": str(r.root_cause) if r.root_cause else "",
                    "owner": _person(r.owner),
                    "findings": r.findings[:500],
                }
                for r in closed_reviews.order_by("closed_at")[:LIST_LIMIT]
            ],
            "overdue": reviews.exclude(status=ReviewStatus.CLOSED).filter(due_on__lt=today).count(),
        },
        "actions": {
            "raised": actions.filter(created_at__gte=start, created_at__lt=end).count(),
            "overdue": [action_row(a) for a in overdue.order_by("due_on")[:LIST_LIMIT]],
            "done_awaiting_verification": [action_row(a) for a in done.order_by("done_at")[:LIST_LIMIT]],
            "verified": [action_row(a) for a in verified.order_by("verified_at")[:LIST_LIMIT]],
            "repeat_breaches": [action_row(a) for a in actions.filter(repeat_breach=True)[:LIST_LIMIT]],
        },
        "escalations": {
            "total": escalations.count(),
            "by_trigger": {
                row["trigger"]: row["n"]
                for row in escalations.values("trigger").annotate(n=Count("pk")).order_by()
            },
            "awaiting_acceptance": Escalation.objects.filter(
                client_id=meeting.client_id, status=EscalationStatus.AWAITING
            ).count(),
            "turnaround": metrics.escalation_turnaround(client_ids=client_ids, start=start, end=end),
        },
        "risks": [
            {
                "id": risk.pk,
                "title": risk.title,
                "score": risk.score_value,
                "owner": _person(risk.owner),
                "review_on": risk.review_on.isoformat(),
                "status": risk.status,
            }
            for risk in Risk.objects.filter(client_id=meeting.client_id)
            .exclude(status=RiskStatus.CLOSED)
            .with_score()
            .select_related("owner")
            .order_by("-score_value", "review_on")[:LIST_LIMIT]
        ],
    }
    if meeting.kind == MeetingKind.MONTHLY_BUSINESS_REVIEW:
        rated = (
            GovernanceMeeting.objects.filter(
                client_id=meeting.client_id,
                kind=MeetingKind.MONTHLY_BUSINESS_REVIEW,
                scheduled_for__lt=meeting.scheduled_for,
            )
            .exclude(governance_rating="")
            .order_by("-scheduled_for")
            .first()
        )
        agenda["previous_rating"] = (
            {
                "rating": rated.governance_rating,
                "at": rated.scheduled_for.isoformat(),
                "notes": rated.rating_notes,
            }
            if rated
            else None
        )
        agenda["root_cause_closure"] = metrics.root_cause_closure(client_ids=client_ids, start=start, end=end)
        agenda["action_completion"] = metrics.action_completion(
            client_ids=client_ids, start=start.date(), end=end.date() + timedelta(days=1)
        )
        agenda["escalation_rate_by_channel"] = metrics.escalation_rate_by_channel(
            client_ids=client_ids, start=start, end=end
        )
        agenda["exclusions_approved"] = Exclusion.objects.filter(
            client_id=meeting.client_id,
            status=DecisionStatus.APPROVED,
            decided_at__gte=start,
            decided_at__lt=end,
        ).count()
        agenda["disputes_decided"] = {
            row["status"]: row["n"]
            for row in BreachDispute.objects.filter(
                client_id=meeting.client_id, decided_at__gte=start, decided_at__lt=end
            )
            .exclude(status=DisputeStatus.OPEN)
            .values("status")
            .annotate(n=Count("pk"))
            .order_by()
        }
        agenda["policy_changes_applied"] = SLAPolicyChange.objects.filter(
            client_id=meeting.client_id,
            status=ChangeStatus.APPLIED,
            applied_at__gte=start,
            applied_at__lt=end,
        ).count()
        agenda["scorecard"] = _latest_scorecard(meeting)
    return agenda


def _latest_scorecard(meeting: GovernanceMeeting) -> dict | None:
    """The client's latest scorecard for a month before the meeting: status and totals (the
    whole card is on the scorecard page)."""
    from ..models import Scorecard

    # A month ended before the meeting's (in the client's time zone): never the running month's
    # draft, which holds a few days' figures.
    local = timezone.localtime(meeting.scheduled_for, zoneinfo.ZoneInfo(meeting.client.timezone)).date()
    scorecard = (
        Scorecard.objects.filter(client_id=meeting.client_id, period__lt=local.replace(day=1))
        .order_by("-period")
        .first()
    )
    if scorecard is None:
        return None
    return {
        "period": scorecard.period.strftime("%Y-%m"),
        "status": scorecard.status,
        "score_percent": str(scorecard.score_percent) if scorecard.score_percent is not None else None,
        "currency": scorecard.currency,
        "credit": str(scorecard.credit_total),
        "bonus": str(scorecard.bonus_total),
        "earned_back": str(scorecard.earned_back_total),
        "terms_missed": [
            line["kpi_label"] for line in scorecard.data.get("lines", []) if line.get("met") is False
        ],
    }


@transaction.atomic
def meeting_schedule(
    *,
    client: Client,
    kind: str,
    scheduled_for: datetime,
    actor: Any,
    title: str = "",
    chair=None,
    attendees: Sequence = (),
    now: datetime | None = None,
) -> GovernanceMeeting:
    """Plan a meeting of `kind` and build its agenda."""
    now = now_or(now)
    if kind not in MeetingKind.values:
        raise ApplicationError.for_field("kind", f"Unknown meeting kind {kind!r}.")
    require_serves(actor, client.pk)
    for person in [chair, *attendees]:
        if person is not None:
            require_serves(person, client.pk, "attendees")
    meeting = GovernanceMeeting(
        client=client, kind=kind, scheduled_for=scheduled_for, title=title[:200], chair=chair
    )
    save_with_history(meeting, "scheduled", actor)
    if attendees:
        meeting.attendees.set(attendees)
    return meeting_agenda_build(meeting=meeting, actor=actor, now=now)


@transaction.atomic
def meeting_agenda_build(
    *, meeting: GovernanceMeeting, actor: Any = None, now: datetime | None = None
) -> GovernanceMeeting:
    """(Re)build the agenda of a planned meeting from the figures since the last meeting of its
    kind. A held or cancelled meeting's agenda stays as it was."""
    now = now_or(now)
    meeting = GovernanceMeeting.objects.select_for_update().get(pk=meeting.pk)
    if meeting.status != MeetingStatus.PLANNED:
        raise ApplicationError(f"The agenda of a {meeting.get_status_display().lower()} meeting is frozen.")
    agenda = meeting_agenda_data(meeting=meeting, now=now)
    meeting.agenda = agenda
    meeting.period_start = datetime.fromisoformat(agenda["period"]["start"])
    meeting.period_end = datetime.fromisoformat(agenda["period"]["end"])
    meeting.agenda_built_at = now
    save_with_history(meeting, "agenda built", actor)
    return meeting


@transaction.atomic
def meeting_record(
    *,
    meeting: GovernanceMeeting,
    actor: Any,
    minutes: str,
    decisions: str = "",
    attendees: Sequence | None = None,
    external_attendees: str | None = None,
    held_at: datetime | None = None,
) -> GovernanceMeeting:
    """Record that the meeting was held (or update the record of a held meeting): minutes
    (required), decisions, attendees."""
    meeting = GovernanceMeeting.objects.select_for_update().get(pk=meeting.pk)
    require_serves(actor, meeting.client_id)
    if meeting.status == MeetingStatus.CANCELLED:
        raise ApplicationError("A cancelled meeting has no minutes.")
    minutes = text_required(minutes, "minutes", "Write the minutes.")
    for person in attendees or []:
        require_serves(person, meeting.client_id, "attendees")
    first = meeting.status == MeetingStatus.PLANNED
    meeting.minutes, meeting.decisions = minutes, decisions or ""
    if external_attendees is not None:
        meeting.external_attendees = external_attendees
    if first:
        meeting.status = MeetingStatus.HELD
        meeting.held_at = now_or(held_at)
    save_with_history(meeting, "held: minutes recorded" if first else "minutes updated", actor)
    if attendees is not None:
        meeting.attendees.set(attendees)
    return meeting


@transaction.atomic
def meeting_attendees_set(
    *, meeting: GovernanceMeeting, actor: Any, attendees: Sequence, external_attendees: str | None = None
) -> GovernanceMeeting:
    """Set who attends (staff serving the client) and the client-side attendees."""
    meeting = GovernanceMeeting.objects.select_for_update().get(pk=meeting.pk)
    require_serves(actor, meeting.client_id)
    if meeting.status == MeetingStatus.CANCELLED:
        raise ApplicationError("A cancelled meeting has no attendees to change.")
    for person in attendees:
        require_serves(person, meeting.client_id, "attendees")
    if external_attendees is not None and external_attendees != meeting.external_attendees:
        meeting.external_attendees = external_attendees
        save_with_history(meeting, "attendees changed", actor)
    meeting.attendees.set(attendees)
    return meeting


@transaction.atomic
def meeting_rate(*, meeting: GovernanceMeeting, actor: Any, rating: str, notes: str) -> GovernanceMeeting:
    """Give the client's governance rating (green / amber / red) at a monthly business review."""
    meeting = GovernanceMeeting.objects.select_for_update().get(pk=meeting.pk)
    require_serves(actor, meeting.client_id)
    if meeting.kind != MeetingKind.MONTHLY_BUSINESS_REVIEW:
        raise ApplicationError.for_field(
            "governance_rating", "The rating is given at a monthly business review."
        )
    if meeting.status == MeetingStatus.CANCELLED:
        raise ApplicationError("A cancelled meeting gives no rating.")
    if rating not in GovernanceRating.values:
        raise ApplicationError.for_field("governance_rating", f"Unknown rating {rating!r}.")
    notes = text_required(notes, "rating_notes", "Say what the rating rests on.")
    meeting.governance_rating, meeting.rating_notes = rating, notes
    save_with_history(meeting, f"rated {rating}", actor)
    return meeting


@transaction.atomic
def meeting_cancel(*, meeting: GovernanceMeeting, actor: Any, reason: str) -> GovernanceMeeting:
    """Cancel a planned meeting (it is then skipped when the next agenda looks for the last one)."""
    reason = text_required(reason, "reason", "Say why the meeting is cancelled.")
    meeting = GovernanceMeeting.objects.select_for_update().get(pk=meeting.pk)
    require_serves(actor, meeting.client_id)
    if meeting.status != MeetingStatus.PLANNED:
        raise ApplicationError(
            f"{a_an(meeting.get_status_display().lower()).capitalize()} meeting cannot be cancelled."
        )
    meeting.status = MeetingStatus.CANCELLED
    save_with_history(meeting, f"cancelled: {reason}", actor)
    return meeting
