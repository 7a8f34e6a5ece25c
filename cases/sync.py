"""Sync for client systems: create-or-update a case by the client's own key (`external_id`) and
bulk upserts. Every change goes through the case services (one per kind of change), so timelines,
versions, events and SLA clocks are exactly what the same change made by hand would give.

Input is a dict of already-parsed values; a key that is absent leaves that field as it is.
References (queue, customer, assignee) are resolved inside the client only: one that does not
exist and one of another client get the same answer (a 400 naming the field)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from config.errors import ApplicationError, ConflictError
from config.prepared import prepared_select

from . import selectors, services
from .choices import CaseEventKind, CaseStatus, Priority
from .models import Case, Client, Customer, CustomerIdentity, Queue

BULK_MAX_ITEMS = 500


@dataclass(frozen=True)
class UpsertResult:
    case: Case
    created: bool
    changed: bool

    @property
    def outcome(self) -> str:
        return "created" if self.created else ("updated" if self.changed else "unchanged")


@prepared_select
def _customer_by_public_id(client_id: int, public_id: UUID) -> QuerySet[Customer]:
    return Customer.objects.filter(client_id=client_id, public_id=public_id).order_by()


@dataclass
class References:
    """The queues, customers, assignees and existing cases a batch refers to, loaded once."""

    client: Client
    queues: dict[int, Queue] = field(default_factory=dict)
    customers: dict[UUID, Customer] = field(default_factory=dict)
    users: dict[int, Any] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)

    @classmethod
    def load(cls, client: Client, items: Iterable[tuple[str, dict]]) -> References:
        items = list(items)
        queue_ids = {data["queue_id"] for _, data in items if data.get("queue_id") is not None}
        customer_ids = {data["customer_id"] for _, data in items if data.get("customer_id") is not None}
        user_ids = {data["assignee_id"] for _, data in items if data.get("assignee_id") is not None}
        external_ids = {external_id for external_id, _ in items if external_id}
        refs = cls(client=client)
        if queue_ids:
            queues = selectors.queues_of_client(client_id=client.pk)
            refs.queues = {pk: queues[pk] for pk in queue_ids if pk in queues}
        if customer_ids:
            # A merged customer's survivor is read when one is met (`_survivor`): rare, so no join.
            (first, *more) = customer_ids
            if not more and isinstance(first, UUID):  # one case created or updated: the API's hot path
                found = _customer_by_public_id(client_id=client.pk, public_id=first)
            else:
                found = Customer.objects.filter(client=client, public_id__in=customer_ids)
            refs.customers = {c.public_id: c for c in found}
        if user_ids:
            refs.users = {
                u.pk: u
                for u in get_user_model()
                .objects.filter(pk__in=user_ids, is_active=True)
                .filter(Q(is_superuser=True) | Q(served_clients=client))
                .distinct()
            }
        if external_ids:
            refs.cases = {
                c.external_id: c for c in Case.objects.filter(client=client).with_external_id(*external_ids)
            }
        return refs


def _queue(refs: References, queue_id: int, errors: dict) -> Queue | None:
    queue = refs.queues.get(queue_id)
    if queue is None:
        errors["queue_id"] = ["No such queue for this client."]
    return queue


def _assignee(refs: References, data: dict, errors: dict):
    user_id = data.get("assignee_id")
    if user_id is None:
        return None
    user = refs.users.get(user_id)
    if user is None:
        errors["assignee_id"] = ["No such user serving this client."]
    return user


def _survivor(customer: Customer) -> Customer:
    seen = set()
    while customer.merged_into_id and customer.pk not in seen:
        seen.add(customer.pk)
        customer = customer.merged_into
    return customer


def customer_resolve(
    *, client: Client, spec: dict, actor: Any = None, create: bool = True
) -> Customer | None:
    """The customer owning any of `spec["identities"]` in `client`, created when none does (and
    `create`); identities it lacks are added. Two customers found is refused: merging is an audited
    action of its own, never a side effect of a sync."""
    normalized = [
        (item["kind"], services.identity_normalize(client=client, kind=item["kind"], value=item["value"]))
        for item in spec.get("identities", [])
    ]
    if not normalized:
        raise ApplicationError.for_field("customer", "Give the customer's identities (or customer_id).")
    condition = Q(pk__in=[])
    for kind, value in normalized:
        condition |= Q(kind=kind, value=value)
    owners = {
        _survivor(identity.customer)
        for identity in CustomerIdentity.objects.filter(condition, client=client).select_related(
            "customer__merged_into"
        )
    }
    if len(owners) > 1:
        raise ApplicationError.for_field(
            "customer", "These identities belong to different customers; merge them first (admin)."
        )
    if owners:
        customer = owners.pop()
        for kind, value in normalized:
            services.identity_add(customer=customer, kind=kind, value=value, actor=actor)
        return customer
    if not create:
        return None
    return services.customer_create(
        client=client,
        display_name=spec.get("display_name", ""),
        identities=normalized,
        segment=spec.get("segment", "standard"),
        is_vip=spec.get("is_vip", False),
        language=spec.get("language", "en"),
        actor=actor,
    )


def _status_steps(current: str, target: str) -> list[str]:
    """The transitions from `current` to `target`: direct, or through resolved (new -> closed)."""
    if current == target:
        return []
    if target in services.TRANSITIONS[current]:
        return [target]
    if (
        CaseStatus.RESOLVED in services.TRANSITIONS[current]
        and target in services.TRANSITIONS[CaseStatus.RESOLVED]
    ):
        return [CaseStatus.RESOLVED, target]
    raise ApplicationError.for_field(
        "status",
        f"A {CaseStatus(current).label.lower()} case cannot become {CaseStatus(target).label.lower()}.",
    )


def _apply_status(case: Case, data: dict, actor: Any) -> Case:
    for step in _status_steps(case.status, data["status"]):
        if step == CaseStatus.RESOLVED:
            case = services.case_resolve(
                case=case,
                actor=actor,
                first_contact_resolution=data.get("first_contact_resolution"),
                reason=data.get("reason", ""),
                occurred_at=data.get("occurred_at"),
            )
        else:
            case = services.case_status_set(
                case=case,
                status=step,
                actor=actor,
                reason=data.get("reason", ""),
                occurred_at=data.get("occurred_at"),
            )
    return case


def _append_interactions(case: Case, interactions: Sequence[dict], actor: Any) -> tuple[Case, bool]:
    created = False
    now = timezone.now()
    for item in sorted(interactions, key=lambda i: i.get("occurred_at") or now):
        result = services.interaction_append(
            case=case, actor=actor, source="api", same_case_only=True, **item
        )
        created = created or result.created
    if created:
        case = Case.objects.get(pk=case.pk)
    return case, created


@transaction.atomic
def case_subject_set(*, case: Case, subject: str, actor: Any, reason: str = "") -> Case:
    """Change the case's subject, recorded on its timeline (`updated`, before/after)."""
    subject = subject.strip()[:300]
    if not subject:
        raise ApplicationError.for_field("subject", "A case needs a subject.")
    case = services._lock(case, None)
    if case.subject == subject:
        return case
    old = case.subject
    case.subject = subject
    services._record(
        case,
        CaseEventKind.UPDATED,
        services.Actor.of(actor),
        occurred_at=timezone.now(),
        before={"subject": old},
        after={"subject": subject},
        reason=reason,
    )
    services._bump(case, ["subject"])
    return case


