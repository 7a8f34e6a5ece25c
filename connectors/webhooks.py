"""Outbound webhooks: subscriptions, the outbox and its sender (writes of the webhook models).

- Outbox rows (`WebhookDelivery`) are written by in-transaction event handlers, in the same
  transaction as the change they report, one `bulk_create` per event (an SLA batch of
  thousands of alerts is one statement); their send tasks go through `config.tasks.task_enqueue`
  (in the same transaction on the ORM broker, after commit elsewhere).
- A send claims its row with a lease (`claimed_until`), so two workers never send one row at
  once; every attempt is logged (`WebhookAttempt`); a failure is retried on the backoff
  schedule (ACCORD_WEBHOOK_RETRY_SCHEDULE: 8 attempts over about a day by default), after
  which the row is `failed`; a subscription failing ACCORD_WEBHOOK_PAUSE_AFTER_FAILURES
  attempts in a row is paused (its rows wait until it is resumed).
- `webhooks_send_due` (periodic) sends the retries that are due and the rows whose task was
  lost: a broker or worker crash loses no delivery.
- Signed in the Standard Webhooks format (`webhook-id`, `webhook-timestamp`,
  `webhook-signature`) with the `standardwebhooks` package.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from cases import events as case_events
from cases.models import Case, Client, Interaction
from config.errors import ApplicationError
from config.tasks import task_enqueue
from slas import events as sla_events

from . import outbound_http, selectors
from .choices import DeliveryState, WebhookEventType
from .models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from .services import SecretIssued

logger = logging.getLogger(__name__)

# --- URL policy --------------------------------------------------------------------------------


def url_check(url: str) -> None:
    """Refuse a URL that is not https or whose host resolves to a private, loopback,
    link-local or reserved address (ACCORD_WEBHOOKS_ALLOW_LOOPBACK lets http://127.0.0.1 and
    [::1] through, for local testing). Raises ApplicationError naming the problem."""
    allow_loopback = settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK
    parts = urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ApplicationError.for_field("url", "Give an absolute https:// URL.")
    if parts.username or parts.password:
        raise ApplicationError.for_field("url", "Credentials in the URL are not allowed.")
    if parts.scheme != "https" and not allow_loopback:
        raise ApplicationError.for_field("url", "Webhook URLs must use https.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise ApplicationError.for_field("url", f"The host {parts.hostname!r} cannot be resolved.") from exc
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    loopback_only = all(
        (a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a).is_loopback
        for a in addresses
    )
    if parts.scheme != "https" and not (allow_loopback and loopback_only):
        raise ApplicationError.for_field("url", "Webhook URLs must use https.")
    for address in addresses:
        reason = outbound_http.address_refused(address, allow_loopback=allow_loopback)
        if reason:
            raise ApplicationError.for_field(
                "url", f"The host {parts.hostname!r} resolves to a {reason} address ({address}); refused."
            )


# --- Subscriptions -----------------------------------------------------------------------------


def secret_generate() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _events_check(events: Iterable[str]) -> list[str]:
    events = list(dict.fromkeys(events or []))
    if not events:
        raise ApplicationError.for_field("events", "Choose at least one event type.")
    unknown = sorted(set(events) - set(WebhookEventType.values))
    if unknown:
        raise ApplicationError.for_field("events", f"Unknown event types: {', '.join(unknown)}.")
    return events


@transaction.atomic
def webhook_subscription_create(
    *, client: Client, name: str, url: str, events: Iterable[str], actor: Any = None, is_active: bool = True
) -> SecretIssued:
    """Create a subscription with a fresh signing secret, returned once in the result."""
    url_check(url)
    secret = secret_generate()
    subscription = WebhookSubscription(
        client=client, name=name, url=url, events=_events_check(events), secret=secret, is_active=is_active
    )
    subscription._change_reason = "created"
    subscription.save()
    return SecretIssued(subscription, secret)


@transaction.atomic
def webhook_subscription_update(
    *, subscription: WebhookSubscription, actor: Any = None
) -> WebhookSubscription:
    """Save edits (URL checked again, events validated)."""
    url_check(subscription.url)
    subscription.events = _events_check(subscription.events)
    subscription._change_reason = "edited"
    subscription.save()
    return subscription


@transaction.atomic
def webhook_subscription_rotate_secret(
    *, subscription: WebhookSubscription, actor: Any = None
) -> SecretIssued:
    secret = secret_generate()
    subscription.secret = secret
    subscription._change_reason = "secret rotated"
    subscription.save()
    return SecretIssued(subscription, secret)


@transaction.atomic
def webhook_subscription_resume(
    *, subscription: WebhookSubscription, actor: Any = None
) -> WebhookSubscription:
    """Un-pause: failures reset; the deliveries that waited are sent from now on."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.paused_at is None:
        return subscription
    subscription.paused_at = None
    subscription.pause_reason = ""
    subscription.consecutive_failures = 0
    subscription._change_reason = "resumed"
    subscription.save()
    now = timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(subscription=subscription, state=DeliveryState.PENDING).values_list(
            "id", flat=True
        )
    )
    WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now, claimed_until=None)
    deliveries_enqueue(ids)
    return subscription


