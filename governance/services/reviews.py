"""Breach reviews: opened automatically (every breach gets an owner) or from selected breaches,
analysed (owner, due date, root cause, findings), closed with a root cause, reopened.

A breach is in at most one review (`BreachReviewItem.breach` is unique), so automatic opening
is exactly-once: two workers adding the same breach insert one item; two creating the same
daily review insert one review (`auto_key` is unique per client).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from cases.models import Queue
from config.errors import ApplicationError
from slas.models import Breach

from ..choices import ReviewKind, ReviewStatus
from ..models import BreachReview, BreachReviewItem, GovernanceSettings, RootCause
from ._common import a_an, is_user, now_or, require_serves, save_with_history, text_required

REVIEW_TRANSITIONS: dict[str, frozenset[str]] = {
    ReviewStatus.OPEN: frozenset({ReviewStatus.IN_PROGRESS, ReviewStatus.CLOSED}),
    ReviewStatus.IN_PROGRESS: frozenset({ReviewStatus.CLOSED}),
    ReviewStatus.CLOSED: frozenset({ReviewStatus.IN_PROGRESS}),
}
URGENT_PRIORITIES = ("urgent", "high")


def governance_settings_for(client_id: int) -> GovernanceSettings:
    """The client's settings row, or an unsaved one holding the defaults."""
    return GovernanceSettings.objects.filter(client_id=client_id).first() or GovernanceSettings(
        client_id=client_id
    )


def _review_owner(queue: Queue | None, settings_row: GovernanceSettings):
    if queue is not None:
        supervisor = queue.supervisors.filter(is_active=True).order_by("pk").first()
        if supervisor is not None:
            return supervisor
    return settings_row.default_review_owner


def _local_date(moment: datetime, tz_name: str) -> date:
    return moment.astimezone(zoneinfo.ZoneInfo(tz_name)).date()


def _item_add(review: BreachReview, breach_id: int, client_id: int, now: datetime, actor: Any = None) -> bool:
    try:
        with transaction.atomic():
            BreachReviewItem.objects.create(
                review=review,
                breach_id=breach_id,
                client_id=client_id,
                added_at=now,
                added_by=actor if is_user(actor) else None,
            )
    except IntegrityError:
        return False
    return True


def _auto_review(breach: Breach, settings_row: GovernanceSettings, now: datetime) -> BreachReview:
    """The automatic review a breach belongs in: its own for urgent/high, else its queue's for
    the breach's local day; a closed one is followed by `<key>:2`, `<key>:3`..."""
    case = breach.case
    queue = case.queue
    day = _local_date(breach.breached_at, case.client.timezone)
    if breach.priority in URGENT_PRIORITIES:
        kind, base_key = ReviewKind.AUTO_BREACH, f"breach:{breach.pk}"
        title = (
            f"{breach.get_priority_display()} {breach.get_metric_display().lower()} breach: {case.subject}"
        )
    else:
        kind, base_key = ReviewKind.AUTO_DAILY, f"queue:{queue.pk}:{day.isoformat()}"
        title = f"Breaches in {queue.name} on {day.isoformat()}"
    for attempt in range(1, 50):
        key = base_key if attempt == 1 else f"{base_key}:{attempt}"
        review = BreachReview.objects.filter(client_id=breach.client_id, auto_key=key).first()
        if review is None:
            review = BreachReview(
                client_id=breach.client_id,
                queue=queue,
                title=title[:200],
                kind=kind,
                auto_key=key,
                owner=_review_owner(queue, settings_row),
                due_on=day + timedelta(days=settings_row.review_due_days),
                opened_at=now,
            )
            try:
                with transaction.atomic():
                    save_with_history(review, "opened automatically")
            except IntegrityError:
                review = BreachReview.objects.get(client_id=breach.client_id, auto_key=key)
        if review.status != ReviewStatus.CLOSED:
            return review
    raise ApplicationError(f"Too many closed automatic reviews for {base_key}.")


