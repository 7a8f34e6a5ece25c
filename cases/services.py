"""Every write of the case domain.

Each service is one atomic state change: it locks the case row, checks the transition and the
caller's `expected_version` (optimistic locking), writes the rows and the case's timeline entry
(`CaseEvent`), and publishes the matching `cases.events` event. A refused request raises
`ApplicationError` (or `ConflictError`) and changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config.bulk import row_build, row_insert_new, row_update, rows_insert
from config.errors import ApplicationError, ConflictError
from config.events import publish

from . import events
from .choices import (
    PRIORITY_RANK,
    AuthorKind,
    CaseEventKind,
    CaseStatus,
    Channel,
    Direction,
    IdentityKind,
    Priority,
)
from .models import (
    Attachment,
    Case,
    CaseEvent,
    Client,
    Customer,
    CustomerIdentity,
    Interaction,
    Queue,
    SatisfactionSurvey,
)
from .normalization import IdentityValueError, normalize_identity

# The lifecycle. resolved -> open is a reopen (counted); closed is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    CaseStatus.NEW: frozenset({CaseStatus.OPEN, CaseStatus.PENDING, CaseStatus.ON_HOLD, CaseStatus.RESOLVED}),
    CaseStatus.OPEN: frozenset({CaseStatus.PENDING, CaseStatus.ON_HOLD, CaseStatus.RESOLVED}),
    CaseStatus.PENDING: frozenset({CaseStatus.OPEN, CaseStatus.ON_HOLD, CaseStatus.RESOLVED}),
    CaseStatus.ON_HOLD: frozenset({CaseStatus.OPEN, CaseStatus.PENDING, CaseStatus.RESOLVED}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.OPEN, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset(),
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a user, or a labelled system (a connector, the API key of a client system)."""

    user: Any = None
    label: str = ""

    @classmethod
    def of(cls, actor: Any) -> Actor:
        if isinstance(actor, Actor):
            return actor
        if actor is None:
            return cls(label="system")
        if isinstance(actor, str):
            return cls(label=actor)
        return cls(user=actor)


def _now() -> datetime:
    return timezone.now()


def _aware(value: datetime | None, field: str) -> datetime:
    if value is None:
        return _now()
    if timezone.is_naive(value):
        raise ApplicationError.for_field(field, "Give a time with its UTC offset.")
    return value


# --- Identities and customers ------------------------------------------------------------------


def identity_normalize(*, client: Client, kind: str, value: str) -> str:
    """`value` normalized for `kind` in `client`'s region, or ApplicationError naming the field."""
    try:
        return normalize_identity(kind, value, default_region=client.default_region)
    except IdentityValueError as exc:
        raise ApplicationError.for_field("value", str(exc)) from exc


def customer_create(
    *,
    client: Client,
    display_name: str = "",
    identities: Iterable[tuple[str, str]] = (),
    segment: str = "standard",
    is_vip: bool = False,
    language: str = "en",
    actor: Any = None,
) -> Customer:
    """Create a customer with its identities (one INSERT for all of them). An identity already
    used in the client is refused, and then nothing is created."""
    normalized = list(
        dict.fromkeys(
            (kind, identity_normalize(client=client, kind=kind, value=value)) for kind, value in identities
        )
    )
    customer = Customer(
        client=client, display_name=display_name, segment=segment, is_vip=is_vip, language=language
    )
    customer._change_reason = "created"
    try:
        with transaction.atomic():
            customer.save()
            CustomerIdentity.objects.bulk_create(
                [
                    CustomerIdentity(client_id=client.pk, customer=customer, kind=kind, value=value)
                    for kind, value in normalized
                ]
            )
    except IntegrityError:
        taken = next(
            (
                (kind, value)
                for kind, value in normalized
                if CustomerIdentity.objects.filter(client_id=client.pk, kind=kind, value=value).exists()
            ),
            None,
        )
        if taken is None:
            raise
        raise _identity_taken(*taken) from None
    return customer


CUSTOMER_FIELDS = ("display_name", "segment", "is_vip", "language")


@transaction.atomic
def customer_update(*, customer: Customer, actor: Any = None, reason: str = "", **changes: Any) -> Customer:
    """Change a customer's name, segment, VIP flag or language (the given ones; unchanged values
    write nothing). A customer merged into another is refused: the survivor holds the record.
    Segment and VIP count for cases opened afterwards (policy matching, rules)."""
    unknown = set(changes) - set(CUSTOMER_FIELDS)
    if unknown:
        raise ApplicationError.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    if "segment" in changes and not str(changes["segment"]).strip():
        raise ApplicationError.for_field("segment", "A segment cannot be empty.")
    if "language" in changes and not str(changes["language"]).strip():
        raise ApplicationError.for_field("language", "A language cannot be empty.")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.merged_into_id:
        raise ApplicationError(
            "This customer was merged into another; change the customer it was merged into."
        )
    changed = [name for name, value in changes.items() if getattr(locked, name) != value]
    if not changed:
        return locked
    for name in changed:
        setattr(locked, name, changes[name])
    why = f"changed {', '.join(changed)}: {reason}" if reason else f"changed {', '.join(changed)}"
    if len(why) > HISTORY_REASON_MAX_CHARS:  # never cut short in the audit trail
        room = HISTORY_REASON_MAX_CHARS - len(why) + len(reason)
        raise ApplicationError.for_field("reason", f"Say it in at most {room} characters.")
    locked._change_reason = why
    locked.save(update_fields=[*changed, "updated_at"])
    return locked


