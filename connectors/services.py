"""Every write of the connectors app for connectors, ingestion and outbound replies.
Webhooks live in `connectors.webhooks`, alerts in `connectors.alerts`, IMAP in `connectors.imap`.

Ingestion (`inbound_receive`) guarantees:
- a message's first delivery is one transaction, one commit: its raw payload as an
  `InboundEvent` marked `processed`, then identity -> customer -> case -> interaction(s) and
  the tasks they enqueue; it commits whole, or rolls back and the raw payload is stored alone,
  `failed` with the error, replayable. No 2xx is answered before one of the two has committed,
  so a payload is never lost: the sender delivers again what was not acknowledged;
- a message is ingested once per connector: the event is unique on `(connector, external_id)`
  and the interaction on `(client, source, external_id)`; concurrent deliveries of the same
  message, or of two first messages of a new customer, yield one customer, case and row
  (identity unique constraint + retry, and the customer row locked while its case is found);
- a message found on its case by the interaction's key (its event deleted by the retention, or
  a concurrent delivery won) is answered as a duplicate, and opens no case;
- a payload batching several messages (WhatsApp) is ingested message by message, each as above
  with a raw event of its own;
- an automatic message (an out-of-office reply: `InboundMessage.automatic`) joins the case it
  belongs to, as the system's, or is stored `ignored` with the reason: it creates no customer
  and opens no case.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import secrets
import time
from contextlib import nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from cases import revisions
from cases import selectors as case_selectors
from cases import services as case_services
from cases.choices import (
    UNRESOLVED_STATUSES,
    AuthorKind,
    Channel,
    DeliveryStatus,
    Direction,
    IdentityKind,
    Priority,
)
from cases.models import Case, Client, Customer, Interaction, Queue
from config.bulk import rows_insert
from config.errors import ApplicationError
from config.tasks import task_enqueue, task_send

from . import adapters, outbound_http, selectors
from .adapters.base import InboundMessage, clip, digest
from .chat_queue import chat_session_settle
from .choices import ADAPTER_CHANNEL, AdapterKind, InboundStatus
from .models import Connector, InboundEvent
from .routing import Contact, Rule, route

logger = logging.getLogger(__name__)

# Set while a connector ingests: what it appends was delivered on the channel already, so the
# outbound-reply handler leaves it alone without a query.
_INGESTING: ContextVar[str] = ContextVar("accord_connector_ingesting", default="")


def _label(connector: Connector) -> str:
    return f"connector:{connector.slug}"


# --- Connectors --------------------------------------------------------------------------------


def secret_generate() -> str:
    return "acs_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SecretIssued:
    """A connector (or subscription) with its new secret: show it once, then drop it."""

    obj: Any
    secret: str


def _connector_validate(connector: Connector) -> None:
    from django.core.exceptions import ValidationError

    try:
        connector.full_clean(exclude=["signing_secret", "client", "default_queue"])
        connector.clean()
    except ValidationError as exc:
        raise ApplicationError(
            "The connector is not valid.",
            field_errors={key: [str(m) for m in messages] for key, messages in exc.message_dict.items()},
        ) from exc


@transaction.atomic
def connector_create(
    *,
    client: Client,
    name: str,
    slug: str,
    adapter: str,
    default_queue: Queue,
    settings_data: dict | None = None,
    imap_password: str = "",
    is_active: bool = True,
    actor: Any = None,
) -> SecretIssued:
    """Create a connector with a fresh signing secret, returned once in the result."""
    if adapter not in AdapterKind.values:
        raise ApplicationError.for_field("adapter", f"Unknown adapter {adapter!r}.")
    if Connector.objects.filter(slug=slug).exists():
        raise ApplicationError.for_field("slug", f"A connector {slug!r} already exists.")
    secret = secret_generate()
    connector = Connector(
        client=client,
        name=name,
        slug=slug,
        channel=ADAPTER_CHANNEL[adapter],
        adapter=adapter,
        default_queue=default_queue,
        signing_secret=secret,
        settings=settings_data or {},
        credentials={"imap_password": imap_password} if imap_password else {},
        is_active=is_active,
    )
    _connector_validate(connector)
    connector._change_reason = "created"
    connector.save()
    return SecretIssued(connector, secret)


@transaction.atomic
def connector_update(
    *, connector: Connector, actor: Any = None, imap_password: str | None = None, reason: str = "edited"
) -> Connector:
    """Save edits made to `connector` (admin form); the adapter decides the channel. A new IMAP
    password replaces the stored one; None keeps it."""
    connector.channel = ADAPTER_CHANNEL.get(connector.adapter, connector.channel)
    _connector_validate(connector)
    if imap_password:
        connector.credentials = {**(connector.credentials or {}), "imap_password": imap_password}
    connector._change_reason = reason
    connector.save()
    return connector


@transaction.atomic
def connector_secret_rotate(
    *, connector: Connector, actor: Any = None, grace_hours: int | None = None
) -> SecretIssued:
    """Issue a new signing secret. The current one stays valid for `grace_hours` (setting
    ACCORD_CONNECTOR_SECRET_GRACE_HOURS) so senders can switch without losing a message."""
    connector = Connector.objects.select_for_update().get(pk=connector.pk)
    hours = settings.ACCORD_CONNECTOR_SECRET_GRACE_HOURS if grace_hours is None else grace_hours
    now = timezone.now()
    secret = secret_generate()
    connector.previous_signing_secret = connector.signing_secret
    connector.previous_secret_expires_at = now + timedelta(hours=hours)
    connector.signing_secret = secret
    connector.secret_rotated_at = now
    connector._change_reason = f"signing secret rotated (previous valid {hours} h)"
    connector.save()
    return SecretIssued(connector, secret)


def connector_secrets(connector: Connector, *, now: datetime) -> list[str]:
    """The secrets a request may be signed with now: current, and previous during rotation."""
    valid = [connector.signing_secret]
    if (
        connector.previous_signing_secret
        and connector.previous_secret_expires_at
        and connector.previous_secret_expires_at > now
    ):
        valid.append(connector.previous_signing_secret)
    return valid


# --- Ingestion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiveResult:
    """What became of one payload; `http_status` is what the endpoint answers."""

    outcome: str  # processed | duplicate | ignored | failed
    http_status: int
    detail: str
    event: InboundEvent | None = None
    case: Case | None = None
    interaction: Interaction | None = None
    errors: dict[str, list[str]] | None = None
    # A payload batching several messages: each one's own result, in order.
    parts: tuple[ReceiveResult, ...] = ()


def inbound_receive(
    *,
    connector: Connector,
    raw: bytes,
    content_type: str = "",
    via: str = "webhook",
    now: datetime | None = None,
) -> ReceiveResult:
    """Store `raw` as an InboundEvent and ingest its message exactly once (see module doc).
    Never called inside another transaction: a failure's raw event must commit after the
    rollback of what it tried."""
    now = now or timezone.now()
    try:
        messages = adapters.parse_all(connector.adapter, raw, content_type, now=now)
    except adapters.AdapterError as exc:
        event = _raw_event(connector, raw, content_type, via)
        event.status, event.error = InboundStatus.FAILED, f"{exc.field}: {exc.message}"
        event.save()
        return ReceiveResult("failed", 400, exc.message, event=event, errors={exc.field: [exc.message]})
    if not messages:
        # Keyed by the payload's digest: a re-delivered receipt is not stored twice. Receipts for
        # replies sent move those replies' delivery state, with the event.
        receipts = adapters.receipts(connector.adapter, raw, content_type)
        changed = 0
        try:
            with transaction.atomic():
                event = _raw_event(connector, raw, content_type, via, external_id=digest(raw))
                event.status, event.processed_at = InboundStatus.IGNORED, now
                event.save()
                changed = delivery_receipts_apply(client_id=connector.client_id, receipts=receipts)
        except IntegrityError:
            event = InboundEvent.objects.get(connector=connector, external_id=digest(raw))
        detail = "The payload carries no message; nothing to ingest."
        if changed:
            detail += f" Delivery state of {changed} reply(ies) updated."
        return ReceiveResult("ignored", 202, detail, event=event)
    # A webhook mixing messages with statuses (WhatsApp): the statuses apply as well, in a
    # transaction of their own (forward only, so a re-delivery applies them harmlessly).
    receipts = (
        adapters.receipts(connector.adapter, raw, content_type)
        if connector.adapter in adapters.BATCH_PARSERS
        else []
    )
    if receipts:
        with transaction.atomic():
            delivery_receipts_apply(client_id=connector.client_id, receipts=receipts)
    if len(messages) == 1:
        return _receive_message(connector, raw, content_type, via, messages[0], now)
    return _batch_result([_receive_message(connector, raw, content_type, via, m, now) for m in messages])


def _receive_message(
    connector: Connector, raw: bytes, content_type: str, via: str, message: InboundMessage, now: datetime
) -> ReceiveResult:
    """One message of a payload, exactly once: its first delivery, a re-delivery (answered as a
    duplicate), or the retry of one kept failed. A message of a batch is one like any other:
    its own raw event (holding the whole payload), keyed by its own id, its own transaction."""
    try:
        return _receive_fresh(connector, raw, content_type, via, message, now)
    except _DeliveredBefore:
        event = InboundEvent.objects.get(connector=connector, external_id=message.external_id)
        event.connector = connector
        if event.status in (InboundStatus.PROCESSED, InboundStatus.IGNORED):
            return _duplicate(event)
    # Kept failed (or left received by an older release): this delivery is its retry.
    return _process(connector, event, message, recheck=True, now=now)


def _batch_result(parts: list[ReceiveResult]) -> ReceiveResult:
    """The answer for a payload batching several messages: the first failure if one failed (the
    sender delivers the batch again: what was ingested is then a duplicate), else what was
    ingested. `parts` keeps each message's own answer."""
    failed = next((part for part in parts if part.outcome == "failed"), None)
    if failed is not None:
        detail = f"Message {parts.index(failed) + 1} of {len(parts)}: {failed.detail}"
        return dataclasses.replace(failed, detail=detail, parts=tuple(parts))
    processed = sum(part.outcome == "processed" for part in parts)
    if processed == len(parts):
        detail = f"Ingested {processed} messages."
    elif processed:
        detail = f"Ingested {processed} of {len(parts)} messages; the others were already ingested."
    else:
        detail = f"These {len(parts)} messages were already ingested; nothing changed."
    first = parts[0]
    return ReceiveResult(
        "processed" if processed else "duplicate",
        201 if processed else 200,
        detail,
        event=first.event,
        case=first.case,
        interaction=first.interaction,
        parts=tuple(parts),
    )


