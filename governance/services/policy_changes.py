"""Change control for SLA policies: propose (with the diff and a what-if), approve by a second
governance user, apply at the effective time (scheduled task), with history reasons on the
policy and target rows. See `governance.policy_diff` for the data shape and the comparison.

The what-if replays the cases whose clocks of the last `ACCORD_WHATIF_DAYS` days were computed
from this policy (`slas.services.case_timelines` → `slas.engine.replay` / `assess` under
`slas.services.policy_snapshot` of the proposal) and compares each clock's outcome with the
stored one. Nothing is written. It answers "what if these targets, pauses, warning and calendar
had applied"; a change of the matching conditions (channels, priorities, queues, segments) is in
the diff, but the replay keeps the cases the policy matched.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from cases.choices import CaseStatus, Channel, Priority
from cases.models import Queue
from config.errors import ApplicationError
from slas import engine
from slas import services as sla_services
from slas.models import ENGINE_METRICS, BusinessCalendar, SLAClock, SLAPolicy, SLATarget

from ..choices import ChangeStatus
from ..models import SLAPolicyChange
from ..policy_diff import MET, MISSED, RUNNING, policy_diff, whatif_compare
from ._common import is_user, now_or, require_governance, save_with_history, text_required, user_label

PAUSABLE = {CaseStatus.PENDING, CaseStatus.ON_HOLD}

logger = logging.getLogger(__name__)


def policy_data(policy: SLAPolicy) -> dict:
    """The policy's editable state as JSON (the proposal shape)."""
    snapshot = sla_services.policy_snapshot_data(policy)
    return {
        "name": policy.name,
        "order": policy.order,
        "is_active": policy.is_active,
        "channels": sorted(policy.channels or []),
        "priorities": sorted(policy.priorities or []),
        "segments": sorted(policy.segments or []),
        "queues": sorted(q.pk for q in policy.queues.all()),
        "calendar": policy.calendar_id,
        "warning_percent": snapshot["warning_percent"],
        "pause_statuses": {
            metric: sorted(statuses) for metric, statuses in sorted(snapshot["pause_statuses"].items())
        },
        "targets": dict(sorted(snapshot["targets"].items())),
    }


def policy_version(policy: SLAPolicy) -> int | None:
    """The id of the policy's latest history row."""
    return (
        SLAPolicy.history.filter(id=policy.pk)
        .order_by("-history_id")
        .values_list("history_id", flat=True)
        .first()
    )


# The largest order a policy can have (its column's range) and the longest target: ten years of
# business time, well inside what business-time arithmetic handles.
MAX_ORDER = 2_147_483_647
MAX_TARGET_SECONDS = 10 * 365 * 24 * 3600


