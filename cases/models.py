"""Data of the case domain. Invariants live in constraints; `save()` has no side effects.
Every write goes through `cases.services`."""

from __future__ import annotations

import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from .choices import (
    AuthorKind,
    CaseEventKind,
    CaseStatus,
    Channel,
    DeliveryStatus,
    Direction,
    IdentityKind,
    Priority,
)
from .querysets import CaseQuerySet, ClientScopedQuerySet, InteractionQuerySet


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone.")


class Client(models.Model):
    """A company whose customers the BPO serves: the tenant every other row belongs to."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    default_region = models.CharField(
        max_length=2, default="US", help_text="ISO country code used to read national phone numbers."
    )
    continuation_window_hours = models.PositiveIntegerField(
        default=72, help_text="A new contact joins the customer's unresolved case active within this window."
    )
    is_active = models.BooleanField(default=True)
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="served_clients",
        blank=True,
        help_text="Staff users who serve this client and may see its data.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(m2m_fields=[staff])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """A person a client's cases are about; found by any of their identities."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A foreign key with db_index=False is the first column of a composite index, which serves
    # its lookups: a second index would only cost writes (tests/config/test_schema.py, 0012).
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="customers", db_index=False)
    display_name = models.CharField(max_length=200, blank=True)
    segment = models.CharField(max_length=40, default="standard", db_index=True)
    is_vip = models.BooleanField(default=False)
    language = models.CharField(max_length=12, default="en")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_customers"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        ordering = ["display_name", "id"]
        indexes = [models.Index(fields=["client", "updated_at"])]

    def __str__(self) -> str:
        return self.display_name or f"Customer {str(self.public_id)[:8]}"