@transaction.atomic
def webhook_redeliver(*, delivery: WebhookDelivery, actor: Any = None) -> WebhookDelivery:
    """Send a delivery again (same `webhook-id`, a fresh attempt budget)."""
    delivery = WebhookDelivery.objects.select_for_update().select_related("subscription").get(pk=delivery.pk)
    subscription = delivery.subscription
    if not subscription.is_active:
        raise ApplicationError("The subscription is inactive; activate it first.")
    if subscription.paused_at is not None:
        raise ApplicationError("The subscription is paused; resume it first.")
    delivery.state = DeliveryState.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.claimed_until = None
    delivery.last_error = ""
    delivery.save(update_fields=["state", "attempts", "next_attempt_at", "claimed_until", "last_error"])
    deliveries_enqueue([delivery.pk])
    return delivery


# --- Outbox: written in the event's transaction ------------------------------------------------

CASE_EVENT_TYPES: dict[type, str] = {
    case_events.CaseOpened: WebhookEventType.CASE_CREATED,
    case_events.CaseStatusChanged: WebhookEventType.CASE_UPDATED,
    case_events.CasePriorityChanged: WebhookEventType.CASE_UPDATED,
    case_events.CaseAssigned: WebhookEventType.CASE_UPDATED,
    case_events.CaseQueueChanged: WebhookEventType.CASE_UPDATED,
    case_events.CaseTierChanged: WebhookEventType.CASE_UPDATED,
    case_events.InteractionAppended: WebhookEventType.INTERACTION_CREATED,
}
SLA_EVENT_TYPES: dict[type, str] = {
    sla_events.ClocksWarned: WebhookEventType.SLA_WARNING,
    sla_events.ClocksBreached: WebhookEventType.SLA_BREACHED,
    sla_events.ClocksMet: WebhookEventType.SLA_MET,
}
_CHANGE_NAMES = {
    case_events.CaseStatusChanged: "status",
    case_events.CasePriorityChanged: "priority",
    case_events.CaseAssigned: "assignee",
    case_events.CaseQueueChanged: "queue",
    case_events.CaseTierChanged: "tier",
}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def deliveries_enqueue(ids: list[int], chunk: int = 50) -> None:
    """Send tasks for these deliveries, joining the current transaction on the ORM broker, else
    after commit (config.tasks); a lost one is sent by the periodic `webhooks_send_due`."""
    ids = list(ids)
    for start in range(0, len(ids), chunk):
        task_enqueue("connectors.tasks.webhook_send_task", ids[start : start + chunk])


def _case_rows(case_ids) -> dict[int, dict]:
    rows = Case.objects.filter(pk__in=case_ids).values("id", "public_id", "external_id", "status", "priority")
    return {row["id"]: row for row in rows}


def _case_payload(event: Any, case: dict) -> dict:
    data: dict[str, Any] = {
        "case": {
            "id": str(case["public_id"]),
            "external_id": case["external_id"],
            "status": case["status"],
            "priority": case["priority"],
        }
    }
    if isinstance(event, case_events.CaseOpened):
        data.update(channel=event.channel, opened_at=_iso(event.occurred_at))
    elif isinstance(event, case_events.InteractionAppended):
        interaction = Interaction.objects.filter(pk=event.interaction_id).values("public_id").first()
        data["interaction"] = {
            "id": str(interaction["public_id"]),
            "channel": event.channel,
            "direction": event.direction,
            "author_kind": event.author_kind,
            "body": event.body,
            "occurred_at": _iso(event.occurred_at),
        }
    else:
        change = _CHANGE_NAMES[type(event)]
        fields = {k: v for k, v in vars(event).items() if k not in ("case_id", "client_id", "occurred_at")}
        data["change"] = {"field": change, **fields}
    return data