class _DeliveredBefore(Exception):
    """The message's event exists already: a re-delivery, or a concurrent one that won."""


def _receive_fresh(
    connector: Connector, raw: bytes, content_type: str, via: str, message: InboundMessage, now: datetime
) -> ReceiveResult:
    """A message seen for the first time: its raw event, already marked processed, and all it
    ingests in one transaction, one commit. The event's unique key makes a concurrent delivery
    of the same message wait on this transaction, then find the event (`_DeliveredBefore`).
    Should ingestion fail, the transaction rolls back whole and the raw event is stored alone,
    failed with the error, for replay; should the process die before either commits, the sender
    has had no 2xx and delivers again. Nothing accepted is lost."""
    event = _raw_event(connector, raw, content_type, via, external_id=message.external_id)
    event.status, event.processed_at = InboundStatus.PROCESSED, now
    inserted = False
    try:
        with transaction.atomic():
            rows_insert(InboundEvent, [event])
            inserted = True
            ingested = _ingest_guarded(connector, message)
    except IntegrityError as exc:
        if not inserted:
            raise _DeliveredBefore from exc
        return _failed_fresh(connector, raw, content_type, via, message, exc)
    except NotIngested as exc:
        return _ignored_fresh(connector, raw, content_type, via, message, exc.reason, now)
    except Exception as exc:
        return _failed_fresh(connector, raw, content_type, via, message, exc)
    return _ingested_result(event, ingested)


