"""Corrective actions: raised from a review or a meeting, worked through proposed → in progress →
done → verified (or cancelled), and reminded before and after their due date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from cases.models import Client, Queue
from config.errors import ApplicationError
from config.mail import notification_send
from slas.models import Breach

from ..choices import OPEN_ACTION_STATUSES, ActionStatus, ReminderKind
from ..models import ActionReminder, BreachReview, CorrectiveAction, GovernanceMeeting, RootCause
from ._common import a_an, is_user, now_or, require_serves, save_with_history, text_required, user_label
from .reviews import governance_settings_for

ACTION_TRANSITIONS: dict[str, frozenset[str]] = {
    ActionStatus.PROPOSED: frozenset({ActionStatus.IN_PROGRESS, ActionStatus.CANCELLED}),
    ActionStatus.IN_PROGRESS: frozenset({ActionStatus.DONE, ActionStatus.CANCELLED}),
    ActionStatus.DONE: frozenset({ActionStatus.VERIFIED, ActionStatus.IN_PROGRESS}),
    ActionStatus.VERIFIED: frozenset(),
    ActionStatus.CANCELLED: frozenset(),
}


@transaction.atomic
def corrective_action_raise(
    *,
    title: str,
    owner,
    due_on: date,
    actor: Any,
    client: Client | None = None,
    review: BreachReview | None = None,
    meeting: GovernanceMeeting | None = None,
    root_cause: RootCause | None = None,
    queue: Queue | None = None,
    breaches: Sequence[Breach] | None = None,
    description: str = "",
    now: datetime | None = None,
) -> CorrectiveAction:
    """Raise an action from a review (its root cause, queue and breaches by default) or a meeting.
    The owner serves the client; the due date is today or later."""
    now = now_or(now)
    title = text_required(title, "title", "An action needs a title.")
    sources = [s.client_id for s in (review, meeting) if s is not None]
    client_id = client.pk if client is not None else (sources[0] if sources else None)
    if client_id is None:
        raise ApplicationError("Raise an action from a review or a meeting, or name its client.")
    if any(source != client_id for source in sources):
        raise ApplicationError("The review or meeting belongs to another client.")
    require_serves(actor, client_id)
    if owner is None:
        raise ApplicationError.for_field("owner", "An action has an owner.")
    require_serves(owner, client_id, "owner")
    if due_on is None or due_on < now.date():
        raise ApplicationError.for_field("due_on", "The due date is today or later.")
    if queue is not None and queue.client_id != client_id:
        raise ApplicationError.for_field("queue", "This queue belongs to another client.")
    if review is not None:
        root_cause = root_cause or review.root_cause
        queue = queue or review.queue
        if breaches is None:
            breaches = list(review.breaches.all())
    breaches = list(breaches or [])
    if any(b.client_id != client_id for b in breaches):
        raise ApplicationError.for_field("breaches", "These breaches belong to another client.")
    action = CorrectiveAction(
        client_id=client_id,
        title=title[:200],
        description=description,
        owner=owner,
        due_on=due_on,
        review=review,
        meeting=meeting,
        root_cause=root_cause,
        queue=queue,
        created_by=actor if is_user(actor) else None,
        created_at=now,
    )
    source = f"review {review.pk}" if review else f"meeting {meeting.pk}" if meeting else "by hand"
    save_with_history(action, f"raised from {source}", actor)
    if breaches:
        action.breaches.set(breaches)
    return action


_UNSET = object()


@transaction.atomic
def corrective_action_update(
    *,
    action: CorrectiveAction,
    actor: Any,
    title: Any = _UNSET,
    description: Any = _UNSET,
    owner: Any = _UNSET,
    due_on: Any = _UNSET,
    root_cause: Any = _UNSET,
) -> CorrectiveAction:
    """Edit an action still owed (proposed or in progress): title, description, owner, due date,
    root cause. A new due date is today or later."""
    action = CorrectiveAction.objects.select_for_update().get(pk=action.pk)
    require_serves(actor, action.client_id)
    if action.status not in OPEN_ACTION_STATUSES:
        raise ApplicationError(
            f"{a_an(action.get_status_display().lower()).capitalize()} action is not edited."
        )
    changed = []
    if owner is not _UNSET and owner is not None and owner.pk != action.owner_id:
        require_serves(owner, action.client_id, "owner")
        action.owner = owner
        changed.append("owner")
    if due_on is not _UNSET and due_on != action.due_on:
        if due_on is None or due_on < now_or(None).date():
            raise ApplicationError.for_field("due_on", "The due date is today or later.")
        action.due_on = due_on
        changed.append("due_on")
    for name, value in (("title", title), ("description", description), ("root_cause", root_cause)):
        if value is not _UNSET and value != getattr(action, name):
            if name == "title" and not (value or "").strip():
                raise ApplicationError.for_field("title", "An action needs a title.")
            setattr(action, name, value)
            changed.append(name)
    if changed:
        save_with_history(action, "updated: " + ", ".join(changed), actor)
    return action


@transaction.atomic
def corrective_action_transition(
    *, action: CorrectiveAction, to: str, actor: Any, note: str = "", now: datetime | None = None
) -> CorrectiveAction:
    """Move an action along its workflow. Verification needs notes on effectiveness and a person
    other than the owner; sending a done action back to in progress (not effective) and cancelling
    need a note. A refused transition raises ApplicationError and changes nothing."""
    now = now_or(now)
    action = CorrectiveAction.objects.select_for_update().get(pk=action.pk)
    require_serves(actor, action.client_id)
    if to not in ActionStatus.values:
        raise ApplicationError.for_field("status", f"Unknown status {to!r}.")
    if to not in ACTION_TRANSITIONS[action.status]:
        raise ApplicationError.for_field(
            "status",
            f"{a_an(ActionStatus(action.status).label.lower()).capitalize()} action cannot become "
            f"{ActionStatus(to).label.lower()}.",
        )
    note = (note or "").strip()
    reason = f"{action.status} → {to}"
    if to == ActionStatus.IN_PROGRESS:
        if action.status == ActionStatus.DONE:
            if not note:
                raise ApplicationError.for_field("note", "Say why the action was not effective.")
            action.verification_notes = f"Not effective ({now:%Y-%m-%d}): {note}"
            action.done_at = None
            reason += f": not effective: {note}"
        action.started_at = action.started_at or now
    elif to == ActionStatus.DONE:
        action.done_at = now
    elif to == ActionStatus.VERIFIED:
        if not note:
            raise ApplicationError.for_field("note", "Write how the action's effectiveness was verified.")
        if is_user(actor) and actor.pk == action.owner_id:
            raise ApplicationError("The owner does not verify their own action; ask someone else.")
        action.verification_notes = note
        action.verified_at, action.verified_by = now, actor if is_user(actor) else None
    elif to == ActionStatus.CANCELLED:
        if not note:
            raise ApplicationError.for_field("note", "Say why the action is cancelled.")
        action.cancelled_at, action.cancel_reason = now, note
        reason += f": {note}"
    action.status = to
    save_with_history(action, reason, actor)
    return action


def corrective_action_start(*, action: CorrectiveAction, actor: Any, now: datetime | None = None):
    return corrective_action_transition(action=action, to=ActionStatus.IN_PROGRESS, actor=actor, now=now)


def corrective_action_complete(*, action: CorrectiveAction, actor: Any, now: datetime | None = None):
    return corrective_action_transition(action=action, to=ActionStatus.DONE, actor=actor, now=now)


def corrective_action_verify(
    *, action: CorrectiveAction, actor: Any, notes: str, now: datetime | None = None
):
    return corrective_action_transition(
        action=action, to=ActionStatus.VERIFIED, actor=actor, note=notes, now=now
    )


def corrective_action_reject_verification(
    *, action: CorrectiveAction, actor: Any, notes: str, now: datetime | None = None
):
    return corrective_action_transition(
        action=action, to=ActionStatus.IN_PROGRESS, actor=actor, note=notes, now=now
    )


def corrective_action_cancel(
    *, action: CorrectiveAction, actor: Any, reason: str, now: datetime | None = None
):
    return corrective_action_transition(
        action=action, to=ActionStatus.CANCELLED, actor=actor, note=reason, now=now
    )


# --- Reminders -------------------------------------------------------------------------------------


def _reminder_key(
    action: CorrectiveAction, today: date, days_before: int, every: int
) -> tuple[str, str] | None:
    # Keyed by the due date too: an action rescheduled is reminded again about its new date.
    due = action.due_on.isoformat()
    if action.due_on < today:
        overdue_days = (today - action.due_on).days - 1
        return ReminderKind.OVERDUE, f"overdue:{due}:{overdue_days // max(1, every)}"
    if action.due_on - timedelta(days=days_before) <= today:
        return ReminderKind.BEFORE_DUE, f"before_due:{due}"
    return None


def action_reminders_send(*, now: datetime | None = None) -> int:
    """Remind owners of actions still owed: once `action_reminder_days_before` days before due,
    then once the day after it is overdue and every `overdue_reminder_every_days` after. Each
    reminder is a row unique per action and key, inserted before sending and marked sent after,
    so a second run sends nothing and a crashed send is retried. Returns e-mails sent."""
    now = now_or(now)
    today = now.date()
    horizon = today + timedelta(days=31)
    settings_by_client = {}
    for action in (
        CorrectiveAction.objects.open().filter(due_on__lte=horizon).select_related("owner").order_by("pk")
    ):
        row = settings_by_client.get(action.client_id)
        if row is None:
            row = settings_by_client[action.client_id] = governance_settings_for(action.client_id)
        key = _reminder_key(action, today, row.action_reminder_days_before, row.overdue_reminder_every_days)
        if key is None:
            continue
        kind, name = key
        try:
            with transaction.atomic():
                ActionReminder.objects.create(action=action, kind=kind, key=name, created_at=now)
        except IntegrityError:
            continue
    sent = 0
    for reminder_id in (
        ActionReminder.objects.filter(sent_at__isnull=True).order_by("pk").values_list("pk", flat=True)
    ):
        sent += _reminder_deliver(reminder_id, now)
    return sent


@transaction.atomic
def _reminder_deliver(reminder_id: int, now: datetime) -> int:
    reminder = (
        ActionReminder.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("action__owner")
        .filter(pk=reminder_id, sent_at__isnull=True)
        .first()
    )
    if reminder is None:
        return 0
    action = reminder.action
    if action.status not in OPEN_ACTION_STATUSES:
        reminder.sent_at = now
        reminder.save(update_fields=["sent_at"])
        return 0
    when = "is overdue since" if reminder.kind == ReminderKind.OVERDUE else "is due on"
    sent = 0
    if action.owner.email:
        sent = notification_send(
            subject=f"[Accord] Corrective action {when} {action.due_on}: {action.title}",
            body=f"{user_label(action.owner)}, the corrective action “{action.title}” {when} "
            f"{action.due_on} and is {action.get_status_display().lower()}.\n\n{action.description}\n",
            to=[action.owner.email],
        )
    reminder.sent_at = now
    reminder.save(update_fields=["sent_at"])
    return sent
