"""Escalations: create (manual or by a rule), accept (turnaround, acceptance clock stopped),
close, de-escalate, and the owners' notification.

An escalation raises the case's tier through `cases.services.case_tier_set` (so it is on the
case's timeline) and starts an `escalation_acceptance` clock of the SLA engine for the target
tier (cycle = the escalation's sequence on the case), which the sweep warns and breaches like any
other clock. A case has at most one active escalation; a later one supersedes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max

from cases import services as case_services
from cases.choices import CaseStatus, Channel, Role
from cases.models import Case, Queue
from config.errors import ApplicationError, ConflictError
from config.events import publish
from config.mail import notification_send
from config.tasks import task_enqueue
from slas import services as sla_services
from slas.models import Metric

from .. import events
from ..choices import ACTIVE_ESCALATION_STATUSES, EscalationStatus, EscalationTrigger
from ..models import Escalation, EscalationRule, EscalationTier, RuleFiring
from ..rules import TierSpec, tier_choose
from ..selectors import case_context_summary
from ._common import (
    has_role,
    is_user,
    now_or,
    require_serves,
    save_with_history,
    text_required,
    user_label,
)


def tiers_for_client(client_id: int) -> list[EscalationTier]:
    return list(
        EscalationTier.objects.filter(client_id=client_id, is_active=True)
        .select_related("calendar")
        .prefetch_related("queues")
    )


def tier_for_case(*, client_id: int, level: int, queue_id: int, tiers=None) -> EscalationTier | None:
    """The active tier of `level` that serves `queue_id` (see `governance.rules.tier_choose`)."""
    tiers = tiers if tiers is not None else tiers_for_client(client_id)
    spec = tier_choose(
        [TierSpec(id=t.pk, level=t.level, queue_ids=frozenset(q.pk for q in t.queues.all())) for t in tiers],
        level=level,
        queue_id=queue_id,
    )
    if spec is None:
        return None
    return next(t for t in tiers if t.pk == spec.id)


def _stop_acceptance(escalation: Escalation, at: datetime, reason: str) -> None:
    if escalation.acceptance_clock_id is not None:
        escalation.acceptance_clock = sla_services.clock_stop(
            clock=escalation.acceptance_clock, at=at, reason=reason
        )


@transaction.atomic
def escalation_create(
    *,
    case: Case,
    reason: str,
    actor: Any,
    to_tier: int | None = None,
    trigger: str = EscalationTrigger.MANUAL,
    rule: EscalationRule | None = None,
    handoff_channel: str = "",
    move_to_queue: Queue | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Escalation:
    """Escalate `case` to `to_tier` (default: one above its tier) with a reason.

    Manual escalations (`trigger="manual"`) need a user who serves the case's client; a client
    system's request (`trigger="client_request"`) is made in its name, never a user's; rule
    escalations pass the rule and its trigger. Records the context summary of the case, raises
    the tier on the case (timeline entry), optionally moves the case to another queue of the
    client and records the channel the next tier continues on, supersedes the case's active
    escalation, starts the tier's acceptance clock, and e-mails the tier's owners (task, on
    commit). Refused — nothing changed — when the case is resolved or closed, the tier is not
    above the current one, or the client has no active tier of that level for the case's queue.
    """
    now = now_or(now).replace(microsecond=0)  # whole seconds, like the SLA engine's clocks
    reason = text_required(reason, "reason", "Say why the case is escalated.")
    if trigger not in EscalationTrigger.values:
        raise ApplicationError.for_field("trigger", f"Unknown trigger {trigger!r}.")
    if trigger == EscalationTrigger.MANUAL:
        if not is_user(actor):
            raise ApplicationError.for_field("actor", "A manual escalation is requested by a person.")
        require_serves(actor, case.client_id)
    elif trigger == EscalationTrigger.CLIENT_REQUEST:
        # The client's own system asks (its API key, scoped to the case's client by the caller).
        if is_user(actor):
            raise ApplicationError.for_field("trigger", "A person escalates manually, not as the client.")
    elif rule is None:
        raise ApplicationError.for_field("rule", "An automatic escalation names its rule.")
    if handoff_channel and handoff_channel not in Channel.values:
        raise ApplicationError.for_field("handoff_channel", f"Unknown channel {handoff_channel!r}.")
    if move_to_queue is not None and move_to_queue.client_id != case.client_id:
        raise ApplicationError.for_field("queue", "This queue belongs to another client.")

    locked = Case.objects.select_for_update().select_related("queue").get(pk=case.pk)
    if expected_version is not None and locked.version != expected_version:
        raise ConflictError(
            f"This case was changed by someone else (version {locked.version}, you had {expected_version}). "
            "Reload it and try again."
        )
    if locked.status in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        raise ApplicationError("A resolved or closed case is not escalated; reopen it first.")
    target = to_tier if to_tier is not None else locked.tier + 1
    if target not in (2, 3) or target <= locked.tier:
        raise ApplicationError.for_field(
            "to_tier", f"The case is at T{locked.tier}; it can be escalated to a higher tier (T2 or T3) only."
        )
    destination_queue = move_to_queue or locked.queue
    tier = tier_for_case(client_id=locked.client_id, level=target, queue_id=destination_queue.pk)
    if tier is None:
        raise ApplicationError.for_field(
            "to_tier", f"No active T{target} tier serves the queue {destination_queue} of this client."
        )

    who = actor if is_user(actor) else user_label(actor)
    sequence = (Escalation.objects.filter(case=locked).aggregate(m=Max("sequence"))["m"] or 0) + 1
    previous = Escalation.objects.select_for_update().filter(
        case=locked, status__in=ACTIVE_ESCALATION_STATUSES
    )
    for old in previous:
        old.status = EscalationStatus.SUPERSEDED
        old.closed_at = now
        old.close_reason = f"superseded by escalation #{sequence}"
        save_with_history(old, old.close_reason, actor)
        if old.accepted_at is None:
            _stop_acceptance(old, now, f"superseded by escalation #{sequence}")
        publish(
            events.EscalationClosed(
                escalation_id=old.pk,
                case_id=locked.pk,
                client_id=locked.client_id,
                occurred_at=now,
                status=old.status,
            )
        )
    summary = case_context_summary(case=locked, now=now)
    from_tier, from_queue, from_channel = locked.tier, locked.queue, locked.current_channel
    label = f"escalation #{sequence}: {reason}"
    if move_to_queue is not None and move_to_queue.pk != locked.queue_id:
        locked = case_services.case_queue_set(case=locked, queue=move_to_queue, actor=who, reason=label)
    locked = case_services.case_tier_set(case=locked, tier=target, actor=who, reason=label)
    clock = sla_services.clock_start(
        case=locked,
        metric=Metric.ESCALATION_ACCEPTANCE,
        cycle=sequence,
        target_seconds=tier.acceptance_target_seconds,
        calendar=tier.calendar,
        started_at=now,
        reason=f"escalation #{sequence} to {tier}",
    )
    escalation = Escalation(
        client_id=locked.client_id,
        case=locked,
        sequence=sequence,
        from_tier=from_tier,
        to_tier=target,
        tier=tier,
        trigger=trigger,
        rule=rule,
        requested_by=actor if is_user(actor) else None,
        reason=reason,
        context_summary=summary,
        from_channel=from_channel,
        handoff_channel=handoff_channel,
        from_queue=from_queue,
        created_at=now,
        acceptance_clock=clock,
    )
    save_with_history(escalation, f"escalated T{from_tier}→T{target} ({trigger})", actor)
    publish(
        events.EscalationCreated(
            escalation_id=escalation.pk,
            case_id=locked.pk,
            client_id=locked.client_id,
            occurred_at=now,
            from_tier=from_tier,
            to_tier=target,
            trigger=trigger,
        )
    )
    task_enqueue("governance.tasks.escalation_notify_task", escalation.pk)
    return escalation


def _lock_escalation(escalation: Escalation) -> Escalation:
    return (
        Escalation.objects.select_for_update(of=("self",))
        .select_related("case", "tier", "acceptance_clock")
        .get(pk=escalation.pk)
    )


def _may_handle(user: Any, escalation: Escalation) -> bool:
    """Tier owners, supervisors and governance staff of the client may accept or close."""
    if not is_user(user):
        return False
    if user.is_superuser:
        return True
    if escalation.tier.owners.filter(pk=user.pk).exists():
        return True
    return has_role(user, Role.SUPERVISOR) or has_role(user, Role.GOVERNANCE)


@transaction.atomic
def escalation_accept(*, escalation: Escalation, actor: Any, at: datetime | None = None) -> Escalation:
    """The target tier takes the escalation: turnaround = accepted_at - created_at; the
    acceptance clock stops (met, or missed with its breach if late). Only an escalation awaiting
    acceptance can be accepted, by a tier owner, supervisor or governance user of the client."""
    at = now_or(at).replace(microsecond=0)
    escalation = _lock_escalation(escalation)
    require_serves(actor, escalation.client_id)
    if escalation.status != EscalationStatus.AWAITING:
        raise ApplicationError(
            f"This escalation is {escalation.get_status_display().lower()}, not awaiting acceptance."
        )
    if not _may_handle(actor, escalation):
        raise ApplicationError(
            "Only the tier's owners, supervisors or governance staff accept an escalation."
        )
    if at < escalation.created_at:
        raise ApplicationError.for_field("at", "An escalation cannot be accepted before it was created.")
    escalation.status = EscalationStatus.ACCEPTED
    escalation.accepted_at = at
    escalation.accepted_by = actor
    save_with_history(escalation, f"accepted by {user_label(actor)}", actor)
    _stop_acceptance(escalation, at, f"accepted by {user_label(actor)}")
    publish(
        events.EscalationAccepted(
            escalation_id=escalation.pk,
            case_id=escalation.case_id,
            client_id=escalation.client_id,
            occurred_at=at,
            turnaround_seconds=escalation.turnaround_seconds or 0,
        )
    )
    return escalation


def _finish(escalation: Escalation, status: str, actor: Any, reason: str, at: datetime) -> None:
    was_awaiting = escalation.status == EscalationStatus.AWAITING
    escalation.status = status
    escalation.closed_at = at
    escalation.closed_by = actor if is_user(actor) else None
    escalation.close_reason = reason
    save_with_history(escalation, f"{status}: {reason}", actor)
    if was_awaiting:
        _stop_acceptance(escalation, at, f"{status} before acceptance")
    publish(
        events.EscalationClosed(
            escalation_id=escalation.pk,
            case_id=escalation.case_id,
            client_id=escalation.client_id,
            occurred_at=at,
            status=status,
        )
    )


@transaction.atomic
def escalation_close(
    *, escalation: Escalation, actor: Any, reason: str, at: datetime | None = None
) -> Escalation:
    """The tier's work is done: an active escalation is closed (the case keeps its tier)."""
    at = now_or(at)
    reason = text_required(reason, "reason", "Say why the escalation is closed.")
    escalation = _lock_escalation(escalation)
    if is_user(actor):
        require_serves(actor, escalation.client_id)
        if not _may_handle(actor, escalation):
            raise ApplicationError(
                "Only the tier's owners, supervisors or governance staff close an escalation."
            )
    if escalation.status not in ACTIVE_ESCALATION_STATUSES:
        raise ApplicationError(f"This escalation is already {escalation.get_status_display().lower()}.")
    _finish(escalation, EscalationStatus.CLOSED, actor, reason, max(at, escalation.created_at))
    return escalation