class NotIngested(Exception):
    """A valid message Accord keeps no interaction of (an automatic reply that joins no case):
    its raw event is stored `ignored`, with `reason`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Ingested(NamedTuple):
    case: Case
    interaction: Interaction
    # False: the interaction's own key found the message on its case already (its event row
    # had gone with the retention, or another delivery won); nothing was appended.
    appended: bool


def _ingested_result(event: InboundEvent, ingested: _Ingested) -> ReceiveResult:
    if not ingested.appended:
        return _duplicate_answer(event, ingested.case, ingested.interaction)
    return ReceiveResult(
        "processed", 201, "Ingested.", event=event, case=ingested.case, interaction=ingested.interaction
    )


def _ingest_guarded(connector: Connector, message: InboundMessage) -> _Ingested:
    """`_ingest` with the caches that hold for one message: webhook subscriptions and the
    configuration revisions read with the connector."""
    with (
        selectors.subscriptions_remembered(),
        revisions.known_from(connector, client_id=connector.client_id),
    ):
        return _ingest(connector, message)


def _failure(exc: Exception, event_pk: int | None) -> tuple[str, ReceiveResult]:
    """The stored error text and the answer for an ingestion that raised `exc`."""
    if isinstance(exc, ApplicationError):
        errors = exc.field_errors or None
        stored = exc.message + (f" {json.dumps(errors)}" if errors else "")
        return stored, ReceiveResult("failed", 422, exc.message, errors=errors)
    logger.exception("Ingestion of inbound event %s failed", event_pk or "(new)", exc_info=exc)
    return f"{type(exc).__name__}: {exc}", ReceiveResult(
        "failed", 500, "The message could not be processed; it is kept for replay."
    )


def _failed_fresh(
    connector: Connector, raw: bytes, content_type: str, via: str, message: InboundMessage, exc: Exception
) -> ReceiveResult:
    """Store the raw event of a first delivery that failed, failed with its error (replayable).
    A concurrent delivery that stored it meanwhile keeps its row."""
    stored, result = _failure(exc, None)
    event = _raw_event(connector, raw, content_type, via, external_id=message.external_id)
    event.status, event.error = InboundStatus.FAILED, stored[:5000]
    return dataclasses.replace(result, event=_stored_alone(connector, event))


def _ignored_fresh(
    connector: Connector,
    raw: bytes,
    content_type: str,
    via: str,
    message: InboundMessage,
    reason: str,
    now: datetime,
) -> ReceiveResult:
    """Store the raw event of a first delivery Accord does not ingest, ignored with the reason."""
    event = _raw_event(connector, raw, content_type, via, external_id=message.external_id)
    event.status, event.error, event.processed_at = InboundStatus.IGNORED, reason[:5000], now
    return ReceiveResult("ignored", 202, reason, event=_stored_alone(connector, event))


def _stored_alone(connector: Connector, event: InboundEvent) -> InboundEvent:
    """Insert `event` after its ingestion rolled back; a concurrent delivery that stored it
    meanwhile keeps its row (returned)."""
    try:
        # In autocommit (production) the INSERT commits by itself; inside a caller's transaction
        # (a test's), a savepoint keeps a refused INSERT from spoiling it.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            rows_insert(InboundEvent, [event])
    except IntegrityError:
        event = InboundEvent.objects.get(connector=connector, external_id=event.external_id)
    return event


def _raw_event(
    connector: Connector, raw: bytes, content_type: str, via: str, external_id: str = ""
) -> InboundEvent:
    """The (unsaved) row of a payload as received: received, unless the caller says otherwise."""
    return InboundEvent(
        client_id=connector.client_id,
        connector=connector,
        via=via,
        external_id=external_id,
        content_type=content_type[:120],
        payload=raw,
    )


def _duplicate(event: InboundEvent) -> ReceiveResult:
    if event.status == InboundStatus.IGNORED and event.error:  # received before, not ingested
        return ReceiveResult(
            "duplicate", 200, f"This message was received before; nothing changed. {event.error}", event=event
        )
    interaction = selectors.interaction_of_event(event=event)
    return _duplicate_answer(event, interaction.case if interaction else None, interaction)


def _duplicate_answer(
    event: InboundEvent, case: Case | None, interaction: Interaction | None
) -> ReceiveResult:
    return ReceiveResult(
        "duplicate",
        200,
        "This message was already ingested; nothing changed.",
        event=event,
        case=case,
        interaction=interaction,
    )


def _process(
    connector: Connector,
    event: InboundEvent,
    message: InboundMessage,
    *,
    recheck: bool,
    now: datetime,
    claimable: tuple[str, str] = (InboundStatus.RECEIVED, InboundStatus.FAILED),
) -> ReceiveResult:
    """Ingest the message of an event stored before (failed, or a replay)."""
    try:
        with transaction.atomic():
            # Claim the event first: the UPDATE locks its row, so a concurrent delivery (or a
            # replay) of the same message waits here, then finds it processed and stops.
            if not _event_claim(event, now, counted=recheck, claimable=claimable):
                return _duplicate(event)
            ingested = _ingest_guarded(connector, message)
    except NotIngested as exc:
        InboundEvent.objects.filter(pk=event.pk).exclude(status=InboundStatus.PROCESSED).update(
            status=InboundStatus.IGNORED, processed_at=now, error=exc.reason[:5000]
        )
        return ReceiveResult("ignored", 202, exc.reason, event=event)
    except Exception as exc:
        stored, result = _failure(exc, event.pk)
        _event_fail(event, stored, counted=recheck)
        return dataclasses.replace(result, event=event)
    return _ingested_result(event, ingested)


_CLAIM_FIELDS = ("id", "status", "processed_at", "error", "attempts")


@functools.cache
def _claim_sql() -> str:
    """The claim's UPDATE as text built once (the ORM compiled it anew for every event, about 5%
    of an ingested event's time); the same text each time, PostgreSQL keeps it prepared (0007)."""
    quote = connection.ops.quote_name
    column = {name: quote(InboundEvent._meta.get_field(name).column) for name in _CLAIM_FIELDS}
    return (
        f"UPDATE {quote(InboundEvent._meta.db_table)} SET {column['status']} = %s, "
        f"{column['processed_at']} = %s, {column['error']} = %s, "
        f"{column['attempts']} = {column['attempts']} + %s "
        f"WHERE {column['id']} = %s AND {column['status']} IN (%s, %s)"
    )