# simple-history's change reason column.
HISTORY_REASON_MAX_CHARS = 100


def _identity_insert(*, customer: Customer, kind: str, value: str) -> CustomerIdentity:
    """Insert the identity; on the unique constraint, it is this customer's already (returned) or
    another customer's (refused). The common path is one INSERT."""
    try:
        with transaction.atomic():
            return CustomerIdentity.objects.create(
                client_id=customer.client_id, customer=customer, kind=kind, value=value
            )
    except IntegrityError:
        existing = CustomerIdentity.objects.filter(
            client_id=customer.client_id, kind=kind, value=value
        ).first()
        if existing is not None and existing.customer_id == customer.id:
            return existing
        raise _identity_taken(kind, value) from None


def _identity_taken(kind: str, value: str) -> ApplicationError:
    return ApplicationError.for_field("value", f"{kind} {value} already belongs to another customer.")


def identity_add(*, customer: Customer, kind: str, value: str, actor: Any = None) -> CustomerIdentity:
    """Add a normalized identity to `customer` (idempotent for the same customer). One write,
    atomic in `_identity_insert`."""
    if kind not in IdentityKind.values:
        raise ApplicationError.for_field("kind", f"Unknown identity kind {kind!r}.")
    normalized = identity_normalize(client=customer.client, kind=kind, value=value)
    return _identity_insert(customer=customer, kind=kind, value=normalized)


@transaction.atomic
def customers_merge(*, survivor: Customer, merged: Customer, actor: Any, reason: str) -> Customer:
    """Move `merged`'s identities and cases to `survivor`, mark `merged` as merged into it, and
    record it on each moved case's timeline and in both customers' history."""
    if survivor.pk == merged.pk:
        raise ApplicationError("A customer cannot be merged into itself.")
    if survivor.client_id != merged.client_id:
        raise ApplicationError("Customers of different clients cannot be merged.")
    if not reason.strip():
        raise ApplicationError.for_field("reason", "Say why these customers are the same person.")
    who = Actor.of(actor)
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk]).order_by("pk")
    }
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    if merged.merged_into_id or survivor.merged_into_id:
        raise ApplicationError("One of these customers was already merged.")
    now = _now()
    CustomerIdentity.objects.filter(customer=merged).update(customer=survivor)
    case_ids = list(Case.objects.filter(customer=merged).order_by("pk").values_list("pk", flat=True))
    Case.objects.filter(pk__in=case_ids).update(customer=survivor, version=F("version") + 1, updated_at=now)
    CaseEvent.objects.bulk_create(
        CaseEvent(
            case_id=case_id,
            client_id=survivor.client_id,
            kind=CaseEventKind.CUSTOMER_MERGED,
            actor=who.user,
            actor_label=who.label,
            before={"customer": str(merged.public_id)},
            after={"customer": str(survivor.public_id)},
            reason=reason,
            occurred_at=now,
        )
        for case_id in case_ids
    )
    merged.merged_into = survivor
    merged._change_reason = f"merged into {survivor.public_id}: {reason}"
    merged.save(update_fields=["merged_into", "updated_at"])
    survivor._change_reason = f"absorbed {merged.public_id}: {reason}"
    survivor.save(update_fields=["updated_at"])
    publish(
        events.CustomersMerged(
            client_id=survivor.client_id,
            survivor_id=survivor.pk,
            merged_id=merged.pk,
            moved_case_ids=tuple(case_ids),
            occurred_at=now,
        )
    )
    return survivor


# --- Case lifecycle ----------------------------------------------------------------------------


def _entry(
    case: Case,
    kind: str,
    who: Actor,
    *,
    occurred_at: datetime,
    before=None,
    after=None,
    reason="",
    interaction: Interaction | None = None,
) -> CaseEvent:
    """A timeline entry of `case`, built (not saved)."""
    return row_build(
        CaseEvent,
        case=case,
        client_id=case.client_id,
        kind=kind,
        actor=who.user,
        actor_label=who.label,
        interaction=interaction,
        before=before or {},
        after=after or {},
        reason=reason,
        occurred_at=occurred_at,
    )


def _record(case: Case, kind: str, who: Actor, **values) -> CaseEvent:
    """Write one timeline entry of `case` (see `_entry` for `values`)."""
    (event,) = rows_insert(CaseEvent, [_entry(case, kind, who, **values)])
    return event