@transaction.atomic
def escalation_deescalate(
    *, escalation: Escalation, actor: Any, reason: str, to_tier: int | None = None, at: datetime | None = None
) -> Escalation:
    """Send the case back down (default: to the tier it came from): an active escalation ends as
    de-escalated and the case's tier is lowered (timeline entry)."""
    at = now_or(at)
    reason = text_required(reason, "reason", "Say why the case goes back to a lower tier.")
    escalation = _lock_escalation(escalation)
    require_serves(actor, escalation.client_id)
    if not _may_handle(actor, escalation):
        raise ApplicationError("Only the tier's owners, supervisors or governance staff de-escalate.")
    if escalation.status not in ACTIVE_ESCALATION_STATUSES:
        raise ApplicationError(f"This escalation is already {escalation.get_status_display().lower()}.")
    case = escalation.case
    target = to_tier if to_tier is not None else escalation.from_tier
    if target not in (1, 2, 3) or target >= case.tier:
        raise ApplicationError.for_field(
            "to_tier", f"The case is at T{case.tier}; de-escalate to a lower tier."
        )
    if case.status == CaseStatus.CLOSED:
        raise ApplicationError("A closed case keeps its tier.")
    case_services.case_tier_set(
        case=case, tier=target, actor=actor, reason=f"de-escalation of #{escalation.sequence}: {reason}"
    )
    _finish(escalation, EscalationStatus.DE_ESCALATED, actor, reason, max(at, escalation.created_at))
    return escalation


