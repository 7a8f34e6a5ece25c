"""Reads of the connectors app, scoped and prefetched."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from cases import revisions
from cases.access import client_ids_for_user
from cases.models import Client, CustomerIdentity, Interaction, Queue
from config.prepared import prepared_select

from .choices import InboundStatus
from .models import Connector, InboundEvent, RoutingRule, WebhookDelivery, WebhookSubscription

ROUTING_REVISION = "routing"  # registered in ConnectorsConfig.ready()
SUBSCRIPTIONS_REVISION = "webhook_subscriptions"


def routing_revision_sql(outer: str):
    """The revision of a client's routing rules and queues (cases.revisions)."""
    return revisions.revision_sql(outer, (RoutingRule, None), (Queue, None))


def subscriptions_revision_sql(outer: str):
    """The revision of a client's webhook subscriptions (cases.revisions)."""
    return revisions.revision_sql(outer, (WebhookSubscription, None))


def connector_for_inbound(*, slug: str) -> Connector | None:
    """The connector of an inbound URL, with what ingestion needs joined, and the revisions of
    its client's configuration (routing rules, webhook subscriptions, SLA policies:
    cases.revisions), so that ingestion serves those from caches without reading them: one
    query."""
    return next(iter(_connector_by_slug(slug=slug)), None)


@prepared_select
def _connector_by_slug(slug: str) -> QuerySet[Connector]:
    # Compiled once (config.prepared). No ORDER BY: the slug is unique (the model's joins the
    # client).
    client_id = f'"{Connector._meta.db_table}"."client_id"'
    return (
        Connector.objects.select_related("client", "default_queue")
        .annotate(**revisions.annotations(client_id, reader="ingestion"))
        .filter(slug=slug)
        .order_by()[:1]
    )


def connector_list(*, user) -> QuerySet[Connector]:
    return Connector.objects.filter(client_id__in=client_ids_for_user(user)).select_related(
        "client", "default_queue"
    )


def connectors_with_health(queryset: QuerySet[Connector]) -> QuerySet[Connector]:
    """`queryset` with each connector's health: `last_event_at` (its latest inbound event) and
    `failed_events` (failed, awaiting replay). One indexed lookup each per connector
    (`inbound_connector_received`, `inbound_failed_by_connector`), however many events are kept."""
    events = InboundEvent.objects.filter(connector=OuterRef("pk")).order_by()
    return queryset.annotate(
        last_event_at=Subquery(events.order_by("-received_at").values("received_at")[:1]),
        failed_events=Coalesce(
            Subquery(
                events.filter(status=InboundStatus.FAILED)
                .values("connector")
                .annotate(count=Count("pk"))
                .values("count")
            ),
            0,
        ),
    )


def connectors_of_client(*, client_id: int) -> list[Connector]:
    return list(Connector.objects.filter(client_id=client_id).order_by("id"))


def identities_find_for_update(
    *, client: Client, identities: list[tuple[str, str]]
) -> list[CustomerIdentity]:
    """The identities among `identities` (normalized `(kind, value)`) known in `client`, with
    their customers, whose rows are locked (PostgreSQL) in customer order: a second message of
    the same customer waits here until the first one's case exists."""
    if len(identities) == 1:  # most messages name one sender identity: the hot path
        ((kind, value),) = identities
        return _identity_locked(client_id=client.pk, kind=kind, value=value)
    if len(identities) == 2:  # a chat visitor who gives an address
        (kind, value), (other_kind, other_value) = identities
        return _two_identities_locked(
            client_id=client.pk, kind=kind, value=value, other_kind=other_kind, other_value=other_value
        )
    condition = Q()
    for kind, value in identities:
        condition |= Q(kind=kind, value=value)
    if not condition:
        return []
    return list(_identities_locked(client.pk, condition))


def _identities_locked(client_id: int, condition: Q) -> QuerySet[CustomerIdentity]:
    return (
        CustomerIdentity.objects.filter(condition, client_id=client_id)
        .select_related("customer")
        .select_for_update(of=("customer",))
        .order_by("customer_id", "id")
    )


