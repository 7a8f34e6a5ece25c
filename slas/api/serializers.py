"""Cases with their clocks and breach state, SLA clocks, breaches and policies; inputs of case
creation, sync and case actions."""

from __future__ import annotations

import hashlib

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.api.filters import MAX_ID
from cases.api.serializers import (
    CustomerInputSerializer,
    FieldsBuiltOnce,
    InteractionInputSerializer,
    PastDateTimeField,
    StrictCharField,
)
from cases.choices import CaseStatus, Channel, Direction, Priority
from cases.models import Case
from cases.sync import BULK_MAX_ITEMS

from ..models import Breach, Outcome, SLAClock, SLAPolicy, SLATarget

SLA_STATES = ["breached", "at_risk", "on_track", "no_policy"]
CLOCK_STATES = ["running", "paused", "at_risk", "breached", "met", "missed", "stopped"]
BULK_OUTCOMES = ["created", "updated", "unchanged", "failed"]


class ClockSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=CLOCK_STATES, read_only=True)
    outcome = serializers.ChoiceField(
        choices=Outcome.choices, allow_blank=True, read_only=True, help_text="Empty while the clock runs."
    )

    class Meta:
        model = SLAClock
        fields = [
            "id",
            "metric",
            "cycle",
            "state",
            "target_seconds",
            "started_at",
            "due_at",
            "warn_at",
            "paused_since",
            "paused_seconds",
            "stopped_at",
            "outcome",
            "breached_at",
            "warned_at",
            "policy_id",
            "policy_version",
        ]
        read_only_fields = fields


class ClockListSerializer(ClockSerializer):
    case_id = serializers.UUIDField(source="case.public_id", read_only=True)

    class Meta(ClockSerializer.Meta):
        fields = ["case_id", *ClockSerializer.Meta.fields]
        read_only_fields = fields


class CaseSLASummarySerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=SLA_STATES)
    breached = serializers.BooleanField()
    at_risk = serializers.BooleanField()
    policy_id = serializers.IntegerField(allow_null=True)
    policy_name = serializers.CharField(allow_null=True)
    policy_version = serializers.IntegerField(allow_null=True, help_text="Policy history row applied.")
    unmatched_reason = serializers.CharField(help_text="Why no policy matched (empty when one did).")


def _case_sla(case: Case):
    try:
        return case.sla
    except ObjectDoesNotExist:
        return None


def sla_summary(case: Case) -> dict:
    clocks = list(case.clocks.all())
    case_sla = _case_sla(case)
    policy = case_sla.policy if case_sla is not None and case_sla.policy_id else None
    breached = any(c.breached_at is not None for c in clocks)
    at_risk = any(c.stopped_at is None and c.warned_at is not None and c.breached_at is None for c in clocks)
    if breached:
        state = "breached"
    elif at_risk:
        state = "at_risk"
    elif policy is None:
        state = "no_policy"
    else:
        state = "on_track"
    return {
        "state": state,
        "breached": breached,
        "at_risk": at_risk,
        "policy_id": policy.pk if policy else None,
        "policy_name": policy.name if policy else None,
        "policy_version": case_sla.policy_version if policy else None,
        "unmatched_reason": case_sla.unmatched_reason if case_sla is not None else "",
    }


def case_etag(case: Case) -> str:
    """`"<version>-<digest>"`: the version (what If-Match checks) and a digest of the clocks (they
    move without the case changing, e.g. when the sweep records a breach)."""
    parts = [
        f"{c.pk}:{c.due_at}:{c.warn_at}:{c.paused_since}:{c.stopped_at}:{c.breached_at}:{c.warned_at}"
        for c in case.clocks.all()
    ]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]
    return f'"{case.version}-{digest}"'


class CaseSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    client = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    customer_id = serializers.UUIDField(source="customer.public_id", read_only=True)
    queue_id = serializers.IntegerField(read_only=True)
    assignee_id = serializers.IntegerField(read_only=True, allow_null=True)
    sla = serializers.SerializerMethodField()
    clocks = ClockSerializer(many=True, read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "client",
            "external_id",
            "subject",
            "status",
            "priority",
            "origin_channel",
            "current_channel",
            "customer_id",
            "queue_id",
            "assignee_id",
            "tier",
            "sentiment",
            "version",
            "opened_at",
            "first_responded_at",
            "resolved_at",
            "closed_at",
            "reopen_count",
            "first_contact_resolution",
            "last_activity_at",
            "created_at",
            "updated_at",
            "sla",
            "clocks",
        ]
        read_only_fields = fields

    @extend_schema_field(CaseSLASummarySerializer)
    def get_sla(self, obj):
        return sla_summary(obj)


# --- Inputs ------------------------------------------------------------------------------------------


class SyncInteractionSerializer(InteractionInputSerializer):
    external_id = StrictCharField(
        max_length=255, help_text="Required in sync: re-sending the item never duplicates the interaction."
    )

    def validate_direction(self, value):
        if value == Direction.NOTE and self.context.get("client_system"):
            raise serializers.ValidationError("Client systems write inbound or outbound messages, not notes.")
        return value


