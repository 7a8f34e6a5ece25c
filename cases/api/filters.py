"""One FilterSet per resource, explicit `<fk>_id` filters, validated (a bad value is a 400)."""

from __future__ import annotations

import django_filters
from django import forms
from rest_framework.exceptions import ValidationError

from ..choices import AuthorKind, CaseEventKind, Channel, Direction, IdentityKind
from ..models import CaseEvent, Customer, Interaction, Queue
from ..normalization import IdentityValueError, normalize_identity

MAX_ID = 2**63 - 1


class StrictBooleanField(forms.NullBooleanField):
    """`true` or `false`; anything else is a 400 (Django's field reads junk as "unknown")."""

    widget = forms.TextInput

    def to_python(self, value):
        if value is None:  # parameter not given
            return None
        if value in (True, "true", "True"):
            return True
        if value in (False, "false", "False"):
            return False
        raise forms.ValidationError("Use true or false.")

    def validate(self, value):
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class StrictIntegerField(forms.IntegerField):
    """An integer; an empty value given explicitly (`?queue_id=`) is a 400, not "no filter"."""

    def to_python(self, value):
        if value == "":
            raise forms.ValidationError("Give a whole number.")
        return super().to_python(value)


class IdFilter(django_filters.NumberFilter):
    """A positive integer id (a 400 for anything else, however large)."""

    field_class = StrictIntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class KeysetOrderingFilter(django_filters.ChoiceFilter):
    """`ordering=field` or `-field`; the primary key breaks ties in the same direction, so the
    keyset paginator always has a total order."""

    def __init__(self, *args, fields: list[str], **kwargs):
        choices = [(name, name) for field in fields for name in (field, f"-{field}")]
        kwargs.setdefault("help_text", "Sort order (`-` for descending).")
        super().__init__(*args, choices=choices, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.order_by(value, "-id" if value.startswith("-") else "id")


class CustomerFilterSet(django_filters.FilterSet):
    search = django_filters.CharFilter(
        field_name="display_name", lookup_expr="icontains", help_text="Part of the display name."
    )
    segment = django_filters.CharFilter()
    is_vip = StrictBooleanFilter()
    identity = django_filters.CharFilter(
        method="filter_identity",
        help_text="`kind:value`, e.g. `email:ann@example.com` or `external:CRM-42` (normalized first).",
    )
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    ordering = KeysetOrderingFilter(fields=["created_at", "updated_at"])

    class Meta:
        model = Customer
        fields = ["search", "segment", "is_vip", "identity", "updated_since", "ordering"]

    def filter_identity(self, queryset, name, value):
        kind, _, raw = value.partition(":")
        if kind not in IdentityKind.values or not raw:
            raise ValidationError(
                {"identity": [f"Write kind:value, kind one of {', '.join(IdentityKind.values)}."]}
            )
        region = getattr(self.request, "accord_region", "US")
        try:
            normalized = normalize_identity(kind, raw, default_region=region)
        except IdentityValueError as exc:
            raise ValidationError({"identity": [str(exc)]}) from exc
        return queryset.filter(identities__kind=kind, identities__value=normalized)


class QueueFilterSet(django_filters.FilterSet):
    is_active = StrictBooleanFilter()
    channel = django_filters.ChoiceFilter(
        choices=Channel.choices, method="filter_channel", help_text="Queues taking this channel."
    )
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = Queue
        fields = ["is_active", "channel", "search"]

    def filter_channel(self, queryset, name, value):
        # JSON containment is not on SQLite; queues per client are few, so filter the ids in Python.
        ids = [pk for pk, channels in queryset.values_list("pk", "channels") if value in (channels or [])]
        return queryset.filter(pk__in=ids)


class InteractionFilterSet(django_filters.FilterSet):
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    direction = django_filters.MultipleChoiceFilter(choices=Direction.choices)
    author_kind = django_filters.MultipleChoiceFilter(choices=AuthorKind.choices)
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    external_id = django_filters.CharFilter()
    ordering = KeysetOrderingFilter(fields=["occurred_at"])

    class Meta:
        model = Interaction
        fields = ["channel", "direction", "author_kind", "occurred_after", "occurred_before", "external_id"]


class CaseEventFilterSet(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=CaseEventKind.choices)
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    ordering = KeysetOrderingFilter(fields=["occurred_at"])

    class Meta:
        model = CaseEvent
        fields = ["kind", "occurred_after", "occurred_before"]