@prepared_select
def _identity_locked(client_id: int, kind: str, value: str) -> QuerySet[CustomerIdentity]:
    return _identities_locked(client_id, Q(kind=kind, value=value))


@prepared_select
def _two_identities_locked(
    client_id: int, kind: str, value: str, other_kind: str, other_value: str
) -> QuerySet[CustomerIdentity]:
    return _identities_locked(client_id, Q(kind=kind, value=value) | Q(kind=other_kind, value=other_value))


def routing_rules_for_client(*, client_id: int) -> list[RoutingRule]:
    """The client's active routing rules in order, each with its queue."""
    return list(
        RoutingRule.objects.filter(client_id=client_id, is_active=True)
        .select_related("queue")
        .order_by("order", "id")
    )


_routing_cache: revisions.RevisionCache[list[RoutingRule]] = revisions.RevisionCache(ROUTING_REVISION)
_subscriptions_cache: revisions.RevisionCache[list[WebhookSubscription]] = revisions.RevisionCache(
    SUBSCRIPTIONS_REVISION
)


def routing_rules_cached(*, client_id: int) -> list[RoutingRule]:
    """`routing_rules_for_client`, from the cache while the client's routing revision (as the
    request read it, else read now) is the cached one."""
    return _routing_cache.get(client_id, lambda: routing_rules_for_client(client_id=client_id))


def interaction_by_public_id(*, client_id: int, public_ids: list[str]) -> Interaction | None:
    return (
        Interaction.objects.filter(client_id=client_id, public_id__in=public_ids)
        .select_related("case")
        .order_by("-occurred_at")
        .first()
    )


def interaction_of_event(*, event: InboundEvent) -> Interaction | None:
    """The interaction a processed event produced (same connector source and external id)."""
    if not event.external_id:
        return None
    return (
        Interaction.objects.filter(
            client_id=event.client_id, source=event.connector.slug, external_id=event.external_id
        )
        .select_related("case")
        .first()
    )


def inbound_event_list(*, user) -> QuerySet[InboundEvent]:
    return InboundEvent.objects.filter(client_id__in=client_ids_for_user(user)).select_related(
        "connector", "client"
    )


_remembered: ContextVar[dict[frozenset[int], list[WebhookSubscription]] | None] = ContextVar(
    "accord_webhook_subscriptions", default=None
)


@contextmanager
def subscriptions_remembered() -> Iterator[None]:
    """Inside the block (one ingestion's transaction), read the clients' subscriptions once for
    all the events it publishes."""
    token = _remembered.set({})
    try:
        yield
    finally:
        _remembered.reset(token)


def _subscriptions_active(client_ids: set[int]) -> list[WebhookSubscription]:
    if len(client_ids) == 1:
        (client_id,) = client_ids
        return _subscriptions_cache.get(client_id, lambda: _subscriptions_read(client_ids), only_known=True)
    return _subscriptions_read(client_ids)


def _subscriptions_read(client_ids: set[int]) -> list[WebhookSubscription]:
    return list(
        WebhookSubscription.objects.filter(client_id__in=client_ids, is_active=True).only(
            "id", "client_id", "events"
        )
    )


def subscriptions_for(*, client_ids: set[int], event_type: str) -> list[WebhookSubscription]:
    """Active subscriptions of `client_ids` to `event_type` (paused ones too: their deliveries
    wait until they are resumed)."""
    remembered = _remembered.get()
    key = frozenset(client_ids)
    if remembered is not None and key in remembered:
        active = remembered[key]
    else:
        active = _subscriptions_active(set(client_ids))
        if remembered is not None:
            remembered[key] = active
    return [subscription for subscription in active if event_type in (subscription.events or [])]


def deliveries_due(*, now, grace_seconds: int, limit: int) -> list[int]:
    """Ids of pending deliveries that should be attempted now and that no sender holds: retries
    whose time has come, and first attempts whose task seems lost (older than the grace)."""
    from datetime import timedelta

    return list(
        WebhookDelivery.objects.filter(state="pending", next_attempt_at__lte=now)
        .filter(Q(attempts__gt=0) | Q(created_at__lte=now - timedelta(seconds=grace_seconds)))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(subscription__is_active=True, subscription__paused_at__isnull=True)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