def _lock(case: Case, expected_version: int | None) -> Case:
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if expected_version is not None and locked.version != expected_version:
        raise ConflictError(
            f"This case was changed by someone else (version {locked.version}, you had {expected_version}). "
            "Reload it and try again."
        )
    return locked


def _bump(case: Case, fields: list[str]) -> None:
    case.version += 1
    row_update(case, [*fields, "version", "updated_at"])


@dataclass(frozen=True)
class CaseOpening:
    """What opening one case takes (`case_open`, `cases_open_bulk`)."""

    customer: Customer
    queue: Queue
    subject: str
    channel: str
    priority: str = Priority.NORMAL
    opened_at: datetime | None = None
    external_id: str = ""
    assignee: Any = None
    reason: str = ""


# `Channel.values` and the like build a list on every read: checks use these sets.
_CHANNELS = frozenset(Channel.values)
_PRIORITIES = frozenset(Priority.values)
_AUTHOR_KINDS = frozenset(AuthorKind.values)
_DIRECTIONS = frozenset(Direction.values)


def _opening_errors(client: Client, opening: CaseOpening, serves) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if opening.customer.client_id != client.pk:
        errors["customer"] = ["This customer belongs to another client."]
    if opening.queue.client_id != client.pk:
        errors["queue"] = ["This queue belongs to another client."]
    if opening.channel not in _CHANNELS:
        errors["channel"] = [f"Unknown channel {opening.channel!r}."]
    if opening.priority not in _PRIORITIES:
        errors["priority"] = [f"Unknown priority {opening.priority!r}."]
    if not opening.subject.strip():
        errors["subject"] = ["A case needs a subject."]
    if opening.assignee is not None and not serves(opening.assignee):
        errors["assignee"] = ["This user does not serve this client."]
    return errors


def _refuse_bad_opening(client: Client, opening: CaseOpening) -> None:
    """ApplicationError naming what `case_open` refuses in `opening`, an external id in use too."""
    errors = _opening_errors(client, opening, lambda user: _user_serves(user, client.pk))
    if errors:
        raise ApplicationError("The case could not be opened.", field_errors=errors)
    if (
        opening.external_id
        and Case.objects.filter(client=client).with_external_id(opening.external_id).exists()
    ):
        raise ApplicationError.for_field(
            "external_id", f"A case with external id {opening.external_id!r} already exists."
        )


def _new_case(client: Client, opening: CaseOpening, opened_at: datetime) -> Case:
    return row_build(
        Case,
        client=client,
        customer=opening.customer,
        queue=opening.queue,
        subject=opening.subject.strip()[:300],
        priority=opening.priority,
        origin_channel=opening.channel,
        current_channel=opening.channel,
        tier=opening.queue.default_tier,
        external_id=opening.external_id,
        assignee=opening.assignee,
        opened_at=opened_at,
        last_activity_at=opened_at,
    )


def _opened_record(case: Case, who: Actor, reason: str) -> CaseEvent:
    return row_build(
        CaseEvent,
        case=case,
        client_id=case.client_id,
        kind=CaseEventKind.OPENED,
        actor=who.user,
        actor_label=who.label,
        after={
            "status": case.status,
            "priority": case.priority,
            "channel": case.origin_channel,
            "queue": case.queue_id,
            # What an SLA policy was matched on at opening (a repair matches on it again).
            "segment": case.customer.segment,
        },
        reason=reason,
        occurred_at=case.opened_at,
    )


def _interaction_record(case: Case, who: Actor, interaction: Interaction) -> CaseEvent:
    return _entry(
        case,
        CaseEventKind.INTERACTION,
        who,
        occurred_at=interaction.occurred_at,
        interaction=interaction,
        after={
            "channel": interaction.channel,
            "direction": interaction.direction,
            "author_kind": interaction.author_kind,
        },
    )


def _appended_event(interaction: Interaction, *, opens_case: bool = False) -> events.InteractionAppended:
    return events.InteractionAppended(
        case_id=interaction.case_id,
        client_id=interaction.client_id,
        occurred_at=interaction.occurred_at,
        interaction_id=interaction.pk,
        channel=interaction.channel,
        direction=interaction.direction,
        author_kind=interaction.author_kind,
        body=interaction.body,
        opens_case=opens_case,
    )


def _opened_event(case: Case) -> events.CaseOpened:
    return events.CaseOpened(
        case_id=case.pk,
        client_id=case.client_id,
        occurred_at=case.opened_at,
        priority=case.priority,
        channel=case.origin_channel,
        queue_id=case.queue_id,
        status=case.status,
        customer_segment=case.customer.segment,
        customer_is_vip=case.customer.is_vip,
    )