def breach_reviews_auto_open(*, breach_ids: Sequence[int], now: datetime | None = None) -> int:
    """Put each breach (not voided, not yet reviewed, of a client with automatic reviews on) in
    its automatic review, creating the review when needed. Returns how many breaches were added;
    safe to run twice and concurrently."""
    now = now_or(now)
    breaches = list(
        Breach.objects.filter(pk__in=list(breach_ids), voided_at__isnull=True, review_item__isnull=True)
        .select_related("case__queue", "case__client")
        .order_by("pk")
    )
    settings_by_client: dict[int, GovernanceSettings] = {}
    added = 0
    for breach in breaches:
        settings_row = settings_by_client.get(breach.client_id)
        if settings_row is None:
            settings_row = settings_by_client[breach.client_id] = governance_settings_for(breach.client_id)
        if not settings_row.auto_review_enabled:
            continue
        with transaction.atomic():
            review = _auto_review(breach, settings_row, now)
            if _item_add(review, breach.pk, breach.client_id, now):
                added += 1
    return added


def breach_reviews_auto_open_for_clocks(*, clock_ids: Sequence[int], now: datetime | None = None) -> int:
    """`breach_reviews_auto_open` for the breaches of these clocks (the breach event's payload)."""
    ids = list(Breach.objects.filter(clock_id__in=list(clock_ids)).values_list("pk", flat=True))
    return breach_reviews_auto_open(breach_ids=ids, now=now)


@transaction.atomic
def breach_review_open(
    *,
    breaches: Sequence[Breach],
    actor: Any,
    owner=None,
    due_on: date | None = None,
    title: str = "",
    now: datetime | None = None,
) -> BreachReview:
    """Open a review covering the selected breaches (one client; none already in a review), owned
    by `owner` (default: the actor), due `due_on` (default: the client's review delay)."""
    now = now_or(now)
    breaches = list(Breach.objects.filter(pk__in=[b.pk for b in breaches]).select_related("case__queue"))
    if not breaches:
        raise ApplicationError("Select at least one breach.")
    client_ids = {b.client_id for b in breaches}
    if len(client_ids) > 1:
        raise ApplicationError("A review covers breaches of one client.")
    client_id = client_ids.pop()
    require_serves(actor, client_id)
    owner = owner or (actor if is_user(actor) else None)
    if owner is None:
        raise ApplicationError.for_field("owner", "A review has an owner.")
    require_serves(owner, client_id, "owner")
    taken = list(
        BreachReviewItem.objects.filter(breach__in=breaches).select_related("review").order_by("breach_id")
    )
    if taken:
        raise ApplicationError(
            "Already under review: "
            + "; ".join(f"{item.breach} in “{item.review}”" for item in taken)
            + ". Add the others only."
        )
    settings_row = governance_settings_for(client_id)
    queues = {b.case.queue_id for b in breaches}
    queue = breaches[0].case.queue if len(queues) == 1 else None
    review = BreachReview(
        client_id=client_id,
        queue=queue,
        title=(
            title
            or f"Review of {len(breaches)} breach{'es' if len(breaches) > 1 else ''}"
            + (f" in {queue.name}" if queue else "")
        )[:200],
        kind=ReviewKind.MANUAL,
        owner=owner,
        due_on=due_on or (now.date() + timedelta(days=settings_row.review_due_days)),
        opened_at=now,
        created_by=actor if is_user(actor) else None,
    )
    save_with_history(review, "opened from selected breaches", actor)
    for breach in sorted(breaches, key=lambda b: b.pk):
        if not _item_add(review, breach.pk, client_id, now, actor):
            raise ApplicationError(f"{breach} was put under review meanwhile; try again.")
    return review


@transaction.atomic
def breach_review_add_breaches(
    *, review: BreachReview, breaches: Sequence[Breach], actor: Any, now: datetime | None = None
) -> int:
    """Add breaches of the review's client that are in no review yet; returns how many."""
    now = now_or(now)
    review = BreachReview.objects.select_for_update().get(pk=review.pk)
    require_serves(actor, review.client_id)
    if review.status == ReviewStatus.CLOSED:
        raise ApplicationError("A closed review takes no more breaches; reopen it first.")
    if any(b.client_id != review.client_id for b in breaches):
        raise ApplicationError("These breaches belong to another client.")
    return sum(1 for b in breaches if _item_add(review, b.pk, review.client_id, now, actor))