def policy_data_validate(*, policy: SLAPolicy, data: dict) -> dict:
    """`data` checked and normalized, or ApplicationError naming each bad field."""
    errors: dict[str, list[str]] = {}

    def bad(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    name = str(data.get("name") or "").strip()
    if not name or len(name) > 120:
        bad("name", "A name of 1 to 120 characters.")
    order = data.get("order")
    if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= MAX_ORDER:
        bad("order", f"A whole number from 0 to {MAX_ORDER}.")
    is_active = data.get("is_active")
    if not isinstance(is_active, bool):
        bad("is_active", "True or false.")
    lists = {}
    for field, allowed in (("channels", Channel.values), ("priorities", Priority.values), ("segments", None)):
        value = data.get(field) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            bad(field, "A list of values.")
            continue
        unknown = set(value) - set(allowed) if allowed else set()
        if unknown:
            bad(field, f"Unknown values: {', '.join(sorted(unknown))}.")
        lists[field] = sorted({v.strip() for v in value if v.strip()})
    queue_ids = data.get("queues") or []
    if not isinstance(queue_ids, list) or not all(isinstance(v, int) for v in queue_ids):
        bad("queues", "A list of queue ids.")
        queue_ids = []
    elif set(queue_ids) - set(
        Queue.objects.filter(client_id=policy.client_id, pk__in=queue_ids).values_list("pk", flat=True)
    ):
        bad("queues", "Queues of this policy's client only.")
    calendar_id = data.get("calendar")
    if not BusinessCalendar.objects.filter(pk=calendar_id, client_id=policy.client_id).exists():
        bad("calendar", "A calendar of this policy's client.")
    warning = data.get("warning_percent")
    if not isinstance(warning, int) or not 0 <= warning <= 100:
        bad("warning_percent", "A whole number from 0 to 100.")
    pauses = data.get("pause_statuses") or {}
    if not isinstance(pauses, dict) or set(pauses) - set(ENGINE_METRICS):
        bad("pause_statuses", f"Keys are metrics: {', '.join(ENGINE_METRICS)}.")
        pauses = {}
    elif any(not isinstance(v, list) or set(v) - PAUSABLE for v in pauses.values()):
        bad("pause_statuses", "Only pending and on_hold can pause a clock.")
    targets = data.get("targets") or {}
    normalized_targets = {}
    if not isinstance(targets, dict):
        bad("targets", "Targets by 'metric:priority'.")
        targets = {}
    for key, seconds in targets.items():
        metric, _, priority = str(key).partition(":")
        if metric not in ENGINE_METRICS or priority not in Priority.values:
            bad("targets", f"Unknown target {key!r} (metric:priority).")
        elif (
            not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 < seconds <= MAX_TARGET_SECONDS
        ):
            bad("targets", f"Target {key}: a number of seconds from 1 to {MAX_TARGET_SECONDS} (ten years).")
        else:
            normalized_targets[f"{metric}:{priority}"] = seconds
    if is_active is True and not normalized_targets and "targets" not in errors:
        bad("targets", "An active policy needs at least one target.")
    if errors:
        raise ApplicationError("The proposed policy is not valid.", field_errors=errors)
    return {
        "name": name,
        "order": order,
        "is_active": is_active,
        "channels": lists["channels"],
        "priorities": lists["priorities"],
        "segments": lists["segments"],
        "queues": sorted(set(queue_ids)),
        "calendar": calendar_id,
        "warning_percent": warning,
        "pause_statuses": {metric: sorted(set(v)) for metric, v in sorted(pauses.items())},
        "targets": dict(sorted(normalized_targets.items())),
    }


# --- What-if ---------------------------------------------------------------------------------------


def _outcome(breached: bool, stopped: bool) -> str:
    if breached:
        return MISSED
    return MET if stopped else RUNNING


def policy_change_whatif(
    *, policy: SLAPolicy, proposed: dict, now: datetime, days: int | None = None, batch_size: int = 2000
) -> dict:
    """How the clocks this policy computed in the last `days` days (started since then) would end
    under `proposed`: replayed from each case's timeline at `now`, compared with the stored
    outcomes (met, missed, running). Nothing is written."""
    days = days if days is not None else settings.ACCORD_WHATIF_DAYS
    window_start = now - timedelta(days=days)
    stored = SLAClock.objects.filter(
        policy=policy, metric__in=ENGINE_METRICS, started_at__gte=window_start, started_at__lte=now
    ).values_list("case_id", "metric", "cycle", "breached_at", "stopped_at")
    current: dict[tuple[int, str, int], str] = {}
    for case_id, metric, cycle, breached_at, stopped_at in stored.iterator(chunk_size=5000):
        current[(case_id, metric, cycle)] = _outcome(breached_at is not None, stopped_at is not None)
    calendar = BusinessCalendar.objects.get(pk=proposed["calendar"])
    snapshot = sla_services.policy_snapshot(
        proposed, sla_services.calendar_compiled(calendar), policy_id=policy.pk
    )
    replayed: dict[tuple[int, str, int], str] = {}
    case_ids = sorted({key[0] for key in current})
    for start in range(0, len(case_ids), batch_size):
        for case_id, events in sla_services.case_timelines(case_ids[start : start + batch_size]).items():
            events = [event for event in events if event.at <= now]
            state, _ = engine.replay(snapshot, events)
            for clock in state.clocks:
                engine.assess(clock, now)
                if window_start <= clock.started_at <= now:
                    replayed[(case_id, clock.metric, clock.cycle)] = _outcome(
                        clock.breached_at is not None, clock.stopped_at is not None
                    )
    result = whatif_compare(current, replayed)
    result.update(
        {
            "window_start": window_start.isoformat(),
            "computed_at": now.isoformat(),
            "days": days,
            "cases": len(case_ids),
        }
    )
    return result


# --- Proposal workflow --------------------------------------------------------------------------------


@transaction.atomic
def policy_change_propose(
    *,
    policy: SLAPolicy,
    proposed: dict,
    reason: str,
    effective_at: datetime,
    actor: Any,
    now: datetime | None = None,
) -> SLAPolicyChange:
    """Propose a change to `policy` (the whole proposed state, `policy_data` shape). Records the
    policy as it is now and its version for the diff and the stale check, and the what-if.
    Refused without a governance role, a reason, or any difference."""
    now = now_or(now)
    require_governance(actor, policy.client_id, "propose an SLA policy change")
    reason = text_required(reason, "reason", "Say why the policy should change.")
    if effective_at is None:
        raise ApplicationError.for_field("effective_at", "Choose when the change takes effect.")
    effective_at = now_or(effective_at, "effective_at")
    policy = (
        SLAPolicy.objects.select_related("calendar").prefetch_related("queues", "targets").get(pk=policy.pk)
    )
    base = policy_data(policy)
    proposed = policy_data_validate(policy=policy, data=proposed)
    if not policy_diff(base, proposed):
        raise ApplicationError("The proposal changes nothing.")
    change = SLAPolicyChange(
        client_id=policy.client_id,
        policy=policy,
        base=base,
        base_version=policy_version(policy),
        proposed=proposed,
        reason=reason,
        effective_at=effective_at,
        proposed_by=actor,
        proposed_at=now,
        whatif=policy_change_whatif(policy=policy, proposed=proposed, now=now),
        whatif_computed_at=now,
    )
    save_with_history(change, "proposed", actor)
    return change


@transaction.atomic
def policy_change_whatif_refresh(*, change: SLAPolicyChange, now: datetime | None = None) -> SLAPolicyChange:
    """Recompute the what-if of a pending proposal at `now`."""
    now = now_or(now)
    change = SLAPolicyChange.objects.select_for_update().select_related("policy").get(pk=change.pk)
    if change.status not in (ChangeStatus.PROPOSED, ChangeStatus.APPROVED):
        raise ApplicationError(f"This change is {change.get_status_display().lower()}.")
    change.whatif = policy_change_whatif(policy=change.policy, proposed=change.proposed, now=now)
    change.whatif_computed_at = now
    save_with_history(change, "what-if recomputed")
    return change


def _lock_change(change: SLAPolicyChange) -> SLAPolicyChange:
    return SLAPolicyChange.objects.select_for_update(of=("self",)).select_related("policy").get(pk=change.pk)


@transaction.atomic
def policy_change_approve(
    *, change: SLAPolicyChange, actor: Any, note: str = "", now: datetime | None = None
) -> SLAPolicyChange:
    """Approve a proposal: a governance user of the client who is not the proposer. A change
    whose effective time has come is applied at once; later ones by the scheduled task."""
    now = now_or(now)
    change = _lock_change(change)
    require_governance(actor, change.client_id, "approve an SLA policy change")
    if change.status != ChangeStatus.PROPOSED:
        raise ApplicationError(
            f"This change is {change.get_status_display().lower()}, not awaiting approval."
        )
    if actor.pk == change.proposed_by_id:
        raise ApplicationError(
            "You proposed this change: a second person with the governance role approves it."
        )
    change.status = ChangeStatus.APPROVED
    change.decided_by, change.decided_at, change.decision_note = actor, now, (note or "").strip()
    save_with_history(change, "approved" + (f": {note}" if note else ""), actor)
    if change.effective_at <= now:
        return policy_change_apply(change=change, now=now)
    return change


@transaction.atomic
def policy_change_reject(
    *, change: SLAPolicyChange, actor: Any, note: str, now: datetime | None = None
) -> SLAPolicyChange:
    """Reject a proposal (another governance user; the proposer withdraws instead)."""
    now = now_or(now)
    note = text_required(note, "decision_note", "Say why the change is rejected.")
    change = _lock_change(change)
    require_governance(actor, change.client_id, "reject an SLA policy change")
    if change.status != ChangeStatus.PROPOSED:
        raise ApplicationError(
            f"This change is {change.get_status_display().lower()}, not awaiting approval."
        )
    if actor.pk == change.proposed_by_id:
        raise ApplicationError("Withdraw your own proposal instead of rejecting it.")
    change.status = ChangeStatus.REJECTED
    change.decided_by, change.decided_at, change.decision_note = actor, now, note
    save_with_history(change, f"rejected: {note}", actor)
    return change


@transaction.atomic
def policy_change_withdraw(*, change: SLAPolicyChange, actor: Any) -> SLAPolicyChange:
    """The proposer withdraws a change not yet applied."""
    change = _lock_change(change)
    if not is_user(actor) or actor.pk != change.proposed_by_id:
        raise ApplicationError("Only the proposer withdraws a change.")
    if change.status not in (ChangeStatus.PROPOSED, ChangeStatus.APPROVED):
        raise ApplicationError(f"This change is {change.get_status_display().lower()}.")
    change.status = ChangeStatus.WITHDRAWN
    save_with_history(change, "withdrawn", actor)
    return change


@transaction.atomic
def policy_change_apply(*, change: SLAPolicyChange, now: datetime | None = None) -> SLAPolicyChange:
    """Write an approved, due change to the policy and its targets, each row with a history
    reason naming the change, the proposer and the approver. A policy (or one of its targets)
    changed since the proposal makes the change stale: nothing written. Applying an applied
    change changes nothing."""
    now = now_or(now)
    change = _lock_change(change)
    if change.status != ChangeStatus.APPROVED or change.effective_at > now:
        return change
    policy = SLAPolicy.objects.select_for_update().get(pk=change.policy_id)
    current = policy_data(SLAPolicy.objects.prefetch_related("queues", "targets").get(pk=policy.pk))
    if policy_version(policy) != change.base_version or current != change.base:
        change.status = ChangeStatus.STALE
        change.decision_note = (change.decision_note + "\n" if change.decision_note else "") + (
            f"Not applied at {now:%Y-%m-%d %H:%M} UTC: the policy changed after this proposal."
        )
        save_with_history(change, "stale: the policy changed since the proposal")
        return change
    approver = change.decided_by
    reason = (
        f"change #{change.pk} by {user_label(change.proposed_by)}, approved by {user_label(approver)}: "
        f"{change.reason}"
    )
    data = change.proposed
    for name in ("name", "order", "is_active", "channels", "priorities", "segments", "warning_percent"):
        setattr(policy, name, data[name])
    policy.calendar_id = data["calendar"]
    policy.pause_statuses = {metric: list(statuses) for metric, statuses in data["pause_statuses"].items()}
    save_with_history(policy, reason, approver)
    if sorted(policy.queues.values_list("pk", flat=True)) != data["queues"]:
        policy._change_reason = reason[:100]
        policy.queues.set(data["queues"])
    existing = {f"{t.metric}:{t.priority}": t for t in SLATarget.objects.filter(policy=policy)}
    for key, seconds in data["targets"].items():
        metric, _, priority = key.partition(":")
        target = existing.pop(key, None)
        if target is None:
            target = SLATarget(policy=policy, metric=metric, priority=priority, seconds=seconds)
            save_with_history(target, reason, approver)
        elif target.seconds != seconds:
            target.seconds = seconds
            save_with_history(target, reason, approver)
    for target in existing.values():
        target._change_reason = reason[:100]
        target._history_user = approver
        target.delete()
    change.status = ChangeStatus.APPLIED
    change.applied_at = now
    change.result_version = policy_version(policy)
    save_with_history(change, "applied")
    return change


def policy_changes_apply_due(*, now: datetime | None = None) -> int:
    """Apply every approved change whose effective time has come (scheduled task); each in its
    own transaction, a change locked by another worker is left to it. Returns how many applied."""
    now = now_or(now)
    applied = 0
    for change_id in (
        SLAPolicyChange.objects.due(now).order_by("effective_at", "pk").values_list("pk", flat=True)
    ):
        try:
            with transaction.atomic():
                change = (
                    SLAPolicyChange.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(pk=change_id, status=ChangeStatus.APPROVED)
                    .first()
                )
                if change is None:
                    continue
                if policy_change_apply(change=change, now=now).status == ChangeStatus.APPLIED:
                    applied += 1
        except Exception:  # one change that cannot apply never holds back the others
            logger.exception("Approved SLA policy change %s could not be applied", change_id)
    return applied
