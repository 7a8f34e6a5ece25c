"""Admin for the SLA engine: calendars (intervals, holidays, JSON import/export, holiday
generation), policies with targets and history, read-only clocks, breaches and warnings, and
the case page extended with its clocks."""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from cases.admin import CaseAdmin
from cases.admin_lists import GrowingListMixin
from cases.admin_scoping import ClientScopedAdmin, ClientScopedMixin, ReadOnlyAdminMixin, scoped_filter
from cases.models import Case
from config.errors import ApplicationError

from . import services
from .models import (
    Breach,
    BusinessCalendar,
    CalendarInterval,
    CaseSLA,
    ClockEvent,
    Holiday,
    SLAClock,
    SLAPolicy,
    SLATarget,
    SLAWarning,
)


class CalendarIntervalInline(admin.TabularInline):
    model = CalendarInterval
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


class SpecImportForm(forms.Form):
    spec = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16, "cols": 90}), help_text="The calendar JSON spec."
    )

    def clean_spec(self):
        try:
            value = json.loads(self.cleaned_data["spec"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The spec is a JSON object.")
        return value


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    list_display = ["name", "client", "timezone", "is_24x7", "holiday_country", "holiday_count", "revision"]
    list_filter = [scoped_filter("client"), "is_24x7", "timezone"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    readonly_fields = ["revision", "spec_links"]
    inlines = [CalendarIntervalInline, HolidayInline]
    actions = ["generate_holidays"]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(holiday_total=Count("holidays"))

    @admin.display(description="holidays", ordering="holiday_total")
    def holiday_count(self, obj):
        return obj.holiday_total

    @admin.display(description="JSON spec")
    def spec_links(self, obj):
        if not obj.pk:
            return "-"
        return format_html(
            '<a href="{}">Export</a> · <a href="{}">Import</a>',
            reverse("admin:slas_businesscalendar_export", args=[obj.pk]),
            reverse("admin:slas_businesscalendar_import", args=[obj.pk]),
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        try:
            form.instance.compile()
        except Exception as exc:
            self.message_user(request, f"The calendar is not usable: {exc}", messages.ERROR)
        services.calendar_changed(calendar=form.instance, reason="edited in admin")

    def get_urls(self):
        return [
            path(
                "<int:pk>/export/",
                self.admin_site.admin_view(self.export_view),
                name="slas_businesscalendar_export",
            ),
            path(
                "<int:pk>/import/",
                self.admin_site.admin_view(self.import_view),
                name="slas_businesscalendar_import",
            ),
            *super().get_urls(),
        ]

    def _calendar(self, request, pk):
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def export_view(self, request, pk):
        calendar = self._calendar(request, pk)
        if not self.has_view_permission(request, calendar):
            return HttpResponse(status=403)
        response = HttpResponse(json.dumps(calendar.spec(), indent=2), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="calendar-{calendar.pk}.json"'
        return response

    def import_view(self, request, pk):
        calendar = self._calendar(request, pk)
        if not self.has_change_permission(request, calendar):
            return HttpResponse(status=403)
        form = SpecImportForm(request.POST or None, initial={"spec": json.dumps(calendar.spec(), indent=2)})
        if request.method == "POST" and form.is_valid():
            try:
                services.calendar_import_spec(
                    calendar=calendar, spec=form.cleaned_data["spec"], actor=request.user
                )
            except ApplicationError as exc:
                form.add_error("spec", exc.message)
            else:
                self.message_user(request, "Calendar imported.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:slas_businesscalendar_change", args=[calendar.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "calendar": calendar,
            "opts": self.model._meta,
            "title": f"Import spec into {calendar}",
        }
        return TemplateResponse(request, "admin/slas/calendar_import.html", context)

    @admin.action(
        description="Generate holidays (this year and next) from the calendar's country",
        permissions=["change"],
    )
    def generate_holidays(self, request, queryset):
        year = timezone.now().year
        for calendar in queryset:
            if not calendar.holiday_country:
                self.message_user(request, f"{calendar}: set a holiday country first.", messages.ERROR)
                continue
            try:
                added = services.calendar_generate_holidays(
                    calendar=calendar,
                    country=calendar.holiday_country,
                    subdivision=calendar.holiday_subdivision,
                    years=[year, year + 1],
                    actor=request.user,
                )
            except ApplicationError as exc:
                self.message_user(request, f"{calendar}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{calendar}: {added} holidays added.", messages.SUCCESS)


# Change control: an active policy and its targets are read-only here; changes to them are
# proposed, approved by a second person and applied at their effective time in the governance
# admin (SLA policy changes). Named by URL only: slas does not import governance.
PROPOSE_CHANGE_URL_NAME = "admin:governance_slapolicychange_add"


def _propose_change_url(policy) -> str | None:
    try:
        return f"{reverse(PROPOSE_CHANGE_URL_NAME)}?policy={policy.pk}"
    except NoReverseMatch:
        return None


class SLATargetInline(admin.TabularInline):
    model = SLATarget
    extra = 0

    def _editable(self, obj) -> bool:
        return obj is None or not obj.is_active

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(SLAPolicy)
class SLAPolicyAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    """Active policies are read-only (change control); a new policy is created inactive and is
    activated through a change proposal."""

    list_display = [
        "name",
        "client",
        "order",
        "is_active",
        "channels",
        "priorities",
        "calendar",
        "warning_percent",
    ]
    list_filter = [scoped_filter("client"), "is_active"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client", "calendar"]
    autocomplete_fields = ["client", "calendar"]
    filter_horizontal = ["queues"]
    inlines = [SLATargetInline]
    ordering = ["client__name", "order"]

    @admin.display(description="change control")
    def change_control(self, obj):
        url = _propose_change_url(obj) if obj is not None and obj.pk else None
        if obj is None or not obj.pk or not obj.is_active:
            return "New and inactive policies are edited here; activating one is a proposed change."
        if url is None:
            return "Active policies are changed through change control."
        return format_html(
            "This policy is active: it is changed by proposal and approval. "
            '<a class="button" href="{}">Propose a change</a>',
            url,
        )

    def get_readonly_fields(self, request, obj=None):
        return ["change_control", "is_active"]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_active:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_active:
            return False
        return super().has_delete_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if obj is not None and obj.is_active and request.method == "GET":
            url = _propose_change_url(obj)
            if url is not None:
                self.message_user(
                    request,
                    format_html(
                        'Active policies are not edited directly. <a href="{}">Propose a change</a>.', url
                    ),
                    messages.INFO,
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.is_active = False
        super().save_model(request, obj, form, change)


@admin.register(CaseSLA)
class CaseSLAAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_display = ["case", "client", "policy", "policy_version", "unmatched_reason", "last_event_at"]
    list_filter = [scoped_filter("client"), ("policy", admin.EmptyFieldListFilter)]
    search_fields = ["case__subject", "case__public_id", "unmatched_reason"]
    list_select_related = ["case", "client", "policy"]


class ClockStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("running", "Running"),
            ("paused", "Paused"),
            ("at_risk", "At risk"),
            ("breached", "Breached, running"),
            ("met", "Met"),
            ("missed", "Missed"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        running = {"stopped_at__isnull": True, "paused_since__isnull": True}
        if value == "running":
            return queryset.filter(**running, breached_at__isnull=True)
        if value == "paused":
            return queryset.filter(stopped_at__isnull=True, paused_since__isnull=False)
        if value == "at_risk":
            return queryset.filter(**running, warned_at__isnull=False, breached_at__isnull=True)
        if value == "breached":
            return queryset.filter(**running, breached_at__isnull=False)
        if value in ("met", "missed"):
            return queryset.filter(outcome=value)
        return queryset


class OverdueByFilter(admin.SimpleListFilter):
    title = "overdue by"
    parameter_name = "overdue"
    BUCKETS = {
        "1h": (timedelta(0), timedelta(hours=1)),
        "1d": (timedelta(hours=1), timedelta(days=1)),
        "more": (timedelta(days=1), None),
    }

    def lookups(self, request, model_admin):
        return [("1h", "Under an hour"), ("1d", "1 to 24 hours"), ("more", "Over a day")]

    def queryset(self, request, queryset):
        bucket = self.BUCKETS.get(self.value() or "")
        if bucket is None:
            return queryset
        now = timezone.now()
        low, high = bucket
        queryset = queryset.filter(stopped_at__isnull=True, due_at__lt=now - low)
        return queryset.filter(due_at__gte=now - high) if high is not None else queryset


@admin.register(SLAClock)
class SLAClockAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "started_at"
    list_display = [
        "__str__",
        "client",
        "metric",
        "state_label",
        "target_seconds",
        "started_at",
        "due_at",
        "breached_at",
        "stopped_at",
        "outcome",
    ]
    list_filter = [
        ClockStateFilter,
        OverdueByFilter,
        "metric",
        "outcome",
        scoped_filter("client"),
        ("breached_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["case__subject", "case__public_id"]
    list_select_related = ["client", "case"]

    @admin.display(description="state")
    def state_label(self, obj):
        return obj.state.replace("_", " ")


class ClockEventInline(admin.TabularInline):
    model = ClockEvent
    extra = 0
    fields = ["at", "clock", "kind", "detail", "reason"]
    readonly_fields = fields
    can_delete = False
    ordering = ["at", "id"]
    verbose_name_plural = "clock history (why every due time moved)"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("clock")


@admin.register(ClockEvent)
class ClockEventAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "at"
    list_display = ["at", "clock", "kind", "detail", "reason", "recorded_at"]
    list_filter = ["kind", scoped_filter("client")]
    search_fields = ["case__subject", "case__public_id", "reason"]
    list_select_related = ["clock"]


@admin.register(Breach)
class BreachAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "breached_at"
    list_display = [
        "__str__",
        "client",
        "metric",
        "priority",
        "channel",
        "breached_at",
        "age",
        "detected_by",
        "acknowledged_at",
        "voided_at",
    ]
    list_filter = [
        scoped_filter("client"),
        "metric",
        "channel",
        "priority",
        "detected_by",
        ("acknowledged_at", admin.EmptyFieldListFilter),
        ("voided_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["case__subject", "case__public_id"]
    list_select_related = ["client"]
    actions = ["acknowledge"]

    @admin.display(description="age")
    def age(self, obj):
        delta = timezone.now() - obj.breached_at
        return f"{delta.days} d {delta.seconds // 3600} h"

    def has_acknowledge_permission(self, request):
        return request.user.has_perm("slas.change_breach")

    @admin.action(description="Acknowledge", permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        count = 0
        for breach in queryset.filter(acknowledged_at__isnull=True):
            services.breach_acknowledge(breach=breach, actor=request.user)
            count += 1
        self.message_user(request, f"{count} breaches acknowledged.", messages.SUCCESS)


@admin.register(SLAWarning)
class SLAWarningAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "warned_at"
    list_display = ["__str__", "client", "metric", "warned_at", "detected_by"]
    list_filter = [scoped_filter("client"), "metric", "detected_by"]
    list_select_related = ["client"]


class SLAClockInline(admin.TabularInline):
    model = SLAClock
    extra = 0
    fields = [
        "metric",
        "cycle",
        "state_label",
        "target_seconds",
        "started_at",
        "due_at",
        "paused_seconds",
        "stopped_at",
        "outcome",
        "breached_at",
    ]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "SLA clocks"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="state")
    def state_label(self, obj):
        return obj.state.replace("_", " ")


admin.site.unregister(Case)


@admin.register(Case)
class CaseWithClocksAdmin(CaseAdmin):
    """The case admin with its SLA: the matched policy (or why none matched) and its clocks."""

    list_display = [*CaseAdmin.list_display, "sla_policy"]
    list_select_related = [*CaseAdmin.list_select_related, "sla__policy"]
    readonly_fields = ["sla_summary", *CaseAdmin.readonly_fields]
    inlines = [*CaseAdmin.inlines, SLAClockInline, ClockEventInline]

    @admin.display(description="SLA policy")
    def sla_policy(self, obj):
        sla = getattr(obj, "sla", None)
        if sla is None:
            return "-"
        return sla.policy.name if sla.policy else "no policy"

    @admin.display(description="SLA")
    def sla_summary(self, obj):
        try:
            sla = obj.sla
        except CaseSLA.DoesNotExist:
            return "No SLA state yet."
        if sla.policy is None:
            return format_html("<strong>No SLA policy applies.</strong> {}", sla.unmatched_reason)
        return f"{sla.policy.name} (version {sla.policy_version})"
