"""Reads of the case domain, already scoped to the caller and prefetched."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet

from config.prepared import prepared_select

from . import revisions
from .access import client_ids_for_user
from .choices import UNRESOLVED_STATUSES
from .models import Case, CaseEvent, Client, Customer, CustomerIdentity, Interaction, Queue

QUEUES_REVISION = "queues"  # registered in CasesConfig.ready()
_queues_cache: revisions.RevisionCache[dict[int, Queue]] = revisions.RevisionCache(QUEUES_REVISION)


def queues_revision_sql(outer: str):
    """The revision of a client's queues (cases.revisions)."""
    return revisions.revision_sql(outer, (Queue, None))


def queues_of_client(*, client_id: int) -> dict[int, Queue]:
    """The client's queues by id, from the cache while the client's queues revision (as the
    request read it with its API key, else read now) is the cached one."""
    return _queues_cache.get(
        client_id, lambda: {queue.pk: queue for queue in Queue.objects.filter(client_id=client_id).order_by()}
    )


def case_list(*, user) -> QuerySet[Case]:
    """Cases of the clients `user` serves, with what a list shows."""
    return Case.objects.filter(client_id__in=client_ids_for_user(user)).select_related(
        "client", "customer", "queue", "assignee"
    )


def case_get(*, user, public_id) -> Case | None:
    """One case by public id if `user` may see it, else None (no existence oracle)."""
    return case_list(user=user).filter(public_id=public_id).first()


def case_timeline(*, case: Case, limit: int | None = None) -> QuerySet[CaseEvent]:
    """The case's timeline in order, with interactions and actors joined."""
    events = (
        CaseEvent.objects.filter(case=case)
        .select_related("interaction", "actor")
        .order_by("occurred_at", "id")
    )
    return events[:limit] if limit else events


def customer_find(*, client: Client, kind: str, value: str) -> Customer | None:
    """The customer owning an already-normalized identity in `client`, if any."""
    identity = (
        CustomerIdentity.objects.filter(client=client, kind=kind, value=value)
        .select_related("customer")
        .first()
    )
    return identity.customer if identity else None


def case_find_by_thread(
    *, client: Client, thread_keys: list[str], lock: bool = False, source: str = ""
) -> Case | None:
    """The unresolved case holding an interaction with one of `thread_keys`, newest first;
    `lock`: its row locked for the caller's transaction (still unresolved once locked).
    `source`: only interactions from that source (a chat platform's or a phone system's session
    and call ids are its own: two platforms of one client can number them alike)."""
    keys = [key for key in thread_keys if key]
    if not keys:
        return None
    if lock and len(keys) == 1 and source:  # a chat session, a call: the inbound hot path
        interaction = next(
            iter(_thread_case_locked(client_id=client.pk, thread_key=keys[0], source=source)), None
        )
    else:
        interactions = _by_thread(client.pk).with_thread_key(*keys)
        if source:
            interactions = interactions.filter(source=source)
        if lock:
            interactions = interactions.select_for_update(of=("case",))
        interaction = interactions.first()
    return interaction.case if interaction else None


def _by_thread(client_id: int) -> QuerySet[Interaction]:
    return (
        Interaction.objects.filter(client_id=client_id, case__status__in=UNRESOLVED_STATUSES)
        .select_related("case")
        .order_by("-occurred_at")
    )


@prepared_select
def _thread_case_locked(client_id: int, thread_key: str, source: str) -> QuerySet[Interaction]:
    return (
        _by_thread(client_id)
        .with_thread_key(thread_key)
        .filter(source=source)
        .select_for_update(of=("case",))[:1]
    )


def case_find_continuation(
    *, customer: Customer, at: datetime, window_hours: int, lock: bool = False
) -> Case | None:
    """The customer's unresolved case active within `window_hours` before `at`, newest first;
    `lock`: its row locked for the caller's transaction (still unresolved once locked)."""
    since = at - timedelta(hours=window_hours)
    if lock:
        return next(iter(_continuation_locked(customer_id=customer.pk, since=since)), None)
    return _continuation(customer.pk, since).first()


def _continuation(customer_id: int, since: datetime) -> QuerySet[Case]:
    return Case.objects.filter(
        customer_id=customer_id, status__in=UNRESOLVED_STATUSES, last_activity_at__gte=since
    ).order_by("-last_activity_at")


@prepared_select
def _continuation_locked(customer_id: int, since: datetime) -> QuerySet[Case]:
    return _continuation(customer_id, since).select_for_update()[:1]
