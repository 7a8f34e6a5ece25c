"""Data of the connectors app: channel connectors and their routing rules, the raw inbound event
store, IMAP progress, outbound webhook subscriptions with their outbox and attempt log, and the
alert outbox. Every write goes through `connectors.services`; `save()` has no side effects."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from cases.choices import Channel, Priority
from cases.models import Case, Client, Queue

from .choices import (
    ADAPTER_CHANNEL,
    AdapterKind,
    AlertKind,
    AlertState,
    DeliveryState,
    InboundStatus,
    InboundVia,
    VipMatch,
    WebhookEventType,
)


class Connector(models.Model):
    """One channel integration of a client: where its native payloads come in (signed webhook
    or IMAP), which adapter reads them, and the queue new cases fall back to.

    The signing secret is stored (HMAC needs it) but shown only once, at creation and at each
    rotation; during a rotation the previous secret stays valid until
    `previous_secret_expires_at`. Secrets and credentials are excluded from history."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="connectors", db_index=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True, help_text="Part of the inbound URL.")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    adapter = models.CharField(max_length=16, choices=AdapterKind.choices)
    default_queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    signing_secret = models.CharField(max_length=128, editable=False)
    previous_signing_secret = models.CharField(max_length=128, blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Channel settings: delivery_url (outbound replies), from_address (e-mail replies), "
            "imap_host, imap_port, imap_user, imap_mailbox, imap_ssl (IMAP polling), "
            "ingest_automatic (true: mail a program sent, e.g. a web form's, is the customer's "
            "and opens cases; by default it only joins a case, as the system's)."
        ),
    )
    credentials = models.JSONField(
        default=dict, blank=True, editable=False, help_text="imap_password; never shown, not in history."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(
        excluded_fields=["signing_secret", "previous_signing_secret", "credentials", "updated_at"]
    )

    class Meta:
        ordering = ["client__name", "name"]
        indexes = [models.Index(fields=["client", "channel"], name="connector_client_channel")]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    def clean(self) -> None:
        errors = {}
        if self.adapter and self.channel and ADAPTER_CHANNEL.get(self.adapter) != self.channel:
            errors["adapter"] = (
                f"The {self.adapter} adapter reads {ADAPTER_CHANNEL.get(self.adapter)} payloads."
            )
        if self.default_queue_id and self.client_id and self.default_queue.client_id != self.client_id:
            errors["default_queue"] = "This queue belongs to another client."
        if not isinstance(self.settings, dict):
            errors["settings"] = "Settings are a JSON object."
        if errors:
            raise ValidationError(errors)

    @property
    def polls_imap(self) -> bool:
        return self.adapter == AdapterKind.EMAIL and bool((self.settings or {}).get("imap_host"))


class RoutingRule(models.Model):
    """Where a new case opened by a connector goes: the client's active rules are tried in
    `order`; the first whose every condition holds gives the queue and priority. An empty
    condition matches anything. No rule matching: the connector's default queue, normal."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="routing_rules", db_index=False)
    name = models.CharField(max_length=120)
    order = models.PositiveIntegerField(default=100)
    is_active = models.BooleanField(default=True)
    channels = models.JSONField(default=list, blank=True, help_text="Channels; empty = any.")
    keywords = models.JSONField(
        default=list, blank=True, help_text="Any of these words in the subject or body; empty = any."
    )
    segments = models.JSONField(default=list, blank=True, help_text="Customer segments; empty = any.")
    vip = models.CharField(max_length=8, choices=VipMatch.choices, default=VipMatch.ANY)
    languages = models.JSONField(default=list, blank=True, help_text="Language codes; empty = any.")
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    history = HistoricalRecords()

    class Meta:
        ordering = ["client__name", "order", "id"]
        indexes = [models.Index(fields=["client", "is_active", "order"], name="routing_client_order")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        for field in ("channels", "keywords", "segments", "languages"):
            value = getattr(self, field)
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                errors[field] = "A JSON list of strings."
        if isinstance(self.channels, list):
            unknown = set(self.channels) - set(Channel.values)
            if unknown:
                errors["channels"] = f"Unknown channels: {', '.join(sorted(map(str, unknown)))}."
        if self.queue_id and self.client_id and self.queue.client_id != self.client_id:
            errors["queue"] = "This queue belongs to another client."
        if errors:
            raise ValidationError(errors)


class InboundEvent(models.Model):
    """Every payload a connector accepted, stored raw before anything else is done with it, so
    nothing received is lost: `received` until processed, then `processed` (its interaction has
    `source` = the connector's slug and the same `external_id`), `failed` (with the error;
    replayable from admin) or `ignored` (a valid payload that carries no message, e.g. a
    WhatsApp delivery receipt, or an automatic reply with no case to join: `error` then says why).
    `(connector, external_id)` is unique: a re-delivered message is recognised here. Processed and
    ignored events are deleted after ACCORD_INBOUND_RETENTION_DAYS (connectors.retention)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    connector = models.ForeignKey(
        Connector, on_delete=models.PROTECT, related_name="inbound_events", db_index=False
    )
    via = models.CharField(max_length=8, choices=InboundVia.choices, default=InboundVia.WEBHOOK)
    external_id = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=10, choices=InboundStatus.choices, default=InboundStatus.RECEIVED)
    content_type = models.CharField(max_length=120, blank=True, default="")
    payload = models.BinaryField()
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "external_id"],
                condition=~Q(external_id=""),
                name="inbound_event_unique_per_connector",
            )
        ]
        indexes = [
            models.Index(fields=["client", "status", "received_at"], name="inbound_client_status"),
            # A connector's latest event (its health in admin); also the connector's foreign key.
            models.Index(fields=["connector", "received_at"], name="inbound_connector_received"),
            # The failed events awaiting replay, by connector: a handful of rows, written only
            # when an event fails.
            models.Index(
                fields=["connector", "received_at"],
                condition=Q(status="failed"),
                name="inbound_failed_by_connector",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.external_id or self.pk} ({self.status})"


class ImapMailboxState(models.Model):
    """How far the IMAP poller has read a connector's mailbox: the mailbox's UIDVALIDITY and
    the highest UID ingested under it. Advanced only after the message's ingestion committed."""

    connector = models.OneToOneField(Connector, on_delete=models.CASCADE, related_name="imap_state")
    mailbox = models.CharField(max_length=200, default="INBOX")
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    messages_seen = models.PositiveIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    locked_until = models.DateTimeField(null=True, blank=True, help_text="A poller's lease.")

    class Meta:
        verbose_name = "IMAP mailbox state"

    def __str__(self) -> str:
        return f"{self.connector} {self.mailbox} uidvalidity={self.uidvalidity} uid={self.last_uid}"


class WebhookSubscription(models.Model):
    """A client system's endpoint for Accord's events, signed in the Standard Webhooks format.
    A subscription failing too many deliveries in a row is paused (`paused_at`, with the
    reason); its pending deliveries wait and are sent when it is resumed."""

    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="webhook_subscriptions", db_index=False
    )
    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event types, e.g. ['case.created', 'sla.breached'].")
    secret = models.CharField(max_length=128, editable=False)
    is_active = models.BooleanField(default=True)
    paused_at = models.DateTimeField(null=True, blank=True, editable=False)
    pause_reason = models.CharField(max_length=300, blank=True, default="", editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["secret", "updated_at", "consecutive_failures"])

    class Meta:
        ordering = ["client__name", "name"]
        indexes = [models.Index(fields=["client", "is_active"], name="webhook_sub_client_active")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.events, list) or not self.events:
            raise ValidationError({"events": "Choose at least one event type."})
        unknown = set(self.events) - set(WebhookEventType.values)
        if unknown:
            raise ValidationError({"events": f"Unknown event types: {', '.join(sorted(map(str, unknown)))}."})


