"""Serializers of the case domain's API. Output serializers are read-only; input serializers take
only what a caller may set (client, ids, versions and timestamps the server owns are never
inputs)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..choices import AuthorKind, Channel, Direction, IdentityKind
from ..models import CaseEvent, Customer, CustomerIdentity, Interaction, Queue, SatisfactionSurvey

# A historical timestamp is welcome; one in the future (beyond clock skew) is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=5)


# The earliest time the API takes: business-time arithmetic (and a keyset position one
# microsecond before a time) needs room before it, and no contact centre's history starts earlier.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def validate_not_future(value):
    if value is not None and value > timezone.now() + FUTURE_TOLERANCE:
        raise serializers.ValidationError("This time is in the future.")
    if value is not None and value < EARLIEST:
        raise serializers.ValidationError("This time is before 1970.")
    return value


# For read-only (output) model serializers: DRF's ModelSerializer builds its fields from the
# model's metadata on every instance (about half a millisecond for a case with its clocks);
# these build them once per class and give each instance its own copies: a field is copied
# shallowly (binding it sets attributes on the copy only; what the copies share, their
# arguments, is only read when representing), a nested serializer deeply, as DRF copies declared
# fields. Only for serializers whose fields do not depend on the instance or the request.
# Their times are in UTC, the project's TIME_ZONE and the API's: each DateTimeField is told its
# zone once, instead of looking up the active time zone (a context-local read) for every value,
# ten times per case on a page of cases. (No docstring: the schema would show it as the
# description of every serializer that mixes it in.)
class FieldsBuiltOnce:
    def get_fields(self):
        cls = type(self)
        prototype = cls.__dict__.get("_fields_prototype")
        if prototype is None:
            prototype = super().get_fields()
            for field in prototype.values():
                if isinstance(field, serializers.DateTimeField) and not hasattr(field, "timezone"):
                    field.timezone = UTC
            cls._fields_prototype = prototype
        return {
            name: copy.deepcopy(field) if isinstance(field, serializers.BaseSerializer) else copy.copy(field)
            for name, field in prototype.items()
        }


class PastDateTimeField(serializers.DateTimeField):
    """An aware timestamp, historical or now, never in the future."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
            if parsed is not None and timezone.is_naive(parsed):
                raise serializers.ValidationError("Give the time with its UTC offset (e.g. Z or +02:00).")
        return validate_not_future(super().to_internal_value(value))


class StrictCharField(serializers.CharField):
    """A string, never a number or boolean coerced into one (DRF's CharField accepts 42)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- Customers -----------------------------------------------------------------------------------


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomerIdentity
        fields = ["kind", "value", "created_at"]
        read_only_fields = fields


class IdentityInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    value = StrictCharField(
        max_length=255, help_text="Normalized before storage (e-mail lowercased, phone to E.164)."
    )


class CustomerSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    client = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    merged_into_id = serializers.SerializerMethodField()
    identities = IdentitySerializer(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "client",
            "display_name",
            "segment",
            "is_vip",
            "language",
            "merged_into_id",
            "identities",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_merged_into_id(self, obj):
        merged = obj.merged_into
        return merged.public_id if merged is not None else None


class CustomerInputSerializer(serializers.Serializer):
    display_name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    segment = StrictCharField(max_length=40, required=False, default="standard")
    is_vip = serializers.BooleanField(required=False, default=False)
    language = StrictCharField(max_length=12, required=False, default="en")
    identities = IdentityInputSerializer(many=True, required=False, default=list)

    def validate_identities(self, value):
        if len(value) > 20:
            raise serializers.ValidationError("At most 20 identities.")
        return value


# What fits of a reason in a history row (100 characters) after "changed <every field>: ".
REASON_MAX_CHARS = 50


class CustomerUpdateSerializer(serializers.Serializer):
    """The fields a PATCH may change; identities are added through `/identities`."""

    display_name = StrictCharField(max_length=200, required=False, allow_blank=True)
    segment = StrictCharField(max_length=40, required=False)
    is_vip = serializers.BooleanField(required=False)
    language = StrictCharField(max_length=12, required=False)
    reason = StrictCharField(
        max_length=REASON_MAX_CHARS,
        required=False,
        default="",
        write_only=True,
        help_text="Why, kept in the customer's history after the names of the fields changed.",
    )


# --- Queues ----------------------------------------------------------------------------------------


class QueueSerializer(serializers.ModelSerializer):
    client = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices), read_only=True)

    class Meta:
        model = Queue
        fields = ["id", "client", "slug", "name", "channels", "default_tier", "is_active"]
        read_only_fields = fields


# --- Interactions ------------------------------------------------------------------------------------


class InteractionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    author_id = serializers.IntegerField(read_only=True, allow_null=True)
    metadata = serializers.DictField(read_only=True)

    class Meta:
        model = Interaction
        fields = [
            "id",
            "channel",
            "direction",
            "author_kind",
            "author_id",
            "body",
            "occurred_at",
            "source",
            "external_id",
            "thread_key",
            "metadata",
            "delivery_status",
            "created_at",
        ]
        read_only_fields = fields


class InteractionInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    direction = serializers.ChoiceField(choices=Direction.choices)
    author_kind = serializers.ChoiceField(choices=AuthorKind.choices)
    body = StrictCharField(required=False, allow_blank=True, default="", max_length=100_000)
    occurred_at = PastDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When it happened (historical allowed); default now.",
    )
    external_id = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=255,
        help_text="Your id for this message: sending it again never makes a second interaction.",
    )
    thread_key = StrictCharField(required=False, allow_blank=True, default="", max_length=255)
    metadata = serializers.DictField(required=False, default=dict)


# --- Timeline ------------------------------------------------------------------------------------------


class CaseEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    actor_id = serializers.IntegerField(read_only=True, allow_null=True)
    interaction_id = serializers.SerializerMethodField()
    before = serializers.DictField(read_only=True)
    after = serializers.DictField(read_only=True)

    class Meta:
        model = CaseEvent
        fields = [
            "id",
            "kind",
            "actor",
            "actor_id",
            "interaction_id",
            "before",
            "after",
            "reason",
            "occurred_at",
            "recorded_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_actor(self, obj) -> str:
        return obj.actor.get_username() if obj.actor_id else obj.actor_label

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_interaction_id(self, obj):
        return obj.interaction.public_id if obj.interaction_id else None


# --- Satisfaction ------------------------------------------------------------------------------------


class SatisfactionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    case_id = serializers.UUIDField(source="case.public_id", read_only=True)

    class Meta:
        model = SatisfactionSurvey
        fields = ["id", "case_id", "csat", "nps", "effort", "comment", "answered_at"]
        read_only_fields = fields


class SatisfactionInputSerializer(serializers.Serializer):
    csat = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True, default=None)
    nps = serializers.IntegerField(min_value=0, max_value=10, required=False, allow_null=True, default=None)
    effort = serializers.IntegerField(min_value=1, max_value=7, required=False, allow_null=True, default=None)
    comment = StrictCharField(required=False, allow_blank=True, default="", max_length=5000)
    answered_at = PastDateTimeField(required=False, allow_null=True, default=None)