def _event_claim(
    event: InboundEvent,
    now: datetime,
    *,
    counted: bool,
    claimable: tuple[str, str] = (InboundStatus.RECEIVED, InboundStatus.FAILED),
) -> bool:
    """Mark `event` processed if it is received or failed (True), else nothing (False): the row
    stays locked by the caller's transaction, so a concurrent delivery of the same message waits
    for it, then finds it processed. `counted`: one more attempt (a retry or replay).
    `claimable`: the two statuses it is taken from."""
    processed_at = InboundEvent._meta.get_field("processed_at").get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            _claim_sql(),
            [
                InboundStatus.PROCESSED.value,
                processed_at,
                "",
                1 if counted else 0,
                event.pk,
                *(str(status) for status in claimable),
            ],
        )
        return cursor.rowcount > 0


def _event_fail(event: InboundEvent, error: str, *, counted: bool) -> None:
    InboundEvent.objects.filter(pk=event.pk).exclude(status=InboundStatus.PROCESSED).update(
        status=InboundStatus.FAILED, error=error[:5000], attempts=F("attempts") + (1 if counted else 0)
    )


def _normalized_identities(client: Client, message: InboundMessage) -> list[tuple[str, str]]:
    if not message.identities:
        raise ApplicationError.for_field("identity", "The message names no sender.")
    result: list[tuple[str, str]] = []
    for position, identity in enumerate(message.identities):
        try:
            value = case_services.identity_normalize(client=client, kind=identity.kind, value=identity.value)
        except ApplicationError as exc:
            if position == 0:
                raise ApplicationError.for_field(f"identity.{identity.kind}", exc.message) from exc
            continue  # a secondary identity that does not parse is dropped, not fatal
        if (identity.kind, value) not in result:
            result.append((identity.kind, value))
    return result


def _customer_resolve(
    client: Client, identities: list[tuple[str, str]], message: InboundMessage, label: str
) -> tuple[Customer | None, bool]:
    """The customer owning any of `identities` (locked), or a new one: none for an automatic
    message (a program writing is no one's first contact). Returns (customer, new)."""
    rows = selectors.identities_find_for_update(client=client, identities=identities)
    if not rows and message.automatic:
        return None, False
    if not rows:
        try:
            customer = case_services.customer_create(
                client=client,
                display_name=message.display_name,
                identities=identities,
                language=(message.language or "en")[:12],
                actor=label,
            )
            return customer, True
        except ApplicationError:
            # A concurrent first message of the same person created them: theirs is the one.
            rows = selectors.identities_find_for_update(client=client, identities=identities)
            if not rows:
                raise
    by_key = {(row.kind, row.value): row for row in rows}
    customer = next(by_key[key].customer for key in identities if key in by_key)
    customer.client = client  # found within `client`: adding an identity reads no client
    for kind, value in identities:
        if (kind, value) not in by_key:
            try:
                case_services.identity_add(customer=customer, kind=kind, value=value, actor=label)
            except ApplicationError:
                # Another customer has it: two people or one to merge; never merged silently.
                logger.info(
                    "Identity %s:%s of customer %s belongs to another customer", kind, value, customer.pk
                )
    return customer, False


_OWN_MESSAGE_ID = re.compile(r"^accord\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})@")


def _case_find(
    connector: Connector, customer: Customer | None, new_customer: bool, message: InboundMessage
) -> tuple[Case | None, bool]:
    """The case the message joins, and whether its row is locked already (read FOR UPDATE)."""
    client = connector.client
    if message.thread_refs:
        # E-mail threads cross mailboxes (a Message-ID is the world's); any other channel's
        # thread ids are its platform's own.
        source = "" if message.channel == Channel.EMAIL else connector.slug
        case = case_selectors.case_find_by_thread(
            client=client, thread_keys=list(message.thread_refs), lock=True, source=source
        )
        if case is not None:
            return case, True
        own = [m.group(1) for ref in message.thread_refs if (m := _OWN_MESSAGE_ID.match(ref))]
        if own:
            replied = selectors.interaction_by_public_id(client_id=client.pk, public_ids=own)
            if replied is not None and replied.case.status in UNRESOLVED_STATUSES:
                return replied.case, False
    if new_customer or customer is None:
        return None, False
    case = case_selectors.case_find_continuation(
        customer=customer,
        at=message.occurred_at,
        window_hours=client.continuation_window_hours,
        lock=True,
    )
    return case, case is not None