def _create_references(refs: References, data: dict) -> tuple[Queue, Any, Customer | None]:
    """The queue, assignee and customer (None: to resolve from `data["customer"]`) a new case
    refers to, or ApplicationError naming each bad field."""
    errors: dict[str, list[str]] = {}
    for name in ("subject", "channel", "queue_id"):
        if not data.get(name):
            errors[name] = ["Required to create a case."]
    if "customer_id" not in data and "customer" not in data:
        errors["customer_id"] = ["Give customer_id or customer (with identities) to create a case."]
    queue = _queue(refs, data["queue_id"], errors) if data.get("queue_id") else None
    assignee = _assignee(refs, data, errors)
    customer = None
    if data.get("customer_id") is not None:
        customer = refs.customers.get(data["customer_id"])
        if customer is None:
            errors["customer_id"] = ["No such customer for this client."]
        else:
            customer = _survivor(customer)
    if errors:
        raise ApplicationError("The case could not be created.", field_errors=errors)
    return queue, assignee, customer


def _opening(
    data: dict, external_id: str, queue: Queue, assignee: Any, customer: Customer
) -> services.CaseOpening:
    return services.CaseOpening(
        customer=customer,
        queue=queue,
        subject=data["subject"],
        channel=data["channel"],
        priority=data.get("priority") or Priority.NORMAL,
        opened_at=data.get("opened_at"),
        external_id=external_id,
        assignee=assignee,
        reason=data.get("reason", ""),
    )


