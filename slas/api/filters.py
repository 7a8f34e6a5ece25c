"""FilterSets of cases (with SLA state), clocks, breaches and policies."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q

from cases.api.filters import IdFilter, KeysetOrderingFilter, StrictBooleanFilter
from cases.choices import CaseStatus, Channel, Priority
from cases.models import Case

from ..models import Breach, Metric, SLAClock, SLAPolicy


def _breached_clocks():
    return SLAClock.objects.filter(case_id=OuterRef("pk"), breached_at__isnull=False)


def _at_risk_clocks():
    return SLAClock.objects.filter(
        case_id=OuterRef("pk"), stopped_at__isnull=True, warned_at__isnull=False, breached_at__isnull=True
    )


class CaseFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=CaseStatus.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    channel = django_filters.MultipleChoiceFilter(
        field_name="current_channel", choices=Channel.choices, help_text="Current channel."
    )
    origin_channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    queue_id = IdFilter(field_name="queue_id")
    assignee_id = IdFilter(field_name="assignee_id")
    unassigned = StrictBooleanFilter(field_name="assignee", lookup_expr="isnull")
    customer_id = django_filters.UUIDFilter(field_name="customer__public_id")
    external_id = django_filters.CharFilter()
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    opened_after = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")
    sla_state = django_filters.ChoiceFilter(
        choices=[
            ("breached", "A clock is breached"),
            ("at_risk", "A running clock passed its warning, none breached"),
            ("no_policy", "No SLA policy matched"),
        ],
        method="filter_sla_state",
    )
    search = django_filters.CharFilter(
        method="filter_search", help_text="Part of the subject, or the external id."
    )
    ordering = KeysetOrderingFilter(fields=["opened_at", "updated_at", "last_activity_at"])

    class Meta:
        model = Case
        fields = [
            "status",
            "priority",
            "channel",
            "origin_channel",
            "queue_id",
            "assignee_id",
            "unassigned",
            "customer_id",
            "external_id",
            "updated_since",
            "opened_after",
            "opened_before",
            "sla_state",
            "search",
            "ordering",
        ]

    def filter_sla_state(self, queryset, name, value):
        if value == "breached":
            return queryset.filter(Exists(_breached_clocks()))
        if value == "at_risk":
            return queryset.filter(Exists(_at_risk_clocks())).exclude(Exists(_breached_clocks()))
        return queryset.filter(Q(sla__isnull=True) | Q(sla__policy__isnull=True))

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(subject__icontains=value) | Q(external_id=value))


CLOCK_STATES = ["running", "paused", "at_risk", "breached", "met", "missed"]


class SLAClockFilterSet(django_filters.FilterSet):
    metric = django_filters.MultipleChoiceFilter(choices=Metric.choices)
    case_id = django_filters.UUIDFilter(field_name="case__public_id")
    state = django_filters.ChoiceFilter(choices=[(s, s) for s in CLOCK_STATES], method="filter_state")
    due_after = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="lt")
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    ordering = KeysetOrderingFilter(fields=["started_at"])

    class Meta:
        model = SLAClock
        fields = ["metric", "case_id", "state", "due_after", "due_before", "started_after", "ordering"]

    def filter_state(self, queryset, name, value):
        running = Q(stopped_at__isnull=True)
        return queryset.filter(
            {
                "running": running & Q(paused_since__isnull=True),
                "paused": running & Q(paused_since__isnull=False),
                "at_risk": running & Q(warned_at__isnull=False, breached_at__isnull=True),
                "breached": Q(breached_at__isnull=False),
                "met": Q(outcome="met"),
                "missed": Q(outcome="missed"),
            }[value]
        )


class BreachFilterSet(django_filters.FilterSet):
    metric = django_filters.MultipleChoiceFilter(choices=Metric.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    case_id = django_filters.UUIDFilter(field_name="case__public_id")
    queue_id = IdFilter(field_name="case__queue_id")
    breached_since = django_filters.IsoDateTimeFilter(field_name="breached_at", lookup_expr="gte")
    breached_before = django_filters.IsoDateTimeFilter(field_name="breached_at", lookup_expr="lt")
    acknowledged = StrictBooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", exclude=True)
    voided = StrictBooleanFilter(field_name="voided_at", lookup_expr="isnull", exclude=True)
    ordering = KeysetOrderingFilter(fields=["breached_at", "detected_at"])

    class Meta:
        model = Breach
        fields = [
            "metric",
            "priority",
            "channel",
            "case_id",
            "queue_id",
            "breached_since",
            "breached_before",
            "acknowledged",
            "voided",
            "ordering",
        ]


class SLAPolicyFilterSet(django_filters.FilterSet):
    is_active = StrictBooleanFilter()

    class Meta:
        model = SLAPolicy
        fields = ["is_active"]