def _case_opening(
    connector: Connector, customer: Customer, message: InboundMessage, label: str
) -> case_services.CaseOpening:
    """The case a message with no case to join opens: routed by the client's rules, else to the
    connector's default queue."""
    rows = selectors.routing_rules_cached(client_id=connector.client_id)
    queues = {row.queue_id: row.queue for row in rows}
    rules = [
        Rule(
            rule_id=row.pk,
            queue_id=row.queue_id,
            priority=row.priority,
            channels=frozenset(row.channels or []),
            keywords=tuple(row.keywords or []),
            segments=frozenset(row.segments or []),
            vip=row.vip,
            languages=frozenset(row.languages or []),
        )
        for row in rows
    ]
    contact = Contact(
        channel=message.channel,
        subject=message.subject,
        body=message.body,
        segment=customer.segment,
        is_vip=customer.is_vip,
        language=message.language or customer.language,
    )
    chosen = route(rules, contact)
    if chosen is None:
        queue, priority, reason = connector.default_queue, Priority.NORMAL, f"opened by {label}"
    else:
        queue, priority = queues[chosen.queue_id], chosen.priority
        reason = f"opened by {label}, routed by rule {chosen.rule_id}"
    channel_label = Channel(message.channel).label
    subject = clip(message.subject, 300) or clip(message.body, 120) or f"{channel_label} contact"
    return case_services.CaseOpening(
        customer=customer,
        queue=queue,
        subject=subject,
        channel=message.channel,
        priority=priority,
        opened_at=message.occurred_at,
        reason=reason,
    )


def _bare_address(value: str) -> str:
    """The address of a From setting, which may carry a display name ("Acme <support@acme>")."""
    return parseaddr(str(value))[1].lower()


def _own_mail(connector: Connector, message: InboundMessage) -> str:
    """Why an inbound e-mail is Accord's own, come back (a reply copied to the support mailbox,
    an alert sent to it): "" when it is not. Ingesting it would make Accord a customer of itself."""
    if message.channel != Channel.EMAIL:
        return ""
    if _OWN_MESSAGE_ID.match(message.external_id):
        return "Accord's own reply came back"
    sender = str(message.metadata.get("from") or "").lower()
    own = {
        _bare_address(settings.DEFAULT_FROM_EMAIL),
        _bare_address((connector.settings or {}).get("from_address") or ""),
    }
    if sender and sender in own:
        return f"sent from Accord's own address {sender}"
    return ""


def _ingest(connector: Connector, message: InboundMessage) -> _Ingested:
    own = _own_mail(connector, message)
    if own:
        raise NotIngested(f"Not ingested: {own}.")
    if message.automatic and (connector.settings or {}).get("ingest_automatic") is True:
        # A mailbox that takes a web form's or a monitoring system's mail: the customer's.
        message = dataclasses.replace(message, automatic="", author_kind=AuthorKind.CUSTOMER)
    client = connector.client
    label = _label(connector)
    identities = _normalized_identities(client, message)
    customer, new_customer = _customer_resolve(client, identities, message, label)
    case, locked = _case_find(connector, customer, new_customer, message)
    if case is None and message.automatic:
        raise NotIngested(
            f"An automatic message ({message.automatic}) with no case to join: kept as received, "
            "not ingested (it opens no case)."
        )
    token = _INGESTING.set(connector.slug)
    try:
        who = f"{label} ({message.actor_label})"[:120] if message.actor_label else label
        if (
            case is None
            and message.direction == Direction.INBOUND
            and message.author_kind == AuthorKind.CUSTOMER
        ):
            case, interaction, appended = _open_with_message(connector, customer, message, label)
            locked = appended  # opened here; else the case of a delivery that won, not locked
        else:
            if case is None:
                taken = _message_taken(connector, message)
                if taken is not None:  # already on its case: opening one would leave it empty
                    return _Ingested(taken.case, taken, appended=False)
                opening = _case_opening(connector, customer, message, label)
                case = case_services.case_open(client=client, actor=label, **vars(opening))
                locked = True  # opened in this transaction: no one else sees the row
            result = case_services.interaction_append(
                case=case,
                channel=message.channel,
                direction=message.direction,
                author_kind=message.author_kind,
                body=message.body,
                occurred_at=message.occurred_at,
                actor=case_services.Actor(label=who),
                source=connector.slug,
                external_id=message.external_id,
                thread_key=message.thread_key,
                metadata=message.metadata,
                case_locked=locked,
            )
            interaction, appended = result.interaction, result.created
        if appended and message.files:
            case_services.attachments_keep(
                interaction=interaction,
                files=[
                    case_services.AttachmentFile(position, file.filename, file.content_type, file.content)
                    for position, file in enumerate(message.files)
                ],
            )
        # A call's answer, after the call: on the same row, locked and written through `case`
        # when `locked` (else the first append locked a copy of its own, and so does each here).
        for follow_up in message.follow_ups:
            case_services.interaction_append(
                case=case,
                channel=message.channel,
                direction=follow_up.direction,
                author_kind=follow_up.author_kind,
                body=follow_up.body,
                occurred_at=follow_up.occurred_at,
                actor=case_services.Actor(label=follow_up.actor_label or label),
                source=connector.slug,
                external_id=follow_up.external_id,
                thread_key=message.thread_key,
                metadata=follow_up.metadata,
                case_locked=locked,
            )
    finally:
        _INGESTING.reset(token)
    if message.channel == Channel.CHAT:
        chat_session_settle(case=case, source=connector.slug, message=message)
    return _Ingested(case, interaction, appended)


def _message_taken(connector: Connector, message: InboundMessage) -> Interaction | None:
    """The interaction that already holds the message (by its key), with its case."""
    if not message.external_id:  # no key: the interactions' unique constraint leaves these out
        return None
    return (
        Interaction.objects.filter(
            client_id=connector.client_id, source=connector.slug, external_id=message.external_id
        )
        .select_related("case")
        .first()
    )