class CustomerIdentity(models.Model):
    """One normalized way to recognise a customer: e-mail, phone (E.164), chat id, social handle
    (``platform:handle``) or the client's CRM id. Unique per client and kind."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="identities", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=IdentityKind.choices)
    value = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "customer identities"
        constraints = [
            models.UniqueConstraint(fields=["client", "kind", "value"], name="identity_unique_per_client"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class Queue(models.Model):
    """A client's work queue, with the channels it takes and who works and supervises it."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="queues", db_index=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    channels = models.JSONField(default=list, blank=True, help_text="Channels this queue takes.")
    default_tier = models.PositiveSmallIntegerField(default=1)
    agents = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="agent_queues", blank=True)
    supervisors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="supervised_queues", blank=True
    )
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords(m2m_fields=[agents, supervisors])

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        ordering = ["client__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["client", "slug"], name="queue_slug_unique_per_client")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        unknown = set(self.channels or []) - set(Channel.values)
        if unknown:
            raise ValidationError({"channels": f"Unknown channels: {', '.join(sorted(unknown))}."})


class Case(models.Model):
    """One customer issue across every channel. Changed only by `cases.services`, which keep
    `version` (optimistic locking) and write the per-case timeline (`CaseEvent`)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="cases", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="cases", db_index=False)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="cases", db_index=False)
    subject = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.NEW)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    origin_channel = models.CharField(max_length=16, choices=Channel.choices)
    current_channel = models.CharField(max_length=16, choices=Channel.choices)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
        db_index=False,
    )
    tier = models.PositiveSmallIntegerField(default=1)
    sentiment = models.FloatField(null=True, blank=True, help_text="Rolling compound score, -1 to 1.")
    external_id = models.CharField(
        max_length=120, blank=True, default="", help_text="The client system's key."
    )
    version = models.PositiveIntegerField(default=1)
    opened_at = models.DateTimeField()
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    first_contact_resolution = models.BooleanField(null=True, blank=True)
    last_activity_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "external_id"],
                condition=~Q(external_id=""),
                name="case_external_id_unique_per_client",
            ),
            models.CheckConstraint(condition=Q(tier__gte=1) & Q(tier__lte=3), name="case_tier_1_to_3"),
        ]
        indexes = [
            models.Index(fields=["queue", "status"], name="case_queue_status"),
            models.Index(fields=["client", "updated_at", "id"], name="case_client_updated"),
            # The API's default list order (newest first) and its opened_at keyset pages.
            models.Index(fields=["client", "opened_at", "id"], name="case_client_opened"),
            models.Index(fields=["client", "status", "opened_at"], name="case_client_status_opened"),
            models.Index(fields=["assignee", "status"], name="case_assignee_status"),
            models.Index(
                fields=["customer", "status", "last_activity_at"], name="case_customer_status_activity"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} ({str(self.public_id)[:8]})"


class Interaction(models.Model):
    """One touchpoint on a case's unified timeline. `(client, source, external_id)` is unique,
    so a re-delivered message never becomes a second row."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="interactions", db_index=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="interactions", db_index=False)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="interactions",
    )
    body = models.TextField(
        blank=True, help_text="Plain text; HTML is converted and sanitized before storage."
    )
    occurred_at = models.DateTimeField()
    source = models.CharField(
        max_length=80, blank=True, default="", help_text="Connector slug, 'api' or 'ui'."
    )
    external_id = models.CharField(max_length=255, blank=True, default="")
    thread_key = models.CharField(
        max_length=255, blank=True, default="", help_text="Message-ID, chat session, call id."
    )
    metadata = models.JSONField(default=dict, blank=True)
    delivery_status = models.CharField(max_length=9, choices=DeliveryStatus.choices, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InteractionQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "source", "external_id"],
                condition=~Q(external_id=""),
                name="interaction_external_id_unique_per_source",
            ),
        ]
        indexes = [
            models.Index(fields=["case", "occurred_at"], name="interaction_case_time"),
            models.Index(
                fields=["client", "thread_key"], condition=~Q(thread_key=""), name="interaction_thread"
            ),
            models.Index(fields=["client", "channel", "occurred_at"], name="interaction_channel_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.channel} at {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def is_public_agent_reply(self) -> bool:
        return self.direction == Direction.OUTBOUND and self.author_kind == AuthorKind.AGENT


def _attachment_path(instance: Attachment, filename: str) -> str:
    # By content within the client: the same file twice is stored once, and a name a sender
    # chose never reaches the file system.
    return f"attachments/{instance.client_id}/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(models.Model):
    """A file that came with an interaction (an e-mail's attachment), kept with its case.
    `position` is its place among the message's attachments as `metadata["attachments"]` lists
    them (one too large to keep is listed there, with no row here)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    interaction = models.ForeignKey(
        Interaction, on_delete=models.CASCADE, related_name="attachments", db_index=False
    )
    position = models.PositiveSmallIntegerField()
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["interaction", "position"]
        constraints = [
            models.UniqueConstraint(fields=["interaction", "position"], name="attachment_unique_position")
        ]

    def __str__(self) -> str:
        return self.filename


class CaseEvent(models.Model):
    """The case's typed, append-only timeline: who did what, before and after, and why. It is
    the case's audit trail and the event log the SLA engine replays."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events", db_index=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=24, choices=CaseEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=120, blank=True, default="", help_text="Who, when not a user.")
    interaction = models.ForeignKey(
        Interaction, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True, default="")
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["case", "occurred_at", "id"], name="case_event_timeline")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


class SatisfactionSurvey(models.Model):
    """A customer's answers about a case: CSAT 1-5, NPS 0-10, customer effort 1-7 (each optional,
    at least one given)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="surveys", db_index=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="surveys")
    csat = models.PositiveSmallIntegerField(null=True, blank=True)
    nps = models.PositiveSmallIntegerField(null=True, blank=True)
    effort = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True, default="")
    answered_at = models.DateTimeField()

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-answered_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(csat__isnull=True) | Q(csat__gte=1, csat__lte=5), name="survey_csat_1_5"
            ),
            models.CheckConstraint(
                condition=Q(nps__isnull=True) | Q(nps__gte=0, nps__lte=10), name="survey_nps_0_10"
            ),
            models.CheckConstraint(
                condition=Q(effort__isnull=True) | Q(effort__gte=1, effort__lte=7), name="survey_effort_1_7"
            ),
            models.CheckConstraint(
                condition=Q(csat__isnull=False) | Q(nps__isnull=False) | Q(effort__isnull=False),
                name="survey_has_an_answer",
            ),
        ]
        indexes = [models.Index(fields=["client", "answered_at"])]

    def __str__(self) -> str:
        return f"Survey on {self.case_id}"


# --- REST API credentials and idempotency (issue 5) ---------------------------------------------


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read only"
    READ_WRITE = "read_write", "Read and write"


class ApiKey(models.Model):
    """A client system's credential for the REST API, bound to one client and a scope.

    Only the SHA-256 of the key is stored (the key is 32 random bytes, so a plain hash is enough);
    the raw key is shown once, when it is created. `prefix` is the visible start of the key, to
    tell keys apart. A key stops working when revoked or past `expires_at`."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=120, help_text="Which system uses this key.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=10, choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
    throttle_rate = models.CharField(
        max_length=20,
        blank=True,
        default="",
        help_text="Requests per period, e.g. 600/min or 20/s. Empty: the API_KEY_THROTTLE_RATE setting.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ClientScopedQuerySet.as_manager()

    class Meta:
        ordering = ["client__name", "name", "id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.scope == ApiKeyScope.READ_WRITE


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an `Idempotency-Key`, replayed when the same
    caller sends the same key and body again before `expires_at`. `(principal, key)` is unique, so
    concurrent requests with one key create one row."""

    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    principal = models.CharField(max_length=64, help_text="client:<id> for API keys, user:<id> for staff.")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    content_type = models.CharField(max_length=100, blank=True, default="")
    response_body = models.TextField(blank=True, default="")
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_unique_per_principal")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