@transaction.atomic
def case_open(
    *,
    client: Client,
    customer: Customer,
    queue: Queue,
    subject: str,
    channel: str,
    priority: str = Priority.NORMAL,
    opened_at: datetime | None = None,
    external_id: str = "",
    assignee=None,
    actor: Any = None,
    reason: str = "",
) -> Case:
    """Open a case for `customer` in `queue`. `opened_at` may be historical (synced cases)."""
    opening = CaseOpening(
        customer, queue, subject, channel, priority, opened_at, external_id, assignee, reason
    )
    _refuse_bad_opening(client, opening)
    case = _new_case(client, opening, _aware(opened_at, "opened_at"))
    rows_insert(Case, [case])
    rows_insert(CaseEvent, [_opened_record(case, Actor.of(actor), opening.reason)], ids=False)
    publish(_opened_event(case))
    return case


@dataclass(frozen=True)
class OpeningMessage:
    """The customer's inbound message that opens a case (`case_open_with_message`)."""

    body: str
    occurred_at: datetime
    source: str = ""
    external_id: str = ""
    thread_key: str = ""
    metadata: dict | None = None


@transaction.atomic
def case_open_with_message(
    *, client: Client, opening: CaseOpening, message: OpeningMessage, actor: Any = None
) -> tuple[Case, Interaction]:
    """Open a case with the customer's inbound message that starts it, on the opening channel:
    what `case_open` then `interaction_append` do, in fewer statements (the case, the interaction
    and their two timeline entries; the SLA engine applies both at once). Refused as `case_open`
    refuses. A message already taken (its source and external id) raises IntegrityError and
    keeps nothing: the caller finds the case that took it."""
    _refuse_bad_opening(client, opening)
    opened_at = _aware(opening.opened_at, "opened_at")
    when = _aware(message.occurred_at, "occurred_at")
    who = Actor.of(actor)
    case = _new_case(client, opening, opened_at)
    case.last_activity_at = max(opened_at, when)
    rows_insert(Case, [case])
    interaction = Interaction(
        client_id=client.pk,
        case=case,
        channel=opening.channel,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        body=message.body,
        occurred_at=when,
        source=message.source,
        external_id=message.external_id,
        thread_key=message.thread_key,
        metadata=message.metadata or {},
    )
    rows_insert(Interaction, [interaction])
    rows_insert(
        CaseEvent,
        [_opened_record(case, who, opening.reason), _interaction_record(case, who, interaction)],
        ids=False,
    )
    publish(replace(_opened_event(case), first_message_at=when))
    publish(_appended_event(interaction, opens_case=True))
    return case, interaction


@transaction.atomic
def cases_open_bulk(*, client: Client, openings: Sequence[CaseOpening], actor: Any = None) -> list[Case]:
    """Open many cases of `client` at once (bulk sync): what `case_open` does for each, in a
    constant number of statements, publishing one `CasesOpened`. All or nothing: any opening
    refused (the same checks as `case_open`; an external id already used, or used twice in the
    batch) refuses the batch, naming the opening's position."""
    served: dict[int, bool] = {}

    def serves(user) -> bool:
        if user.pk not in served:
            served[user.pk] = _user_serves(user, client.pk)
        return served[user.pk]

    for index, opening in enumerate(openings):
        errors = _opening_errors(client, opening, serves)
        if errors:
            raise ApplicationError(f"Opening {index} could not be made.", field_errors=errors)
    external_ids = [o.external_id for o in openings if o.external_id]
    if len(set(external_ids)) != len(external_ids):
        raise ApplicationError.for_field("external_id", "An external id appears twice in the batch.")
    taken = list(
        Case.objects.filter(client=client)
        .with_external_id(*external_ids)
        # No ORDER BY: with the model's (newest first) and LIMIT 1, PostgreSQL walked every case
        # of the client by opening time to find none (62 ms among 200,000), not the unique index.
        .order_by()
        .values_list("external_id", flat=True)[:1]
    )
    if taken:
        raise ApplicationError.for_field(
            "external_id", f"A case with external id {taken[0]!r} already exists."
        )
    who = Actor.of(actor)
    cases = [_new_case(client, o, _aware(o.opened_at, "opened_at")) for o in openings]
    rows_insert(Case, cases)
    rows_insert(
        CaseEvent,
        [_opened_record(case, who, opening.reason) for case, opening in zip(cases, openings, strict=True)],
        ids=False,
    )
    if cases:
        publish(events.CasesOpened(client_id=client.pk, openings=tuple(_opened_event(c) for c in cases)))
    return cases


def _user_serves(user, client_id: int) -> bool:
    return user.is_superuser or user.served_clients.filter(pk=client_id).exists()


_STATUS_EVENT_KINDS = (
    CaseEventKind.OPENED,
    CaseEventKind.STATUS_CHANGED,
    CaseEventKind.RESOLVED,
    CaseEventKind.REOPENED,
    CaseEventKind.CLOSED,
)