def _lock(review: BreachReview) -> BreachReview:
    return BreachReview.objects.select_for_update().get(pk=review.pk)


def _check(review: BreachReview, new_status: str) -> None:
    if new_status not in REVIEW_TRANSITIONS.get(review.status, frozenset()):
        raise ApplicationError.for_field(
            "status",
            f"{a_an(ReviewStatus(review.status).label.lower()).capitalize()} review cannot become "
            f"{ReviewStatus(new_status).label.lower()}.",
        )


_UNSET = object()


@transaction.atomic
def breach_review_update(
    *,
    review: BreachReview,
    actor: Any,
    owner: Any = _UNSET,
    due_on: Any = _UNSET,
    root_cause: Any = _UNSET,
    findings: Any = _UNSET,
    title: Any = _UNSET,
) -> BreachReview:
    """Change the analysis of an unclosed review: owner, due date, root cause, findings, title."""
    review = _lock(review)
    require_serves(actor, review.client_id)
    if review.status == ReviewStatus.CLOSED:
        raise ApplicationError("A closed review is not edited; reopen it first.")
    changed = []
    if owner is not _UNSET and owner is not None and owner.pk != review.owner_id:
        require_serves(owner, review.client_id, "owner")
        review.owner = owner
        changed.append("owner")
    for name, value in (
        ("due_on", due_on),
        ("root_cause", root_cause),
        ("findings", findings),
        ("title", title),
    ):
        if value is not _UNSET and value != getattr(review, name):
            if name == "title" and not (value or "").strip():
                raise ApplicationError.for_field("title", "A review needs a title.")
            setattr(review, name, value)
            changed.append(name)
    if changed:
        save_with_history(review, "updated: " + ", ".join(changed), actor)
    return review


@transaction.atomic
def breach_review_start(*, review: BreachReview, actor: Any) -> BreachReview:
    """The owner starts the analysis: open → in analysis."""
    review = _lock(review)
    require_serves(actor, review.client_id)
    _check(review, ReviewStatus.IN_PROGRESS)
    if review.status == ReviewStatus.CLOSED:
        raise ApplicationError("Use reopen for a closed review.")
    review.status = ReviewStatus.IN_PROGRESS
    save_with_history(review, "analysis started", actor)
    return review


@transaction.atomic
def breach_review_close(
    *,
    review: BreachReview,
    actor: Any,
    root_cause: RootCause | None = None,
    findings: str | None = None,
    now: datetime | None = None,
) -> BreachReview:
    """Close the review with its root cause and findings (both required)."""
    now = now_or(now)
    review = _lock(review)
    require_serves(actor, review.client_id)
    _check(review, ReviewStatus.CLOSED)
    root_cause = root_cause or review.root_cause
    findings = (findings if findings is not None else review.findings).strip()
    errors = {}
    if root_cause is None:
        errors["root_cause"] = ["Name the root cause before closing."]
    elif not root_cause.is_active:
        errors["root_cause"] = ["This root cause is retired."]
    if not findings:
        errors["findings"] = ["Write the findings before closing."]
    if errors:
        raise ApplicationError("The review cannot be closed yet.", field_errors=errors)
    review.root_cause, review.findings = root_cause, findings
    review.status = ReviewStatus.CLOSED
    review.closed_at, review.closed_by = now, actor if is_user(actor) else None
    save_with_history(review, f"closed: {root_cause}", actor)
    return review


@transaction.atomic
def breach_review_reopen(*, review: BreachReview, actor: Any, reason: str) -> BreachReview:
    """A closed review goes back into analysis (with the reason in its history)."""
    reason = text_required(reason, "reason", "Say why the review is reopened.")
    review = _lock(review)
    require_serves(actor, review.client_id)
    if review.status != ReviewStatus.CLOSED:
        raise ApplicationError.for_field("status", "Only a closed review can be reopened.")
    review.status = ReviewStatus.IN_PROGRESS
    review.closed_at = review.closed_by = None
    save_with_history(review, f"reopened: {reason}", actor)
    return review