def _open_with_message(
    connector: Connector, customer: Customer, message: InboundMessage, label: str
) -> _Ingested:
    """Open the case with the customer's message in one go. Should the message have been taken
    meanwhile (a concurrent delivery won), nothing of this opening stays: the case that took it
    is the answer."""
    opening = _case_opening(connector, customer, message, label)
    first = case_services.OpeningMessage(
        body=message.body,
        occurred_at=message.occurred_at,
        source=connector.slug,
        external_id=message.external_id,
        thread_key=message.thread_key,
        metadata=message.metadata,
    )
    try:  # the service's own savepoint undoes the opening should the message be taken
        case, interaction = case_services.case_open_with_message(
            client=connector.client, opening=opening, message=first, actor=label
        )
    except IntegrityError:
        taken = _message_taken(connector, message)
        if taken is None:
            raise
        return _Ingested(taken.case, taken, appended=False)
    return _Ingested(case, interaction, appended=True)


def inbound_event_replay(*, event: InboundEvent, actor: Any = None) -> ReceiveResult:
    """Process a failed (or stuck received) event again from its stored raw payload, once the
    cause is fixed. A processed or ignored event is left alone."""
    event = InboundEvent.objects.select_related(
        "connector", "connector__client", "connector__default_queue"
    ).get(pk=event.pk)
    if event.status in (InboundStatus.PROCESSED, InboundStatus.IGNORED):
        raise ApplicationError(f"Event {event.pk} is {event.status}; only failed events are replayed.")
    connector = event.connector
    now = timezone.now()
    raw = bytes(event.payload)
    try:
        messages = adapters.parse_all(connector.adapter, raw, event.content_type, now=now)
    except adapters.AdapterError as exc:
        _event_fail(event, f"{exc.field}: {exc.message}", counted=True)
        return ReceiveResult("failed", 400, exc.message, event=event, errors={exc.field: [exc.message]})
    if not messages:
        InboundEvent.objects.filter(pk=event.pk).update(
            status=InboundStatus.IGNORED, processed_at=now, error=""
        )
        return ReceiveResult("ignored", 202, "No message in the payload.", event=event)
    if event.external_id and len(messages) > 1:  # one message of the batch is this event's
        message = next((m for m in messages if m.external_id == event.external_id), None)
        if message is None:
            detail = f"The payload no longer reads as message {event.external_id!r}."
            _event_fail(event, detail, counted=True)
            return ReceiveResult("failed", 422, detail, event=event)
        return _process(connector, event, message, recheck=True, now=now)
    if len(messages) > 1:
        # A batch that could not be read before: its messages are delivered anew, each with an
        # event of its own (or found ingested); this one has become them.
        parts = [_receive_message(connector, raw, event.content_type, event.via, m, now) for m in messages]
        InboundEvent.objects.filter(pk=event.pk).update(
            status=InboundStatus.PROCESSED,
            processed_at=now,
            error=f"split into the events of its {len(messages)} messages",
            attempts=F("attempts") + 1,
        )
        return dataclasses.replace(_batch_result(parts), event=event)
    (message,) = messages
    if not event.external_id:
        try:
            # A payload that failed to parse before has no key yet: claim it (or find the
            # message already ingested through a later delivery).
            with transaction.atomic():
                InboundEvent.objects.filter(pk=event.pk).update(external_id=message.external_id)
        except IntegrityError:
            InboundEvent.objects.filter(pk=event.pk).update(
                status=InboundStatus.PROCESSED, processed_at=now, error="superseded by a later delivery"
            )
            return ReceiveResult(
                "duplicate", 200, "A later delivery of this message was ingested.", event=event
            )
    return _process(connector, event, message, recheck=True, now=now)


REPLAYABLE = (InboundStatus.FAILED, InboundStatus.RECEIVED)


def inbound_event_take_as_customer(*, event: InboundEvent, actor: Any = None) -> ReceiveResult:
    """Ingest an automatic message that was kept aside (an ignored event: say a web form's mail
    taken for an auto-reply) as the customer's: it joins or opens a case like any message of
    theirs. Any other event is refused, with why."""
    event = InboundEvent.objects.select_related(
        "connector", "connector__client", "connector__default_queue"
    ).get(pk=event.pk)
    connector = event.connector
    now = timezone.now()
    message = None
    if event.status == InboundStatus.IGNORED:
        try:
            messages = adapters.parse_all(
                connector.adapter, bytes(event.payload), event.content_type, now=now
            )
        except adapters.AdapterError:
            messages = []
        message = next((m for m in messages if m.external_id == event.external_id and m.automatic), None)
    if message is None:
        raise ApplicationError(
            f"Event {event.pk} is not an automatic message kept aside; only those are taken as the "
            "customer's."
        )
    message = dataclasses.replace(message, automatic="", author_kind=AuthorKind.CUSTOMER)
    ignored = InboundStatus.IGNORED.value
    return _process(connector, event, message, recheck=True, now=now, claimable=(ignored, ignored))


@dataclass(frozen=True)
class ReplaySummary:
    """What replaying a set of events did; `failed` holds (event id, why) in id order."""

    replayed: int
    failed: list[tuple[int, str]]
    skipped: int


def inbound_events_replay(*, event_ids: list[int], actor: Any = None) -> ReplaySummary:
    """Replay the failed (or stuck received) events among `event_ids`, oldest first, each in its
    own transaction (`inbound_event_replay`); the others are skipped. Safe to run twice: an event
    replayed meanwhile is processed, and skipped."""
    replayed, failed, skipped = 0, [], 0
    for event in InboundEvent.objects.filter(pk__in=event_ids).only("pk", "status").order_by("pk"):
        if event.status not in REPLAYABLE:
            skipped += 1
            continue
        try:
            result = inbound_event_replay(event=event, actor=actor)
        except ApplicationError as exc:
            failed.append((event.pk, exc.message))
            continue
        if result.outcome == "failed":
            failed.append((event.pk, result.detail))
        else:
            replayed += 1
    return ReplaySummary(replayed, failed, skipped)


# --- Outbound replies --------------------------------------------------------------------------