class WebhookDelivery(models.Model):
    """An outbox row: one event for one subscription, written in the same transaction as the
    change it reports, then sent by a task (and re-sent by the periodic task if that task is
    lost). `message_id` is the `webhook-id`: the same on every attempt, so receivers dedupe.
    `claimed_until` is a sender's lease, so two workers never send the same row at once."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=32, choices=WebhookEventType.choices)
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="webhook_delivery_due",
            ),
            models.Index(fields=["client", "created_at"], name="webhook_delivery_client"),
            models.Index(fields=["message_id"], name="webhook_delivery_message"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id} ({self.state})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: status, latency and the start of the response."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery_id", "attempted_at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"


class AlertNotification(models.Model):
    """An alert outbox row: one SLA warning or breach for one supervisor of the case's queue,
    written in the same transaction as the warning or breach. The digest task sends each
    supervisor one e-mail per run with everything pending for them."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    metric = models.CharField(max_length=20)
    clock_id = models.BigIntegerField()
    alert_at = models.DateTimeField()
    state = models.CharField(max_length=8, choices=AlertState.choices, default=AlertState.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["clock_id", "kind", "recipient"], name="alert_once_per_recipient")
        ]
        indexes = [
            models.Index(fields=["recipient"], condition=Q(state="pending"), name="alert_pending_recipient"),
            models.Index(fields=["client", "created_at"], name="alert_client_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on case {self.case_id} for {self.recipient_id}"