@transaction.atomic
def escalations_close_for_case(*, case_id: int, reason: str, at: datetime | None = None) -> int:
    """Close the active escalation of a resolved or closed case (its acceptance clock stops).
    Safe to run twice; returns how many were closed."""
    at = now_or(at)
    case = Case.objects.filter(pk=case_id).only("status").first()
    if case is None or case.status not in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        return 0
    closed = 0
    for escalation in Escalation.objects.active().filter(case_id=case_id).order_by("pk"):
        escalation = _lock_escalation(escalation)
        if escalation.status not in ACTIVE_ESCALATION_STATUSES:
            continue
        _finish(escalation, EscalationStatus.CLOSED, "system", reason, max(at, escalation.created_at))
        closed += 1
    return closed


# --- Notifications -------------------------------------------------------------------------------


def _owner_addresses(tier: EscalationTier | None) -> list[str]:
    if tier is None:
        return []
    return sorted({u.email for u in tier.owners.filter(is_active=True) if u.email})


def _send(subject: str, body: str, recipients: list[str]) -> int:
    return notification_send(subject=subject, body=body, to=recipients)


@transaction.atomic
def escalation_notify(*, escalation_id: int, now: datetime | None = None) -> int:
    """E-mail the owners of the escalation's tier, once: the row is locked while sending and
    marked notified after, so a second run sends nothing. Returns the number of recipients."""
    escalation = (
        Escalation.objects.select_for_update(of=("self",))
        .select_related("case", "tier", "rule")
        .filter(pk=escalation_id)
        .first()
    )
    if escalation is None or escalation.notified_at is not None:
        return 0
    recipients = _owner_addresses(escalation.tier)
    by = escalation.rule.name if escalation.rule else user_label(escalation.requested_by)
    subject = f"[Accord] Escalated to {escalation.tier}: {escalation.case.subject}"
    body = (
        f"Case {escalation.case.public_id} was escalated T{escalation.from_tier} → T{escalation.to_tier} "
        f"({escalation.get_trigger_display()}, by {by}).\n"
        f"Reason: {escalation.reason}\n"
        + (f"Continue on: {escalation.handoff_channel}\n" if escalation.handoff_channel else "")
        + f"Accept within {escalation.tier.acceptance_target_seconds // 60} business minutes.\n\n"
        f"{escalation.context_summary}\n"
    )
    sent = _send(subject, body, recipients)
    escalation.notified_at = now_or(now)
    save_with_history(escalation, f"owners notified ({len(recipients)})", update_fields=["notified_at"])
    return len(recipients) if sent else 0


@transaction.atomic
def rule_firing_notify(*, firing_id: int, now: datetime | None = None) -> int:
    """E-mail the owners of the case's current tier that a rule fired (rules with the notify action
    and no escalation), once."""
    firing = (
        RuleFiring.objects.select_for_update(of=("self",))
        .select_related("case", "rule")
        .filter(pk=firing_id)
        .first()
    )
    if firing is None or firing.notified_at is not None:
        return 0
    case = firing.case
    tier = tier_for_case(client_id=case.client_id, level=case.tier, queue_id=case.queue_id)
    recipients = _owner_addresses(tier)
    body = (
        f"Rule '{firing.rule.name}' fired on case {case.public_id} ({firing.get_trigger_display()}).\n"
        + "\n".join(f"- {item.get('action')}: {item.get('result')}" for item in firing.outcome)
        + "\n"
    )
    sent = _send(f"[Accord] {firing.rule.name}: {case.subject}", body, recipients)
    firing.notified_at = now_or(now)
    firing.save(update_fields=["notified_at"])
    return len(recipients) if sent else 0