def _outbox(client_id: int, events: list, event_type: str) -> None:
    """In the transaction of the change: one outbox row per subscription to `event_type` and
    event (the events of one client), their delivery tasks enqueued with them (config.tasks)."""
    subscriptions = selectors.subscriptions_for(client_ids={client_id}, event_type=event_type)
    if not subscriptions:
        return
    cases = _case_rows({event.case_id for event in events})
    now = timezone.now()
    rows = []
    for event in events:
        payload = {
            "type": event_type,
            "timestamp": _iso(event.occurred_at),
            "data": _case_payload(event, cases[event.case_id]),
        }
        message_id = _message_id()
        rows += [
            WebhookDelivery(
                client_id=client_id,
                subscription_id=subscription.pk,
                message_id=message_id,
                event_type=event_type,
                payload=payload,
                occurred_at=event.occurred_at,
                next_attempt_at=now,
            )
            for subscription in subscriptions
        ]
    WebhookDelivery.objects.bulk_create(rows)
    deliveries_enqueue([row.pk for row in rows])


def on_case_event(event: Any) -> None:
    """In the case change's transaction: one outbox row per subscription to its event type."""
    _outbox(event.client_id, [event], CASE_EVENT_TYPES[type(event)])


def on_cases_opened(event: case_events.CasesOpened) -> None:
    """A batch of cases opened together: their outbox rows in bulk."""
    _outbox(event.client_id, list(event.openings), CASE_EVENT_TYPES[case_events.CaseOpened])


def on_clock_alerts(event: Any) -> None:
    """In the SLA engine's transaction: outbox rows for a whole batch of clock alerts, in bulk."""
    event_type = SLA_EVENT_TYPES[type(event)]
    alerts = event.alerts
    if not alerts:
        return
    subscriptions = selectors.subscriptions_for(
        client_ids={a.client_id for a in alerts}, event_type=event_type
    )
    if not subscriptions:
        return
    by_client: dict[int, list[WebhookSubscription]] = defaultdict(list)
    for subscription in subscriptions:
        by_client[subscription.client_id].append(subscription)
    cases = {
        row["id"]: row
        for row in Case.objects.filter(pk__in={a.case_id for a in alerts if a.client_id in by_client}).values(
            "id", "public_id", "external_id"
        )
    }
    now = timezone.now()
    rows = []
    for alert in alerts:
        if alert.client_id not in by_client or alert.case_id not in cases:
            continue
        case = cases[alert.case_id]
        payload = {
            "type": event_type,
            "timestamp": _iso(alert.at),
            "data": {
                "case": {"id": str(case["public_id"]), "external_id": case["external_id"]},
                "clock": {"id": alert.clock_id, "metric": alert.metric, "cycle": alert.cycle},
                "priority": alert.priority,
                "channel": alert.channel,
                "at": _iso(alert.at),
                "detected_by": alert.detected_by,
            },
        }
        message_id = _message_id()
        for subscription in by_client[alert.client_id]:
            rows.append(
                WebhookDelivery(
                    client_id=alert.client_id,
                    subscription_id=subscription.pk,
                    message_id=message_id,
                    event_type=event_type,
                    payload=payload,
                    occurred_at=alert.at,
                    next_attempt_at=now,
                )
            )
    created = WebhookDelivery.objects.bulk_create(rows, batch_size=1000)
    deliveries_enqueue([row.pk for row in created])


# --- Sending -----------------------------------------------------------------------------------


def retry_delays() -> list[int]:
    return [int(seconds) for seconds in settings.ACCORD_WEBHOOK_RETRY_SCHEDULE]


def max_attempts() -> int:
    return len(retry_delays()) + 1


def signed_headers(*, secret: str, message_id: str, body: str, at: datetime) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, at, body)
    return {
        "Content-Type": "application/json",
        "User-Agent": "Accord-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def _claim(delivery_id: int, now: datetime) -> bool:
    # Longer than an attempt can take (`outbound_http`: connect, headers, body), with margin.
    lease = timedelta(seconds=settings.ACCORD_WEBHOOK_TIMEOUT_SECONDS * 2 + 30)
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + lease)
    )