def _create(*, client: Client, external_id: str, data: dict, actor: Any, refs: References) -> Case:
    queue, assignee, customer = _create_references(refs, data)
    if customer is None:
        customer = customer_resolve(client=client, spec=data["customer"], actor=actor)
    opening = _opening(data, external_id, queue, assignee, customer)
    case = services.case_open(client=client, actor=actor, **vars(opening))
    if data.get("interactions"):
        case, _ = _append_interactions(case, data["interactions"], actor)
    if data.get("status"):
        case = _apply_status(case, data, actor)
    return case


def _update(
    *, case: Case, data: dict, actor: Any, refs: References, expected_version: int | None
) -> tuple[Case, bool]:
    case = Case.objects.select_for_update().select_related("customer").get(pk=case.pk)
    if expected_version is not None and case.version != expected_version:
        raise ConflictError(
            f"This case was changed by someone else (version {case.version}, you had {expected_version})."
        )
    version = case.version
    errors: dict[str, list[str]] = {}
    if "channel" in data and data["channel"] != case.origin_channel:
        errors["channel"] = ["The origin channel of an existing case cannot change."]
    if data.get("opened_at") is not None and data["opened_at"] != case.opened_at:
        errors["opened_at"] = ["The opening time of an existing case cannot change."]
    if data.get("customer_id") is not None and data["customer_id"] != case.customer.public_id:
        errors["customer_id"] = ["A case cannot move to another customer (merge customers instead)."]
    if "customer" in data:
        found = customer_resolve(client=refs.client, spec=data["customer"], actor=actor, create=False)
        if found is not None and found.pk != case.customer_id:
            errors["customer"] = ["These identities belong to another customer than the case's."]
    queue = _queue(refs, data["queue_id"], errors) if data.get("queue_id") is not None else None
    assignee = _assignee(refs, data, errors)
    if errors:
        raise ApplicationError("The case could not be updated.", field_errors=errors)
    reason = data.get("reason", "")
    if data.get("subject") is not None:
        case = case_subject_set(case=case, subject=data["subject"], actor=actor, reason=reason)
    if queue is not None and queue.pk != case.queue_id:
        case = services.case_queue_set(case=case, queue=queue, actor=actor, reason=reason)
    if data.get("priority") and data["priority"] != case.priority:
        case = services.case_priority_set(
            case=case,
            priority=data["priority"],
            actor=actor,
            reason=reason,
            occurred_at=data.get("occurred_at"),
        )
    if "assignee_id" in data and (assignee.pk if assignee else None) != case.assignee_id:
        case = services.case_assign(case=case, assignee=assignee, actor=actor, reason=reason)
    if data.get("interactions"):
        case, _ = _append_interactions(case, data["interactions"], actor)
    if data.get("status") and data["status"] != case.status:
        case = _apply_status(case, data, actor)
    return case, case.version != version