def reply_send(*, case: Case, body: str, actor: Any, channel: str | None = None) -> Interaction:
    """An agent's public reply on `channel` (default: the case's current channel). It is
    appended to the timeline now and delivered through that channel's connector by a task
    after commit; its delivery state (queued -> sent | failed) shows on the interaction."""
    if not (body or "").strip():
        raise ApplicationError.for_field("body", "Write the reply.")
    return case_services.interaction_append(
        case=case,
        channel=channel or case.current_channel,
        direction=Direction.OUTBOUND,
        author_kind=AuthorKind.AGENT,
        author=actor if not isinstance(actor, str) else None,
        actor=actor,
        body=body.strip(),
        source="ui",
    ).interaction


def _reply_connector(interaction: Interaction, connectors: list[Connector]) -> Connector | None:
    """The connector an outbound interaction leaves through: the active connector of its channel
    the customer last wrote through on this case, else the first one of the channel."""
    candidates = [
        c
        for c in connectors
        if c.is_active and c.channel == interaction.channel and c.channel != Channel.VOICE
        and (c.channel == Channel.EMAIL or (c.settings or {}).get("delivery_url"))
    ]  # fmt: skip
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    slugs = {c.slug: c for c in candidates}
    last = (
        Interaction.objects.filter(
            case_id=interaction.case_id, direction=Direction.INBOUND, source__in=list(slugs)
        )
        .order_by("-occurred_at", "-id")
        .values_list("source", flat=True)
        .first()
    )
    return slugs.get(last) or candidates[0]


def on_interaction_appended(event) -> None:
    """In the appending transaction: an agent's outbound message not recorded by a connector is
    marked `queued` (so a lost task is found again) and its delivery task enqueued (config.tasks)."""
    if event.direction != Direction.OUTBOUND or event.author_kind != AuthorKind.AGENT or _INGESTING.get():
        return
    interaction = Interaction.objects.get(pk=event.interaction_id)
    if interaction.delivery_status:
        return
    connectors = selectors.connectors_of_client(client_id=event.client_id)
    if interaction.source in {c.slug for c in connectors}:
        return  # delivered on the channel already (a chat platform's agent message, a call answer)
    if _reply_connector(interaction, connectors) is None:
        return
    case_services.interaction_delivery_set(interaction=interaction, delivery_status=DeliveryStatus.QUEUED)
    reply_enqueue(interaction.pk)


REPLY_TASK = "connectors.tasks.reply_deliver_task"


def reply_enqueue(interaction_id: int) -> None:
    """The delivery task of a queued reply: in the transaction on the ORM broker, else after
    commit (config.tasks); a lost one is found again by `replies_resend_stale`."""
    task_enqueue(REPLY_TASK, interaction_id, task_name=f"reply-{interaction_id}")


class DeliveryError(Exception):
    pass


def _email_reply(connector: Connector, interaction: Interaction) -> str:
    case = interaction.case
    last_email = (
        Interaction.objects.filter(case=case, channel=Channel.EMAIL, direction=Direction.INBOUND)
        .order_by("-occurred_at", "-id")
        .first()
    )
    meta = last_email.metadata if last_email else {}
    recipient = meta.get("reply_to") or meta.get("from")
    if not recipient:
        recipient = (
            case.customer.identities.filter(kind=IdentityKind.EMAIL)
            .order_by("id")
            .values_list("value", flat=True)
            .first()
        )
    if not recipient:
        raise DeliveryError("The customer has no e-mail address.")
    from_address = (connector.settings or {}).get("from_address") or settings.DEFAULT_FROM_EMAIL
    domain = _bare_address(from_address).rpartition("@")[2] or "accord.invalid"
    headers = {"Message-ID": f"<accord.{interaction.public_id}@{domain}>"}
    if last_email is not None and last_email.thread_key:
        parent = last_email.thread_key
        references = [*meta.get("references", []), parent]
        headers["In-Reply-To"] = f"<{parent}>"
        headers["References"] = " ".join(f"<{ref}>" for ref in dict.fromkeys(references))
    subject = meta.get("subject") or case.subject
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    copied = _reply_copies(meta, recipient, from_address)
    EmailMessage(
        subject=subject,
        body=interaction.body,
        from_email=from_address,
        to=[recipient],
        cc=copied,
        headers=headers,
    ).send()
    return f"e-mailed to {recipient}" + (f", copied to {', '.join(copied)}" if copied else "")


def _reply_copies(meta: dict, recipient: str, from_address: str) -> list[str]:
    """Whom the customer's last e-mail copied (Cc): the reply copies them too, as "reply all"
    does, but for the support addresses the mail was sent to and Accord's own."""
    ours = {_bare_address(from_address), _bare_address(settings.DEFAULT_FROM_EMAIL), recipient.lower()}
    ours.update(str(address).lower() for address in meta.get("to") or [])
    result: list[str] = []
    for address in meta.get("cc") or []:
        if isinstance(address, str) and address.lower() not in ours:
            ours.add(address.lower())
            result.append(address)
    return result


def _post_reply(connector: Connector, interaction: Interaction) -> tuple[str, str]:
    import requests

    from . import signing
    from .webhooks import url_check

    url = (connector.settings or {}).get("delivery_url", "")
    try:
        url_check(url)
    except ApplicationError as exc:
        raise DeliveryError(f"Delivery URL refused: {exc.message}") from exc
    case = interaction.case
    payload = {
        "type": "message.outbound",
        "channel": interaction.channel,
        "interaction_id": str(interaction.public_id),
        "case_id": str(case.public_id),
        "customer_id": str(case.customer.public_id),
        "identities": [
            {"kind": kind, "value": value}
            for kind, value in case.customer.identities.values_list("kind", "value")
        ],
        "thread_key": case.interactions.filter(direction=Direction.INBOUND, channel=interaction.channel)
        .exclude(thread_key="")
        .order_by("-occurred_at")
        .values_list("thread_key", flat=True)
        .first()
        or "",
        "body": interaction.body,
        "occurred_at": interaction.occurred_at.isoformat(),
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        **signing.sign(connector.signing_secret, int(time.time()), body),
    }
    try:
        answer = outbound_http.post(
            url,
            body=body,
            headers=headers,
            read_timeout=settings.ACCORD_WEBHOOK_TIMEOUT_SECONDS,
            excerpt_chars=200,
        )
    except requests.RequestException as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from exc
    if not 200 <= answer.status_code < 300:
        raise DeliveryError(f"HTTP {answer.status_code}: {answer.excerpt}")
    return f"posted to {urlsplit(url).netloc}: HTTP {answer.status_code}", _channel_message_id(answer.excerpt)