def webhook_send(*, delivery_id: int, now: datetime | None = None) -> str:
    """One attempt of one delivery, if it is due and no one else holds it. Returns what
    happened: delivered, retry, failed, paused, cancelled or skipped. Safe to run twice."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    if not subscription.is_active:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            state=DeliveryState.CANCELLED, claimed_until=None, last_error="subscription inactive"
        )
        return "cancelled"
    if subscription.paused_at is not None:
        WebhookDelivery.objects.filter(pk=delivery_id).update(claimed_until=None)
        return "paused"
    number = delivery.attempts + 1
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    status_code, excerpt, error = None, "", ""
    started = time.monotonic()
    try:
        url_check(subscription.url)
        answer = outbound_http.post(
            subscription.url,
            body=body.encode(),
            headers=signed_headers(
                secret=subscription.secret, message_id=delivery.message_id, body=body, at=now
            ),
            read_timeout=settings.ACCORD_WEBHOOK_TIMEOUT_SECONDS,
            excerpt_chars=500,
        )
        status_code, excerpt = answer.status_code, answer.excerpt
    except ApplicationError as exc:
        error = exc.message
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    latency_ms = int((time.monotonic() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300
    return _record_attempt(delivery, number, now, status_code, latency_ms, excerpt, error[:500], succeeded)


@transaction.atomic
def _record_attempt(delivery, number, now, status_code, latency_ms, excerpt, error, succeeded) -> str:
    WebhookAttempt.objects.create(
        delivery=delivery,
        client_id=delivery.client_id,
        number=number,
        attempted_at=now,
        status_code=status_code,
        latency_ms=latency_ms,
        response_excerpt=excerpt,
        error=error,
        succeeded=succeeded,
    )
    subscription_id = delivery.subscription_id
    if succeeded:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.DELIVERED,
            attempts=number,
            delivered_at=timezone.now(),
            claimed_until=None,
            last_status_code=status_code,
            last_error="",
        )
        WebhookSubscription.objects.filter(pk=subscription_id, consecutive_failures__gt=0).update(
            consecutive_failures=0
        )
        return "delivered"
    reason = error or f"HTTP {status_code}"
    delays = retry_delays()
    exhausted = number >= len(delays) + 1
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.FAILED if exhausted else DeliveryState.PENDING,
        attempts=number,
        next_attempt_at=now if exhausted else now + timedelta(seconds=delays[number - 1]),
        claimed_until=None,
        last_status_code=status_code,
        last_error=reason[:500],
    )
    WebhookSubscription.objects.filter(pk=subscription_id).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    limit = settings.ACCORD_WEBHOOK_PAUSE_AFTER_FAILURES
    if subscription.paused_at is None and subscription.consecutive_failures >= limit:
        subscription.paused_at = timezone.now()
        subscription.pause_reason = (
            f"Paused after {subscription.consecutive_failures} failed deliveries in a row; last: {reason}"[
                :300
            ]
        )
        subscription._change_reason = "paused: too many failures"
        subscription.save(update_fields=["paused_at", "pause_reason", "updated_at"])
        logger.warning("Webhook subscription %s paused: %s", subscription.pk, subscription.pause_reason)
        return "failed" if exhausted else "paused"
    return "failed" if exhausted else "retry"


def webhooks_send(*, delivery_ids: Iterable[int]) -> dict[str, int]:
    outcomes: dict[str, int] = defaultdict(int)
    for delivery_id in delivery_ids:
        outcomes[webhook_send(delivery_id=delivery_id)] += 1
    return dict(outcomes)


def webhooks_send_due(
    *, now: datetime | None = None, limit: int = 500, budget_seconds: float = 40.0
) -> dict[str, int]:
    """Periodic: send the retries that are due and rows whose task was lost (older than
    ACCORD_WEBHOOK_LOST_AFTER_SECONDS), within a time budget. Safe to run in parallel."""
    now = now or timezone.now()
    started = time.monotonic()
    ids = selectors.deliveries_due(
        now=now, grace_seconds=settings.ACCORD_WEBHOOK_LOST_AFTER_SECONDS, limit=limit
    )
    outcomes: dict[str, int] = defaultdict(int)
    for delivery_id in ids:
        elapsed = time.monotonic() - started
        if elapsed > budget_seconds:
            break
        # Each attempt at its own time: its claim's lease (and signature, and next retry) run
        # from when it starts, not from the run's start up to 40 s before.
        outcomes[webhook_send(delivery_id=delivery_id, now=now + timedelta(seconds=elapsed))] += 1
    return dict(outcomes)