@transaction.atomic
def case_upsert(
    *,
    client: Client,
    external_id: str,
    data: dict,
    actor: Any,
    refs: References | None = None,
    expected_version: int | None = None,
    create_only: bool = False,
) -> UpsertResult:
    """Create the client's case `external_id` from `data`, or bring the existing one in line with
    it through the case services. `expected_version` (If-Match) applies to an existing case; with
    it, a missing case is a ConflictError, as is an existing one with `create_only`
    (If-None-Match: *). Concurrent upserts of one new key create one case: the loser updates it."""
    if not external_id or len(external_id) > 120:
        raise ApplicationError.for_field("external_id", "An external id has 1 to 120 characters.")
    refs = refs or References.load(client, [(external_id, data)])
    existing = refs.cases.get(external_id)
    if existing is None:
        if expected_version is not None:
            raise ConflictError("There is no case with this external id to match If-Match against.")
        try:
            with transaction.atomic():
                case = _create(client=client, external_id=external_id, data=data, actor=actor, refs=refs)
            refs.cases[external_id] = case
            return UpsertResult(case=case, created=True, changed=True)
        except (IntegrityError, ApplicationError):
            existing = Case.objects.filter(client=client).with_external_id(external_id).first()
            if existing is None:
                raise
    if create_only:
        raise ConflictError("A case with this external id already exists.")
    case, changed = _update(
        case=existing, data=data, actor=actor, refs=refs, expected_version=expected_version
    )
    refs.cases[external_id] = case
    return UpsertResult(case=case, created=False, changed=changed)


@dataclass(frozen=True)
class BulkItemResult:
    index: int
    external_id: str
    outcome: str  # created | updated | unchanged | failed
    case: Case | None = None
    errors: dict[str, list[str]] | None = None


def cases_bulk_upsert(
    *, client: Client, items: Sequence[tuple[str, dict]], actor: Any, atomic: bool = False
) -> tuple[list[BulkItemResult], bool]:
    """Upsert up to BULK_MAX_ITEMS cases in order, one result per item. Items are independent (each
    its own transaction) unless `atomic`: then one failure rolls every item back. Returns the
    results and whether they were kept (False: an atomic batch with a failure, all rolled back).
    Independent items each commit on their own (unless the caller holds a transaction)."""
    if len(items) > BULK_MAX_ITEMS:
        raise ApplicationError.for_field("items", f"At most {BULK_MAX_ITEMS} items per request.")
    if not atomic:
        return _bulk_items(client, items, actor), True
    with transaction.atomic():
        results = _bulk_items(client, items, actor)
        if any(r.outcome == "failed" for r in results):
            transaction.set_rollback(True)
            return results, False
    return results, True


def _bulk_items(client: Client, items: Sequence[tuple[str, dict]], actor: Any) -> list[BulkItemResult]:
    refs = References.load(client, items)
    results: list[BulkItemResult | None] = [None] * len(items)
    _bulk_open_plain_creates(client, items, actor, refs, results)
    uses = Counter(external_id for external_id, _ in items)
    for index, (external_id, data) in enumerate(items):
        if results[index] is not None:
            continue
        case = refs.cases.get(external_id)
        if case is not None and uses[external_id] == 1 and _unchanged(case, data, refs):
            # A re-sent item (a client's retry): nothing to lock or write.
            results[index] = BulkItemResult(index, external_id, "unchanged", case=case)
            continue
        try:
            result = case_upsert(client=client, external_id=external_id, data=data, actor=actor, refs=refs)
        except ApplicationError as exc:
            results[index] = _failed(index, external_id, exc)
            continue
        results[index] = BulkItemResult(index, external_id, result.outcome, case=result.case)
    return results