class CaseWriteSerializer(serializers.Serializer):
    """Fields a caller may set on a case. In an update, a field left out stays as it is."""

    subject = StrictCharField(max_length=300, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False, help_text="Origin channel.")
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    queue_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    customer_id = serializers.UUIDField(required=False)
    customer = CustomerInputSerializer(
        required=False, help_text="Found by any of its identities, created when none matches."
    )
    assignee_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_ID)
    opened_at = PastDateTimeField(required=False, help_text="Historical opening time (clocks follow it).")
    occurred_at = PastDateTimeField(
        required=False,
        help_text="When the status and priority changes in this request happened (default now).",
    )
    first_contact_resolution = serializers.BooleanField(required=False, allow_null=True)
    reason = StrictCharField(required=False, allow_blank=True, max_length=1000)
    interactions = SyncInteractionSerializer(many=True, required=False, max_length=200)


def case_external_id_problem(value: str) -> str:
    """Why `value` cannot be a case's external id ("" when it can): it is addressed in URLs
    (`/cases/by-external-id/{external_id}`)."""
    if value != value.strip() or not value:
        return "An external id without surrounding spaces, not blank."
    if "/" in value:
        return "An external id without '/': it is addressed in URLs."
    return ""


class CaseExternalIdField(StrictCharField):
    """A case's external id, addressable by URL (`case_external_id_problem`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 120)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = case_external_id_problem(value) if value else ""
        if problem:
            raise serializers.ValidationError(problem)
        return value


class CaseCreateSerializer(CaseWriteSerializer):
    external_id = CaseExternalIdField(required=False, allow_blank=True)
    subject = StrictCharField(max_length=300)
    channel = serializers.ChoiceField(choices=Channel.choices, help_text="Origin channel.")
    queue_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class CaseBulkItemSerializer(CaseWriteSerializer):
    external_id = CaseExternalIdField()


class CaseBulkRequestSerializer(serializers.Serializer):
    atomic = serializers.BooleanField(
        required=False, default=False, help_text="All items or none (default: each item on its own)."
    )
    items = CaseBulkItemSerializer(many=True, min_length=1, max_length=BULK_MAX_ITEMS)


class CaseBulkResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField()
    outcome = serializers.ChoiceField(choices=BULK_OUTCOMES)
    id = serializers.UUIDField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), allow_null=True
    )


class CaseBulkResponseSerializer(serializers.Serializer):
    atomic = serializers.BooleanField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = CaseBulkResultSerializer(many=True)


class AssignSerializer(serializers.Serializer):
    assignee_id = serializers.IntegerField(
        allow_null=True, min_value=1, max_value=MAX_ID, help_text="null unassigns."
    )
    reason = StrictCharField(required=False, allow_blank=True, default="", max_length=1000)


class StatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CaseStatus.choices)
    reason = StrictCharField(required=False, allow_blank=True, default="", max_length=1000)
    occurred_at = PastDateTimeField(required=False, allow_null=True, default=None)


class PrioritySerializer(serializers.Serializer):
    priority = serializers.ChoiceField(choices=Priority.choices)
    reason = StrictCharField(required=False, allow_blank=True, default="", max_length=1000)
    occurred_at = PastDateTimeField(required=False, allow_null=True, default=None)


class ResolveSerializer(serializers.Serializer):
    first_contact_resolution = serializers.BooleanField(required=False, allow_null=True, default=None)
    reason = StrictCharField(required=False, allow_blank=True, default="", max_length=1000)
    occurred_at = PastDateTimeField(required=False, allow_null=True, default=None)


class ReopenSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=1000, help_text="Why the case is reopened.")
    occurred_at = PastDateTimeField(required=False, allow_null=True, default=None)


class ExportPageSerializer(serializers.Serializer):
    results = CaseSerializer(many=True)
    next_cursor = serializers.CharField(
        help_text="Send it back to continue; keep it to poll for later changes."
    )
    end_of_stream = serializers.BooleanField(
        help_text="True when every change up to `horizon` was returned. Poll again later with next_cursor."
    )
    horizon = serializers.DateTimeField(help_text="Changes up to this instant are complete in the stream.")


# --- SLA reads -------------------------------------------------------------------------------------------


class BreachSerializer(serializers.ModelSerializer):
    case_id = serializers.UUIDField(source="case.public_id", read_only=True)
    clock_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Breach
        fields = [
            "id",
            "case_id",
            "clock_id",
            "metric",
            "priority",
            "channel",
            "breached_at",
            "detected_by",
            "detected_at",
            "acknowledged_at",
            "voided_at",
            "void_reason",
        ]
        read_only_fields = fields


class TargetSerializer(serializers.ModelSerializer):
    class Meta:
        model = SLATarget
        fields = ["metric", "priority", "seconds"]
        read_only_fields = fields


class PolicySerializer(serializers.ModelSerializer):
    client = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    calendar = serializers.CharField(source="calendar.name", read_only=True)
    timezone = serializers.CharField(source="calendar.timezone", read_only=True)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices), read_only=True)
    priorities = serializers.ListField(
        child=serializers.ChoiceField(choices=Priority.choices), read_only=True
    )
    segments = serializers.ListField(child=serializers.CharField(), read_only=True)
    queue_ids = serializers.SerializerMethodField()
    pause_statuses = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), read_only=True
    )
    targets = TargetSerializer(many=True, read_only=True)

    class Meta:
        model = SLAPolicy
        fields = [
            "id",
            "client",
            "name",
            "order",
            "is_active",
            "channels",
            "priorities",
            "segments",
            "queue_ids",
            "calendar",
            "timezone",
            "pause_statuses",
            "warning_percent",
            "targets",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_queue_ids(self, obj) -> list[int]:
        return sorted(q.pk for q in obj.queues.all())