def _channel_message_id(answer: str) -> str:
    """The id the channel gave the message, if the delivery URL answered it (JSON
    `{"message_id": ...}`): the channel's receipts name the message by it."""
    try:
        data = json.loads(answer)
    except ValueError:
        return ""
    value = data.get("message_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def reply_deliver(*, interaction_id: int) -> str:
    """Send a queued outbound interaction through its connector and record sent or failed.
    Safe to run twice: anything not `queued` any more is left alone."""
    interaction = (
        Interaction.objects.select_related("case", "case__customer").filter(pk=interaction_id).first()
    )
    if interaction is None or interaction.delivery_status != DeliveryStatus.QUEUED:
        return "skipped"
    connector = _reply_connector(interaction, selectors.connectors_of_client(client_id=interaction.client_id))
    try:
        if connector is None:
            raise DeliveryError(f"No active {interaction.channel} connector can deliver this reply.")
        if connector.channel == Channel.EMAIL:
            detail, message_id = _email_reply(connector, interaction), ""
        else:
            detail, message_id = _post_reply(connector, interaction)
    except DeliveryError as exc:
        case_services.interaction_delivery_set(
            interaction=interaction, delivery_status=DeliveryStatus.FAILED, detail=str(exc)
        )
        return "failed"
    except Exception as exc:  # the mail backend's own errors (SMTP) count as a failed delivery
        logger.exception("Reply %s could not be delivered", interaction_id)
        case_services.interaction_delivery_set(
            interaction=interaction,
            delivery_status=DeliveryStatus.FAILED,
            detail=f"{type(exc).__name__}: {exc}",
        )
        return "failed"
    try:  # the channel's id, unless the message has one already (a client system's)
        case_services.interaction_delivery_set(
            interaction=interaction,
            delivery_status=DeliveryStatus.SENT,
            detail=detail,
            external_id="" if interaction.external_id else message_id,
        )
    except IntegrityError:  # an id another message holds: kept without it
        case_services.interaction_delivery_set(
            interaction=interaction, delivery_status=DeliveryStatus.SENT, detail=detail
        )
    return "sent"


# A receipt moves a reply forward only: one arriving late (delivered after read) changes nothing.
_DELIVERY_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.FAILED: 2,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
}
# Where the replies a connector delivers come from: the agent UI and the API.
_REPLY_SOURCES = ("ui", "api")


def delivery_receipts_apply(*, client_id: int, receipts: list[adapters.Receipt]) -> int:
    """Move the client's replies that `receipts` name to delivered, read or failed; returns how
    many changed. A reply is named by the channel's id of the message, or, for an e-mail, by the
    Message-ID Accord gave it (`accord.<public id>@...`). Another client's are never looked at."""
    if not receipts:
        return 0
    own = {
        receipt.message_id: m.group(1)
        for receipt in receipts
        if (m := _OWN_MESSAGE_ID.match(receipt.message_id))
    }
    found = Interaction.objects.filter(
        Q(external_id__in=[receipt.message_id for receipt in receipts]) | Q(public_id__in=list(own.values())),
        client_id=client_id,
        source__in=_REPLY_SOURCES,
        direction=Direction.OUTBOUND,
    ).exclude(delivery_status="")
    replies: dict[tuple[str, str], Interaction] = {}
    for reply in found:
        if reply.external_id:
            replies["external", reply.external_id] = reply
        replies["public", str(reply.public_id)] = reply
    changed = 0
    for receipt in receipts:
        key = (
            ("public", own[receipt.message_id])
            if receipt.message_id in own
            else ("external", receipt.message_id)
        )
        reply = replies.get(key)
        rank = _DELIVERY_RANK.get(receipt.status)
        if reply is None or rank is None or rank <= _DELIVERY_RANK.get(reply.delivery_status, 0):
            continue
        replies[key] = case_services.interaction_delivery_set(
            interaction=reply,
            delivery_status=receipt.status,
            detail=receipt.detail or f"{receipt.status}, by the channel's receipt",
        )
        changed += 1
    return changed


def reply_retry(*, interaction: Interaction, actor: Any = None) -> Interaction:
    """Queue a failed reply again (after the cause is fixed)."""
    if interaction.delivery_status != DeliveryStatus.FAILED:
        raise ApplicationError("Only a failed delivery is retried.")
    interaction = case_services.interaction_delivery_set(
        interaction=interaction, delivery_status=DeliveryStatus.QUEUED, detail="retried"
    )
    reply_enqueue(interaction.pk)
    return interaction


def replies_resend_stale(
    *, now: datetime | None = None, older_than_seconds: int = 300, limit: int = 500
) -> int:
    """Enqueue again the replies still `queued` long after they were written (their task was
    lost with a broker or worker). Returns how many."""
    now = now or timezone.now()
    ids = list(
        Interaction.objects.filter(
            delivery_status=DeliveryStatus.QUEUED,
            direction=Direction.OUTBOUND,
            created_at__lte=now - timedelta(seconds=older_than_seconds),
            created_at__gte=now - timedelta(days=2),
        )
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    for interaction_id in ids:  # no change to wait for: straight to the broker
        task_send(REPLY_TASK, interaction_id, task_name=f"reply-{interaction_id}")
    return len(ids)