# What an update may carry that `_unchanged` compares; anything else takes the full path.
_COMPARED = frozenset(
    {
        "subject",
        "channel",
        "priority",
        "status",
        "queue_id",
        "customer_id",
        "assignee_id",
        "opened_at",
        "occurred_at",
        "first_contact_resolution",
        "reason",
    }
)


def _unchanged(case: Case, data: dict, refs: References) -> bool:
    """Whether `_update` would find nothing to change and nothing to refuse in `data` for `case`
    as the batch read it (so the item's outcome is `unchanged` as of that read). Only the fields
    `_update` compares count; when in doubt (identities, interactions, an unknown reference),
    False: the full path decides."""
    if not set(data) <= _COMPARED:
        return False
    if "subject" in data and (data["subject"] or "").strip()[:300] != case.subject:
        return False
    if "channel" in data and data["channel"] != case.origin_channel:
        return False
    if data.get("opened_at") is not None and data["opened_at"] != case.opened_at:
        return False
    if data.get("priority") and data["priority"] != case.priority:
        return False
    if data.get("status") and data["status"] != case.status:
        return False
    if data.get("queue_id") is not None and (
        data["queue_id"] not in refs.queues or data["queue_id"] != case.queue_id
    ):
        return False
    if data.get("customer_id") is not None:
        customer = refs.customers.get(data["customer_id"])
        if customer is None or customer.pk != case.customer_id:
            return False
    if "assignee_id" in data:
        user_id = data["assignee_id"]
        if user_id is not None and user_id not in refs.users:
            return False
        if user_id != case.assignee_id:
            return False
    return True


def _failed(index: int, external_id: str, exc: ApplicationError) -> BulkItemResult:
    errors = exc.field_errors or {"non_field_errors": [exc.message]}
    return BulkItemResult(index, external_id, "failed", errors=errors)


def _bulk_open_plain_creates(
    client: Client, items: Sequence[tuple[str, dict]], actor: Any, refs: References, results: list
) -> None:
    """Open the batch's plain new cases (a new external id used once, a known customer, no
    interactions or status) together through `cases_open_bulk`, so a migration's thousands of
    new cases cost a few statements per batch. Should that batch be refused (a case created
    meanwhile under one of its external ids), nothing of it stays and its items take the
    item-by-item path, which reports each one's own outcome."""
    uses = Counter(external_id for external_id, _ in items)
    plain = []
    for index, (external_id, data) in enumerate(items):
        if (
            not external_id
            or len(external_id) > 120
            or uses[external_id] > 1
            or external_id in refs.cases
            or "customer" in data
            or data.get("interactions")
            or data.get("status")
        ):
            continue
        try:
            queue, assignee, customer = _create_references(refs, data)
        except ApplicationError as exc:
            results[index] = _failed(index, external_id, exc)
            continue
        plain.append((index, _opening(data, external_id, queue, assignee, customer)))
    if not plain:
        return
    try:
        with transaction.atomic():
            cases = services.cases_open_bulk(client=client, openings=[o for _, o in plain], actor=actor)
    except (IntegrityError, ApplicationError):
        return
    for (index, opening), case in zip(plain, cases, strict=True):
        refs.cases[opening.external_id] = case
        results[index] = BulkItemResult(index, opening.external_id, "created", case=case)


def case_create(*, client: Client, data: dict, actor: Any) -> Case:
    """Open a case from API input (`external_id` optional): references resolved in `client`,
    then `case_open`, the given interactions and status, each through its service, all or nothing."""
    external_id = data.get("external_id", "")
    # case_open itself refuses an external id already used: no need to look it up here.
    refs = References.load(client, [("", data)])
    if data.get("interactions") or data.get("status") or "customer" in data:
        with transaction.atomic():
            return _create(client=client, external_id=external_id, data=data, actor=actor, refs=refs)
    return _create(client=client, external_id=external_id, data=data, actor=actor, refs=refs)