def _after_last_status_change(case: Case, when: datetime) -> datetime:
    """When a message changes the case's status: at the message's time, but never before the
    case's last status change. A late message (an e-mail dated before the case was set pending)
    reopens the case after that change, so that the SLA engine, replaying the case in time
    order, ends with the status the case has (and its clocks running)."""
    last = (
        CaseEvent.objects.filter(case_id=case.pk, kind__in=_STATUS_EVENT_KINDS)
        .order_by("-occurred_at", "-id")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return max(when, last) if last is not None else when


def _change_status(case: Case, new_status: str, who: Actor, *, occurred_at: datetime, reason: str) -> None:
    """Apply one checked transition to a locked case and record it (no save)."""
    old = case.status
    if new_status not in CaseStatus.values:
        raise ApplicationError.for_field("status", f"Unknown status {new_status!r}.")
    if new_status == old:
        raise ApplicationError.for_field(
            "status", f"The case is already {case.get_status_display().lower()}."
        )
    if new_status not in TRANSITIONS[old]:
        raise ApplicationError.for_field(
            "status",
            f"A {CaseStatus(old).label.lower()} case cannot become {CaseStatus(new_status).label.lower()}."
            + (" Closed is final." if old == CaseStatus.CLOSED else ""),
        )
    if occurred_at < case.opened_at:
        raise ApplicationError.for_field(
            "occurred_at", "This is before the case was opened: a case's status changes after its opening."
        )
    kind = CaseEventKind.STATUS_CHANGED
    if old == CaseStatus.RESOLVED and new_status == CaseStatus.OPEN:
        kind = CaseEventKind.REOPENED
        case.reopen_count += 1
        case.resolved_at = None
    elif new_status == CaseStatus.RESOLVED:
        kind = CaseEventKind.RESOLVED
        case.resolved_at = occurred_at
    elif new_status == CaseStatus.CLOSED:
        kind = CaseEventKind.CLOSED
        case.closed_at = occurred_at
    case.status = new_status
    _record(
        case,
        kind,
        who,
        occurred_at=occurred_at,
        before={"status": old},
        after={"status": new_status},
        reason=reason,
    )
    publish(
        events.CaseStatusChanged(
            case_id=case.pk,
            client_id=case.client_id,
            occurred_at=occurred_at,
            old_status=old,
            new_status=new_status,
        )
    )
    if kind == CaseEventKind.REOPENED:
        publish(
            events.CaseReopened(
                case_id=case.pk,
                client_id=case.client_id,
                occurred_at=occurred_at,
                reopen_count=case.reopen_count,
            )
        )


_STATUS_FIELDS = ["status", "resolved_at", "closed_at", "reopen_count", "first_contact_resolution"]


@transaction.atomic
def case_status_set(
    *,
    case: Case,
    status: str,
    actor: Any,
    reason: str = "",
    expected_version: int | None = None,
    occurred_at: datetime | None = None,
) -> Case:
    """Move the case to `status` if the lifecycle allows it (resolved -> open counts a reopen)."""
    case = _lock(case, expected_version)
    _change_status(
        case, status, Actor.of(actor), occurred_at=_aware(occurred_at, "occurred_at"), reason=reason
    )
    _bump(case, _STATUS_FIELDS)
    return case


@transaction.atomic
def case_resolve(
    *,
    case: Case,
    actor: Any,
    first_contact_resolution: bool | None = None,
    reason: str = "",
    expected_version: int | None = None,
    occurred_at: datetime | None = None,
) -> Case:
    """Resolve the case, optionally flagging first-contact resolution."""
    case = _lock(case, expected_version)
    _change_status(
        case,
        CaseStatus.RESOLVED,
        Actor.of(actor),
        occurred_at=_aware(occurred_at, "occurred_at"),
        reason=reason,
    )
    if first_contact_resolution is not None:
        case.first_contact_resolution = first_contact_resolution
    _bump(case, _STATUS_FIELDS)
    return case


@transaction.atomic
def case_reopen(
    *,
    case: Case,
    actor: Any,
    reason: str,
    expected_version: int | None = None,
    occurred_at: datetime | None = None,
) -> Case:
    """Reopen a resolved case (counted). A closed case cannot be reopened."""
    if not reason.strip():
        raise ApplicationError.for_field("reason", "Say why the case is reopened.")
    case = _lock(case, expected_version)
    if case.status != CaseStatus.RESOLVED:
        raise ApplicationError.for_field("status", "Only a resolved case can be reopened.")
    _change_status(
        case, CaseStatus.OPEN, Actor.of(actor), occurred_at=_aware(occurred_at, "occurred_at"), reason=reason
    )
    case.first_contact_resolution = False
    _bump(case, _STATUS_FIELDS)
    return case


@transaction.atomic
def case_close(
    *,
    case: Case,
    actor: Any,
    reason: str = "",
    expected_version: int | None = None,
    occurred_at: datetime | None = None,
) -> Case:
    """Close a resolved case; closed is final."""
    return case_status_set(
        case=case,
        status=CaseStatus.CLOSED,
        actor=actor,
        reason=reason,
        expected_version=expected_version,
        occurred_at=occurred_at,
    )


def _set_field(
    case: Case,
    *,
    kind: str,
    field: str,
    old: Any,
    new: Any,
    actor: Any,
    when: datetime,
    reason: str,
    event: events.CaseEventBase,
) -> Case:
    """Record one field change of a locked case on its timeline, save it and publish `event`."""
    _record(
        case, kind, Actor.of(actor), occurred_at=when, before={field: old}, after={field: new}, reason=reason
    )
    _bump(case, [field])
    publish(event)
    return case


@transaction.atomic
def case_assign(
    *, case: Case, assignee, actor: Any, reason: str = "", expected_version: int | None = None
) -> Case:
    """Assign the case to `assignee` (None unassigns). The assignee must serve the case's client."""
    case = _lock(case, expected_version)
    if case.status == CaseStatus.CLOSED:
        raise ApplicationError("A closed case cannot be reassigned.")
    if assignee is not None and not (assignee.is_active and _user_serves(assignee, case.client_id)):
        raise ApplicationError.for_field("assignee", "This user does not serve this case's client.")
    old, new = case.assignee_id, assignee.pk if assignee is not None else None
    if old == new:
        return case
    now = _now()
    case.assignee = assignee
    return _set_field(
        case,
        kind=CaseEventKind.ASSIGNED,
        field="assignee",
        old=old,
        new=new,
        actor=actor,
        when=now,
        reason=reason,
        event=events.CaseAssigned(
            case_id=case.pk,
            client_id=case.client_id,
            occurred_at=now,
            old_assignee_id=old,
            new_assignee_id=new,
        ),
    )


@transaction.atomic
def case_priority_set(
    *,
    case: Case,
    priority: str,
    actor: Any,
    reason: str = "",
    expected_version: int | None = None,
    occurred_at: datetime | None = None,
) -> Case:
    """Change the priority; the SLA engine recomputes targets from each clock's own start."""
    if priority not in _PRIORITIES:
        raise ApplicationError.for_field("priority", f"Unknown priority {priority!r}.")
    case = _lock(case, expected_version)
    if case.status == CaseStatus.CLOSED:
        raise ApplicationError("A closed case cannot change priority.")
    old = case.priority
    if old == priority:
        return case
    when = _aware(occurred_at, "occurred_at")
    case.priority = priority
    return _set_field(
        case,
        kind=CaseEventKind.PRIORITY_CHANGED,
        field="priority",
        old=old,
        new=priority,
        actor=actor,
        when=when,
        reason=reason,
        event=events.CasePriorityChanged(
            case_id=case.pk,
            client_id=case.client_id,
            occurred_at=when,
            old_priority=old,
            new_priority=priority,
        ),
    )


def priority_is_raise(old: str, new: str) -> bool:
    return PRIORITY_RANK[Priority(new)] > PRIORITY_RANK[Priority(old)]


@transaction.atomic
def case_queue_set(
    *, case: Case, queue: Queue, actor: Any, reason: str = "", expected_version: int | None = None
) -> Case:
    """Move the case to another queue of the same client."""
    if queue.client_id != case.client_id:
        raise ApplicationError.for_field("queue", "This queue belongs to another client.")
    case = _lock(case, expected_version)
    old = case.queue_id
    if old == queue.pk:
        return case
    now = _now()
    case.queue = queue
    return _set_field(
        case,
        kind=CaseEventKind.QUEUE_CHANGED,
        field="queue",
        old=old,
        new=queue.pk,
        actor=actor,
        when=now,
        reason=reason,
        event=events.CaseQueueChanged(
            case_id=case.pk,
            client_id=case.client_id,
            occurred_at=now,
            old_queue_id=old,
            new_queue_id=queue.pk,
        ),
    )


@transaction.atomic
def case_tier_set(
    *, case: Case, tier: int, actor: Any, reason: str, expected_version: int | None = None
) -> Case:
    """Set the escalation tier (1-3); governance's escalation services call this."""
    if tier not in (1, 2, 3):
        raise ApplicationError.for_field("tier", "The tier is 1, 2 or 3.")
    case = _lock(case, expected_version)
    old = case.tier
    if old == tier:
        return case
    now = _now()
    case.tier = tier
    return _set_field(
        case,
        kind=CaseEventKind.TIER_CHANGED,
        field="tier",
        old=old,
        new=tier,
        actor=actor,
        when=now,
        reason=reason,
        event=events.CaseTierChanged(
            case_id=case.pk, client_id=case.client_id, occurred_at=now, old_tier=old, new_tier=tier
        ),
    )


@transaction.atomic
def case_sentiment_set(*, case: Case, sentiment: float, actor: Any = None) -> Case:
    """Store the case's rolling sentiment (computed by the caller), clamped to -1..1."""
    case = _lock(case, None)
    now = _now()
    old = case.sentiment
    case.sentiment = round(max(-1.0, min(1.0, sentiment)), 4)
    return _set_field(
        case,
        kind=CaseEventKind.SENTIMENT,
        field="sentiment",
        old=old,
        new=case.sentiment,
        actor=actor,
        when=now,
        reason="",
        event=events.CaseSentimentChanged(
            case_id=case.pk, client_id=case.client_id, occurred_at=now, sentiment=case.sentiment
        ),
    )


@dataclass(frozen=True)
class AppendResult:
    interaction: Interaction
    created: bool


def _sent_again(existing: Interaction, case: Case, direction: str, same_case_only: bool) -> AppendResult:
    """The answer for a message whose key is taken: the message itself, sent again, unless
    `same_case_only` and the key names another case's message or one of another kind."""
    if same_case_only and (existing.case_id != case.pk or existing.direction != direction):
        raise ApplicationError.for_field(
            "external_id",
            "This external id already names another message (of another case, or of another kind); "
            "give this one its own.",
        )
    return AppendResult(existing, created=False)


def interaction_append(
    *,
    case: Case,
    channel: str,
    direction: str,
    author_kind: str,
    body: str = "",
    occurred_at: datetime | None = None,
    author=None,
    actor: Any = None,
    source: str = "",
    external_id: str = "",
    thread_key: str = "",
    metadata: dict | None = None,
    delivery_status: str = "",
    case_locked: bool = False,
    same_case_only: bool = False,
) -> AppendResult:
    """Append one interaction to the case's timeline, exactly once per `(source, external_id)`.
    `case_locked`: the caller read `case` with its row lock in the current transaction (the
    case is not read again). That caller owns the transaction: no savepoint is taken for this
    append (two statements fewer), so a failure here fails the caller's transaction whole.

    Also: a channel different from the case's current one is recorded as a handoff; the first
    public agent reply sets `first_responded_at` and opens a new case; a customer writing on a
    pending case reopens the conversation (pending -> open). Interactions cannot be added to a
    closed case. An inbound message of the system (an out-of-office reply) is recorded and
    changes nothing else.

    `same_case_only` (a client system's ids, through the API): the external id recognises a
    message sent again only on this case and of this kind; one naming another case's message, or
    a note, is refused (it is another message, whose id was reused), never answered with it.
    """
    errors: dict[str, list[str]] = {}
    if channel not in _CHANNELS:
        errors["channel"] = [f"Unknown channel {channel!r}."]
    if direction not in _DIRECTIONS:
        errors["direction"] = [f"Unknown direction {direction!r}."]
    if author_kind not in _AUTHOR_KINDS:
        errors["author_kind"] = [f"Unknown author kind {author_kind!r}."]
    if direction == Direction.INBOUND and author_kind not in (AuthorKind.CUSTOMER, AuthorKind.SYSTEM):
        errors["author_kind"] = ["An inbound interaction comes from the customer."]
    if direction in (Direction.OUTBOUND, Direction.NOTE) and author_kind == AuthorKind.CUSTOMER:
        errors["author_kind"] = ["A customer does not write outbound messages or notes."]
    if errors:
        raise ApplicationError("The interaction was refused.", field_errors=errors)
    when = _aware(occurred_at, "occurred_at")
    with transaction.atomic(savepoint=not case_locked):
        if not case_locked:
            case = _lock(case, None)
        if direction == Direction.OUTBOUND and when < case.opened_at:
            # A reply before there was a case: a first response before the opening (negative
            # response times) that no clock would count. A customer's message can be older (an
            # e-mail that arrived late joins the case a later contact opened).
            raise ApplicationError.for_field("occurred_at", "This reply is dated before the case was opened.")
        if case.status == CaseStatus.CLOSED:
            existing = _interaction_existing(case.client_id, source, external_id)
            if existing is not None:  # a re-delivery of a message the case took before it closed
                return _sent_again(existing, case, direction, same_case_only)
            raise ApplicationError("A closed case takes no new interactions; open a new case.")
        who = Actor.of(actor if actor is not None else author)
        interaction = row_build(
            Interaction,
            client_id=case.client_id,
            case=case,
            channel=channel,
            direction=direction,
            author_kind=author_kind,
            author=author,
            body=body,
            occurred_at=when,
            source=source,
            external_id=external_id,
            thread_key=thread_key,
            metadata=metadata or {},
            delivery_status=delivery_status,
        )
        if not row_insert_new(interaction):
            # Delivered before (or concurrently, and the other delivery won): that row is the one.
            existing = _interaction_existing(case.client_id, source, external_id)
            if existing is None:  # the conflict was on something else than the message's key
                raise IntegrityError(f"Interaction of case {case.pk} refused by a unique constraint.")
            return _sent_again(existing, case, direction, same_case_only)
        fields = ["last_activity_at"]
        entries = []
        if channel != case.current_channel and direction != Direction.NOTE:
            handoff = {"before": {"channel": case.current_channel}, "after": {"channel": channel}}
            entries.append(_entry(case, CaseEventKind.CHANNEL_HANDOFF, who, occurred_at=when, **handoff))
            case.current_channel = channel
            fields.append("current_channel")
        entries.append(_interaction_record(case, who, interaction))
        rows_insert(CaseEvent, entries, ids=False)  # the handoff, then the message: one statement
        case.last_activity_at = max(case.last_activity_at, when)
        publish(_appended_event(interaction))
        if interaction.is_public_agent_reply:
            if case.first_responded_at is None or when < case.first_responded_at:
                case.first_responded_at = when
                fields.append("first_responded_at")
            if case.status == CaseStatus.NEW:
                at = max(when, case.opened_at)  # the one status event so far is the opening
                _change_status(case, CaseStatus.OPEN, who, occurred_at=at, reason="agent replied")
                fields.append("status")
        elif author_kind == AuthorKind.CUSTOMER and case.status == CaseStatus.PENDING:
            at = _after_last_status_change(case, when)
            _change_status(case, CaseStatus.OPEN, who, occurred_at=at, reason="customer replied")
            fields.append("status")
        _bump(case, fields)
        return AppendResult(interaction, created=True)


def _interaction_existing(client_id: int, source: str, external_id: str) -> Interaction | None:
    if not external_id:
        return None
    found = Interaction.objects.filter(client_id=client_id, source=source).with_external_id(external_id)
    return found.first()


@transaction.atomic
@dataclass(frozen=True)
class AttachmentFile:
    """A file to keep with an interaction: its place among the message's attachments, the name
    and type its sender gave, and its bytes."""

    position: int
    filename: str
    content_type: str
    content: bytes


def attachments_keep(*, interaction: Interaction, files: Sequence[AttachmentFile]) -> list[Attachment]:
    """Keep `files` with `interaction` (in the caller's transaction): each one stored once per
    client by its content (a re-sent file is not written again), its row written in one
    statement. A file over ACCORD_ATTACHMENT_MAX_BYTES is not kept (the message's metadata still
    lists it). A file written for a transaction that then rolls back stays, unreferenced, under
    its digest: a later delivery of the same message finds it."""
    rows = []
    for file in files:
        if not file.content or len(file.content) > settings.ACCORD_ATTACHMENT_MAX_BYTES:
            continue
        row = Attachment(
            client_id=interaction.client_id,
            interaction=interaction,
            position=file.position,
            filename=(file.filename or f"attachment-{file.position + 1}")[:255],
            content_type=(file.content_type or "application/octet-stream")[:120],
            size=len(file.content),
            sha256=hashlib.sha256(file.content).hexdigest(),
        )
        name = Attachment._meta.get_field("file").generate_filename(row, row.filename)
        if not default_storage.exists(name):
            name = default_storage.save(name, ContentFile(file.content))
        row.file.name = name
        rows.append(row)
    return Attachment.objects.bulk_create(rows)


def interaction_delivery_set(
    *, interaction: Interaction, delivery_status: str, detail: str = "", external_id: str = ""
) -> Interaction:
    """Record the delivery state of an outbound interaction (set by connectors' send tasks and
    the channels' receipts); `external_id`: the channel's id of the message, which its receipts
    name."""
    changes = {}
    if external_id:
        changes["external_id"] = external_id[:255]
    Interaction.objects.filter(pk=interaction.pk).update(
        delivery_status=delivery_status,
        metadata={**interaction.metadata, "delivery_detail": detail[:500]}
        if detail
        else interaction.metadata,
        **changes,
    )
    interaction.refresh_from_db()
    return interaction


@transaction.atomic
def survey_record(
    *,
    case: Case,
    csat: int | None = None,
    nps: int | None = None,
    effort: int | None = None,
    comment: str = "",
    answered_at: datetime | None = None,
    actor: Any = None,
) -> SatisfactionSurvey:
    """Record a customer's satisfaction answers for `case` (CSAT 1-5, NPS 0-10, effort 1-7)."""
    errors: dict[str, list[str]] = {}
    for field, value, low, high in (("csat", csat, 1, 5), ("nps", nps, 0, 10), ("effort", effort, 1, 7)):
        if value is not None and not (isinstance(value, int) and low <= value <= high):
            errors[field] = [f"{field.upper()} is a whole number from {low} to {high}."]
    if csat is None and nps is None and effort is None:
        errors["csat"] = ["Give at least one of CSAT, NPS or effort."]
    if errors:
        raise ApplicationError("The survey answer was refused.", field_errors=errors)
    when = _aware(answered_at, "answered_at")
    survey = SatisfactionSurvey.objects.create(
        client_id=case.client_id,
        case=case,
        csat=csat,
        nps=nps,
        effort=effort,
        comment=comment,
        answered_at=when,
    )
    _record(
        case,
        CaseEventKind.SURVEY,
        Actor.of(actor),
        occurred_at=when,
        after={"csat": csat, "nps": nps, "effort": effort},
    )
    return survey
