"""The governance console (admin).

- `/admin/governance/` is the console: what needs attention today in the user's clients
  (template `admin/governance/app_index.html`, tag `governance_attention`), then the models.
- Every governance model is client-scoped (`cases.admin_scoping`): lists, change pages by URL,
  filters and autocomplete show only the clients the user serves.
- Writes go through `governance.services`: add/change forms call a service while validating
  (a refusal shows on the form, nothing changes); workflow steps are admin actions, those that
  need a reason or data show an intermediate form (`admin/governance/action_form.html`).
- Two registered admins of other apps are extended here, explicitly:
  * the Breach admin (slas) gets the actions "Open a breach review from the selected breaches"
    and "Contest (open a dispute)", appended to its `actions` with their permission checks
    (`extend_breach_admin`);
  * the Case admin is re-registered as a subclass of the one registered before (slas'), adding
    the case's escalations inline and the "Escalate" action (manual escalation with a reason).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from django import forms as django_forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

import slas.admin  # noqa: F401 - the Breach and Case admins extended below are registered there
from cases.admin_actions import run_each
from cases.admin_scoping import (
    ClientScopedAdmin,
    ClientScopedMixin,
    PastVersionsReadOnlyMixin,
    ReadOnlyAdminMixin,
    scoped_filter,
)
from cases.models import Case
from config.errors import ApplicationError
from slas.models import Breach

from . import forms, services
from .choices import (
    ActionStatus,
    EscalationStatus,
    MeetingStatus,
    ReviewStatus,
)
from .models import (
    BreachDispute,
    BreachReview,
    BreachReviewItem,
    Contract,
    ContractTerm,
    CorrectiveAction,
    Escalation,
    EscalationRule,
    EscalationTier,
    Exclusion,
    GovernanceMeeting,
    GovernanceSettings,
    Risk,
    RootCause,
    RuleFiring,
    Scorecard,
    ScorecardLine,
    SLAPolicyChange,
)
from .policy_diff import policy_diff
from .selectors import corrective_actions_with_signals

# --- Helpers -------------------------------------------------------------------------------------------


def form_action(modeladmin, request, queryset, *, form_class, title: str, apply: Callable, label: str):
    """An admin action with an intermediate form: shown first, then on a valid POST `apply(obj,
    data)` runs for each selected object (or `apply(queryset, data)` when `label` is empty)."""
    if "apply" in request.POST:
        form = form_class(request.POST, request=request, queryset=queryset)
        if form.is_valid():
            if label:
                run_each(modeladmin, request, queryset, label, lambda obj: apply(obj, form.cleaned_data))
                return None
            try:
                return apply(queryset, form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                for field, errors in exc.field_errors.items():
                    if field in form.fields:
                        for error in errors:
                            form.add_error(field, error)
    else:
        form = form_class(request=request, queryset=queryset)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "opts": modeladmin.model._meta,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "select_across": request.POST.get("select_across", "0"),
    }
    return TemplateResponse(request, "admin/governance/action_form.html", context)


class OverdueFilter(admin.SimpleListFilter):
    """Due date passed while still owed."""

    title = "overdue"
    parameter_name = "overdue"
    open_statuses: tuple = ()
    field = "due_on"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request, queryset):
        today = timezone.now().date()
        overdue = Q(**{f"{self.field}__lt": today, "status__in": self.open_statuses})
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


class ReviewOverdueFilter(OverdueFilter):
    open_statuses = (ReviewStatus.OPEN, ReviewStatus.IN_PROGRESS)


class ActionOverdueFilter(OverdueFilter):
    open_statuses = (ActionStatus.PROPOSED, ActionStatus.IN_PROGRESS)


class RiskReviewDueFilter(OverdueFilter):
    title = "review due"
    field = "review_on"
    open_statuses = ("open", "mitigating", "accepted")


class ServiceFormAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    """Add/change through the form's service (see `governance.forms.ServiceModelForm`)."""

    add_fields: list[str] = []
    change_fields: list[str] = []

    def get_fields(self, request, obj=None):
        return self.change_fields if obj is not None else self.add_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def save_model(self, request, obj, form, change):
        """The form's service wrote the row already."""

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def has_delete_permission(self, request, obj=None):
        return False


# --- Settings, tiers, rules, root causes ---------------------------------------------------------------


@admin.register(GovernanceSettings)
class GovernanceSettingsAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    list_display = [
        "client",
        "auto_review_enabled",
        "review_due_days",
        "default_review_owner",
        "action_reminder_days_before",
        "overdue_reminder_every_days",
    ]
    list_filter = [scoped_filter("client"), "auto_review_enabled"]
    list_select_related = ["client", "default_review_owner"]
    autocomplete_fields = ["client"]


@admin.register(EscalationTier)
class EscalationTierAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    list_display = ["__str__", "client", "level", "acceptance_minutes", "calendar", "owner_list", "is_active"]
    list_filter = [scoped_filter("client"), "level", "is_active"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client", "calendar"]
    autocomplete_fields = ["client", "calendar"]
    filter_horizontal = ["owners", "queues"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("owners")

    @admin.display(description="acceptance target", ordering="acceptance_target_seconds")
    def acceptance_minutes(self, obj):
        return f"{obj.acceptance_target_seconds // 60} min"

    @admin.display(description="owners")
    def owner_list(self, obj):
        return ", ".join(u.get_username() for u in obj.owners.all())


@admin.register(EscalationRule)
class EscalationRuleAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    form = forms.EscalationRuleForm
    list_display = [
        "name",
        "client",
        "order",
        "trigger",
        "is_active",
        "tier_action",
        "move_to_queue",
        "raise_priority_to",
        "notify_owners",
    ]
    list_filter = [scoped_filter("client"), "trigger", "is_active", "tier_action"]
    list_editable = ["order", "is_active"]
    search_fields = ["name", "client__name"]
    list_select_related = ["client", "move_to_queue"]
    autocomplete_fields = ["client", "move_to_queue"]
    filter_horizontal = ["queues"]
    fieldsets = [
        (None, {"fields": ["client", "name", "order", "is_active", "trigger"]}),
        (
            "Conditions (empty: any)",
            {
                "fields": [
                    "channels",
                    "priorities",
                    "queues",
                    "metrics",
                    "sentiment_threshold",
                    "reopen_count",
                ]
            },
        ),
        (
            "Actions",
            {
                "fields": [
                    "tier_action",
                    "move_to_queue",
                    "raise_priority_to",
                    "notify_owners",
                    "stop_processing",
                ]
            },
        ),
    ]


@admin.register(RootCause)
class RootCauseAdmin(PastVersionsReadOnlyMixin, SimpleHistoryAdmin):
    list_display = ["__str__", "code", "parent", "is_active"]
    list_filter = ["is_active", ("parent", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "code", "parent__name"]
    list_select_related = ["parent"]
    ordering = ["code"]

    def has_delete_permission(self, request, obj=None):
        return False


# --- Escalations ---------------------------------------------------------------------------------------


class AcceptanceDueFilter(admin.SimpleListFilter):
    title = "acceptance"
    parameter_name = "acceptance"

    def lookups(self, request, model_admin):
        return [("late", "Awaiting, past the target"), ("waiting", "Awaiting, within the target")]

    def queryset(self, request, queryset):
        now = timezone.now()
        awaiting = queryset.filter(status=EscalationStatus.AWAITING)
        if self.value() == "late":
            return awaiting.filter(acceptance_clock__due_at__lt=now)
        if self.value() == "waiting":
            return awaiting.exclude(acceptance_clock__due_at__lt=now)
        return queryset


@admin.register(Escalation)
class EscalationAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "client",
        "trigger",
        "status",
        "tier",
        "created_at",
        "acceptance_due",
        "accepted_at",
        "turnaround",
        "requested",
    ]
    list_filter = [
        "status",
        "trigger",
        "to_tier",
        AcceptanceDueFilter,
        scoped_filter("client"),
        scoped_filter("tier"),
    ]
    search_fields = ["case__subject", "case__public_id", "reason"]
    list_select_related = ["client", "case", "tier", "rule", "requested_by", "acceptance_clock"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "client",
        "case",
        "sequence",
        "from_tier",
        "to_tier",
        "tier",
        "trigger",
        "rule",
        "requested_by",
        "reason",
        "context_summary_text",
        "from_channel",
        "handoff_channel",
        "from_queue",
        "status",
        "created_at",
        "accepted_at",
        "accepted_by",
        "closed_at",
        "closed_by",
        "close_reason",
        "acceptance_clock",
        "notified_at",
    ]
    exclude = ["context_summary"]
    actions = ["accept", "close", "deescalate"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_handle_permission(self, request):
        return request.user.has_perm("governance.change_escalation")

    @admin.display(description="context summary")
    def context_summary_text(self, obj):
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.context_summary)

    @admin.display(description="accept by", ordering="acceptance_clock__due_at")
    def acceptance_due(self, obj):
        return obj.acceptance_clock.due_at if obj.acceptance_clock else "-"

    @admin.display(description="turnaround")
    def turnaround(self, obj):
        seconds = obj.turnaround_seconds
        return "-" if seconds is None else f"{seconds // 60} min {seconds % 60} s"

    @admin.display(description="by")
    def requested(self, obj):
        return obj.rule.name if obj.rule else obj.requested_by

    @admin.action(description="Accept (the target tier takes it)", permissions=["handle"])
    def accept(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Accepted",
            lambda e: services.escalation_accept(escalation=e, actor=request.user),
        )

    @admin.action(description="Close (the tier's work is done)", permissions=["handle"])
    def close(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.ReasonForm,
            title="Close the selected escalations",
            label="Closed",
            apply=lambda e, data: services.escalation_close(
                escalation=e, actor=request.user, reason=data["reason"]
            ),
        )

    @admin.action(description="De-escalate (back to a lower tier)", permissions=["handle"])
    def deescalate(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.DeescalateForm,
            title="De-escalate the selected escalations",
            label="De-escalated",
            apply=lambda e, data: services.escalation_deescalate(
                escalation=e, actor=request.user, reason=data["reason"], to_tier=data.get("to_tier")
            ),
        )


@admin.register(RuleFiring)
class RuleFiringAdmin(ReadOnlyAdminMixin, ClientScopedAdmin):
    list_display = ["fired_at", "rule", "case", "trigger", "trigger_key", "escalation", "outcome"]
    list_filter = ["trigger", scoped_filter("client"), scoped_filter("rule")]
    search_fields = ["case__subject", "rule__name"]
    list_select_related = ["rule", "case", "escalation"]
    date_hierarchy = "fired_at"
    show_full_result_count = False


class EscalationInline(admin.TabularInline):
    model = Escalation
    fk_name = "case"
    extra = 0
    can_delete = False
    fields = ["sequence", "from_tier", "to_tier", "trigger", "status", "created_at", "accepted_at", "reason"]
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "escalations"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


_CaseAdminBase = type(admin.site._registry[Case])
admin.site.unregister(Case)


@admin.register(Case)
class CaseWithEscalationsAdmin(_CaseAdminBase):
    """The case admin (as registered before) with the case's escalations and manual escalation."""

    inlines = [*_CaseAdminBase.inlines, EscalationInline]
    actions = [*_CaseAdminBase.actions, "escalate"]

    def has_escalate_permission(self, request):
        return request.user.has_perm("governance.add_escalation")

    @admin.action(description="Escalate to a higher tier (with a reason)", permissions=["escalate"])
    def escalate(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.EscalateForm,
            title="Escalate the selected cases",
            label="Escalated",
            apply=lambda case, data: services.escalation_create(
                case=case,
                to_tier=data["to_tier"],
                reason=data["reason"],
                handoff_channel=data.get("handoff_channel") or "",
                move_to_queue=data.get("move_to_queue"),
                actor=request.user,
            ),
        )


# --- Breach reviews ------------------------------------------------------------------------------------


def _open_review(modeladmin, request, queryset):
    def apply(breaches, data):
        review = services.breach_review_open(
            breaches=list(breaches),
            actor=request.user,
            owner=data.get("owner"),
            due_on=data.get("due_on"),
            title=data.get("title") or "",
        )
        modeladmin.message_user(request, f"Review “{review}” opened.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:governance_breachreview_change", args=[review.pk]))

    return form_action(
        modeladmin,
        request,
        queryset,
        form_class=forms.OpenReviewForm,
        title="Open a breach review from the selected breaches",
        apply=apply,
        label="",
    )


_open_review.short_description = "Open a breach review from the selected breaches"
_open_review.allowed_permissions = ("open_review",)


def _contest(modeladmin, request, queryset):
    return form_action(
        modeladmin,
        request,
        queryset,
        form_class=forms.ContestForm,
        title="Contest the selected breaches",
        label="Disputes raised",
        apply=lambda breach, data: services.dispute_raise(
            breach=breach, actor=request.user, grounds=data["grounds"], evidence=data.get("evidence", "")
        ),
    )


_contest.short_description = "Contest (open a dispute)"
_contest.allowed_permissions = ("contest",)


def extend_breach_admin(site: admin.AdminSite = admin.site) -> None:
    """Add the governance actions to the Breach admin registered by slas: explicit, visible, and
    with their own permission checks (governance.add_breachreview / add_breachdispute)."""
    breach_admin = site._registry[Breach]
    if _open_review in breach_admin.actions:
        return
    breach_admin.actions = [*breach_admin.actions, _open_review, _contest]
    breach_admin.has_open_review_permission = lambda request: request.user.has_perm(
        "governance.add_breachreview"
    )
    breach_admin.has_contest_permission = lambda request: request.user.has_perm(
        "governance.add_breachdispute"
    )


extend_breach_admin()


class BreachReviewItemInline(admin.TabularInline):
    model = BreachReviewItem
    extra = 0
    can_delete = False
    fields = ["breach", "case_link", "metric", "priority", "breached_at", "added_at"]
    readonly_fields = fields
    verbose_name_plural = "breaches under review"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("breach__case")

    @admin.display(description="case")
    def case_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:cases_case_change", args=[obj.breach.case_id]),
            obj.breach.case,
        )

    @admin.display(description="metric")
    def metric(self, obj):
        return obj.breach.get_metric_display()

    @admin.display(description="priority")
    def priority(self, obj):
        return obj.breach.priority

    @admin.display(description="breached at")
    def breached_at(self, obj):
        return obj.breach.breached_at


class ReviewActionInline(admin.TabularInline):
    model = CorrectiveAction
    fk_name = "review"
    extra = 0
    can_delete = False
    fields = ["title", "owner", "due_on", "status"]
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "corrective actions raised"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BreachReview)
class BreachReviewAdmin(ServiceFormAdmin):
    form = forms.BreachReviewForm
    change_fields = ["title", "owner", "due_on", "root_cause", "findings"]
    readonly_fields = [
        "client",
        "queue",
        "kind",
        "status",
        "opened_at",
        "closed_at",
        "closed_by",
        "created_by",
    ]
    list_display = [
        "title",
        "client",
        "queue",
        "owner",
        "status",
        "due_on",
        "overdue",
        "root_cause",
        "breach_count",
        "opened_at",
    ]
    list_filter = [
        "status",
        ReviewOverdueFilter,
        "kind",
        scoped_filter("owner", in_use_only=True),
        scoped_filter("client"),
        scoped_filter("root_cause"),
    ]
    search_fields = ["title", "findings", "items__breach__case__subject"]
    list_select_related = ["client", "queue", "owner", "root_cause__parent"]
    autocomplete_fields = ["root_cause"]
    date_hierarchy = "opened_at"
    inlines = [BreachReviewItemInline, ReviewActionInline]
    actions = ["start", "close_review", "reopen", "raise_action"]

    def get_fields(self, request, obj=None):
        return [*self.change_fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status == ReviewStatus.CLOSED:
            return [*self.change_fields, *self.readonly_fields]
        return self.readonly_fields

    def get_queryset(self, request):
        from django.db.models import Count

        return (
            super().get_queryset(request).annotate(breach_total=Count("items")).order_by("-opened_at", "-id")
        )

    def has_add_permission(self, request):
        return False  # opened automatically, or from selected breaches (Breach admin action)

    @admin.display(description="breaches", ordering="breach_total")
    def breach_count(self, obj):
        return obj.breach_total

    @admin.display(description="overdue", boolean=True)
    def overdue(self, obj):
        return obj.is_overdue(timezone.now().date())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        extra_context["raise_action_url"] = (
            reverse("admin:governance_correctiveaction_add") + f"?review={object_id}"
        )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Start the analysis", permissions=["change"])
    def start(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Started",
            lambda r: services.breach_review_start(review=r, actor=request.user),
        )

    @admin.action(description="Close with root cause and findings", permissions=["change"])
    def close_review(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.CloseReviewForm,
            title="Close the selected reviews",
            label="Closed",
            apply=lambda r, data: services.breach_review_close(
                review=r,
                actor=request.user,
                root_cause=data.get("root_cause"),
                findings=data.get("findings") or None,
            ),
        )

    @admin.action(description="Reopen", permissions=["change"])
    def reopen(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.ReasonForm,
            title="Reopen the selected reviews",
            label="Reopened",
            apply=lambda r, data: services.breach_review_reopen(
                review=r, actor=request.user, reason=data["reason"]
            ),
        )

    def has_raise_action_permission(self, request):
        return request.user.has_perm("governance.add_correctiveaction")

    @admin.action(description="Raise a corrective action", permissions=["raise_action"])
    def raise_action(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.RaiseActionForm,
            title="Raise a corrective action from each selected review",
            label="Actions raised",
            apply=lambda r, data: services.corrective_action_raise(review=r, actor=request.user, **data),
        )


# --- Corrective actions --------------------------------------------------------------------------------


class RepeatBreachFilter(admin.SimpleListFilter):
    title = "repeat breach"
    parameter_name = "repeat"

    def lookups(self, request, model_admin):
        return [("yes", "Root cause came back")]

    def queryset(self, request, queryset):
        return queryset.filter(repeat_breach=True) if self.value() == "yes" else queryset


@admin.register(CorrectiveAction)
class CorrectiveActionAdmin(ServiceFormAdmin):
    form = forms.CorrectiveActionForm
    add_fields = [
        "client",
        "review",
        "meeting",
        "title",
        "description",
        "owner",
        "due_on",
        "root_cause",
        "queue",
    ]
    change_fields = ["title", "description", "owner", "due_on", "root_cause"]
    readonly_after = [
        "client",
        "status",
        "review",
        "meeting",
        "queue",
        "created_by",
        "created_at",
        "started_at",
        "done_at",
        "verified_at",
        "verified_by",
        "verification_notes",
        "cancelled_at",
        "cancel_reason",
        "linked_breaches",
        "repeat_breach_signal",
    ]
    list_display = [
        "title",
        "client",
        "owner",
        "status",
        "due_on",
        "overdue",
        "root_cause",
        "review",
        "repeat_breach_signal",
    ]
    list_filter = [
        "status",
        ActionOverdueFilter,
        RepeatBreachFilter,
        scoped_filter("owner", in_use_only=True),
        scoped_filter("client"),
        scoped_filter("root_cause"),
    ]
    search_fields = ["title", "description", "verification_notes"]
    list_select_related = ["client", "owner", "root_cause__parent", "review"]
    autocomplete_fields = ["client", "review", "meeting", "root_cause", "queue"]
    date_hierarchy = "due_on"
    actions = ["start", "complete", "verify", "not_effective", "cancel"]

    def get_fields(self, request, obj=None):
        return [*self.change_fields, *self.readonly_after] if obj is not None else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status not in (ActionStatus.PROPOSED, ActionStatus.IN_PROGRESS):
            return [*self.change_fields, *self.readonly_after]
        return self.readonly_after

    def get_queryset(self, request):
        return corrective_actions_with_signals(super().get_queryset(request)).prefetch_related("breaches")

    @admin.display(description="overdue", boolean=True)
    def overdue(self, obj):
        return obj.is_overdue(timezone.now().date())

    @admin.display(description="repeat breach", boolean=True, ordering="repeat_breach")
    def repeat_breach_signal(self, obj):
        return bool(getattr(obj, "repeat_breach", False))

    @admin.display(description="breaches")
    def linked_breaches(self, obj):
        return (
            format_html_join(
                ", ",
                '<a href="{}">{}</a>',
                ((reverse("admin:slas_breach_change", args=[b.pk]), b) for b in obj.breaches.all()),
            )
            or "-"
        )

    def _step(self, request, queryset, to: str, label: str):
        run_each(
            self,
            request,
            queryset,
            label,
            lambda a: services.corrective_action_transition(action=a, to=to, actor=request.user),
        )

    @admin.action(description="Start (in progress)", permissions=["change"])
    def start(self, request, queryset):
        self._step(request, queryset, ActionStatus.IN_PROGRESS, "Started")

    @admin.action(description="Mark done", permissions=["change"])
    def complete(self, request, queryset):
        self._step(request, queryset, ActionStatus.DONE, "Done")

    def _noted(self, request, queryset, to: str, title: str, label: str):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.ReasonForm,
            title=title,
            label=label,
            apply=lambda a, data: services.corrective_action_transition(
                action=a, to=to, actor=request.user, note=data["reason"]
            ),
        )

    @admin.action(description="Verify effective (with notes)", permissions=["change"])
    def verify(self, request, queryset):
        return self._noted(request, queryset, ActionStatus.VERIFIED, "Verify the effectiveness", "Verified")

    @admin.action(description="Not effective: back to in progress", permissions=["change"])
    def not_effective(self, request, queryset):
        return self._noted(
            request, queryset, ActionStatus.IN_PROGRESS, "Why was the action not effective?", "Sent back"
        )

    @admin.action(description="Cancel (with a reason)", permissions=["change"])
    def cancel(self, request, queryset):
        return self._noted(
            request, queryset, ActionStatus.CANCELLED, "Cancel the selected actions", "Cancelled"
        )


# --- Meetings ------------------------------------------------------------------------------------------


class MeetingActionForm(forms.ServiceModelForm):
    class Meta:
        model = CorrectiveAction
        fields = ["title", "owner", "due_on"]

    def call_service(self, data):
        return services.corrective_action_raise(
            meeting=self.instance.meeting,
            actor=self.user,
            title=data["title"],
            owner=data["owner"],
            due_on=data["due_on"],
        )


class MeetingActionInline(ClientScopedMixin, admin.TabularInline):
    """Actions raised in the meeting: existing ones read-only, new rows raised through the
    service."""

    model = CorrectiveAction
    fk_name = "meeting"
    form = MeetingActionForm
    client_lookup = "client"
    extra = 1
    can_delete = False
    fields = ["title", "owner", "due_on"]
    show_change_link = True
    verbose_name_plural = "actions raised in this meeting"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.request = request
        return formset

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return obj is not None and request.user.has_perm("governance.add_correctiveaction")


@admin.register(GovernanceMeeting)
class GovernanceMeetingAdmin(ServiceFormAdmin):
    form = forms.MeetingForm
    add_fields = ["client", "kind", "title", "scheduled_for", "chair", "attendees"]
    change_fields = [
        "attendees",
        "external_attendees",
        "minutes",
        "decisions",
        "governance_rating",
        "rating_notes",
    ]
    readonly_after = ["client", "kind", "title", "scheduled_for", "chair", "status", "held_at", "agenda_view"]
    list_display = ["__str__", "client", "kind", "scheduled_for", "status", "governance_rating", "chair"]
    list_filter = ["kind", "status", "governance_rating", scoped_filter("client")]
    search_fields = ["title", "minutes", "decisions"]
    list_select_related = ["client", "chair"]
    autocomplete_fields = ["client"]
    date_hierarchy = "scheduled_for"
    inlines = [MeetingActionInline]
    actions = ["rebuild_agenda", "cancel"]

    def get_fields(self, request, obj=None):
        return [*self.readonly_after, *self.change_fields] if obj is not None else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status == MeetingStatus.CANCELLED:
            return [*self.readonly_after, *self.change_fields]
        return self.readonly_after

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "attendees":
            from django import forms as django_forms

            kwargs["widget"] = django_forms.CheckboxSelectMultiple
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_formset(self, request, form, formset, change):
        if formset.model is CorrectiveAction:
            # The inline forms' service raised the new actions already.
            formset.new_objects = [
                f.instance for f in formset.extra_forms if f.has_changed() and f.instance.pk
            ]
            formset.changed_objects, formset.deleted_objects = [], []
            return
        super().save_formset(request, form, formset, change)

    @admin.display(description="agenda")
    def agenda_view(self, obj):
        return render_to_string(
            "admin/governance/meeting_agenda.html", {"meeting": obj, "agenda": obj.agenda}
        )

    @admin.action(description="Rebuild the agenda from the latest figures", permissions=["change"])
    def rebuild_agenda(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Agendas rebuilt",
            lambda m: services.meeting_agenda_build(meeting=m, actor=request.user),
        )

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.ReasonForm,
            title="Cancel the selected meetings",
            label="Cancelled",
            apply=lambda m, data: services.meeting_cancel(
                meeting=m, actor=request.user, reason=data["reason"]
            ),
        )


# --- Risks ---------------------------------------------------------------------------------------------


@admin.register(Risk)
class RiskAdmin(ServiceFormAdmin):
    form = forms.RiskForm
    add_fields = [
        "client",
        "title",
        "description",
        "likelihood",
        "impact",
        "owner",
        "mitigation",
        "review_on",
    ]
    change_fields = [
        "title",
        "description",
        "likelihood",
        "impact",
        "owner",
        "mitigation",
        "review_on",
        "status",
    ]
    list_display = ["title", "client", "score", "level", "owner", "status", "review_on", "review_due"]
    list_filter = [
        "status",
        RiskReviewDueFilter,
        scoped_filter("owner", in_use_only=True),
        scoped_filter("client"),
    ]
    search_fields = ["title", "description", "mitigation"]
    list_select_related = ["client", "owner"]
    autocomplete_fields = ["client"]

    def get_fields(self, request, obj=None):
        return (
            [*self.change_fields, "raised_by", "raised_at", "closed_at"]
            if obj is not None
            else self.add_fields
        )

    def get_readonly_fields(self, request, obj=None):
        return ["raised_by", "raised_at", "closed_at"] if obj is not None else []

    def get_queryset(self, request):
        return super().get_queryset(request).with_score()

    @admin.display(description="score (L x I)", ordering="score_value")
    def score(self, obj):
        return obj.score

    @admin.display(description="review due", boolean=True)
    def review_due(self, obj):
        return obj.status != "closed" and obj.review_on <= timezone.now().date()


# --- Exclusions and disputes ---------------------------------------------------------------------------


@admin.register(Exclusion)
class ExclusionAdmin(ServiceFormAdmin):
    form = forms.ExclusionForm
    add_fields = [
        "client",
        "scope",
        "clock",
        "case",
        "starts_at",
        "ends_at",
        "reason_kind",
        "reason",
        "evidence",
    ]
    readonly_after = [
        *add_fields,
        "status",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
        "decision_note",
    ]
    list_display = ["__str__", "client", "scope", "status", "proposed_by", "proposed_at", "decided_by"]
    list_filter = ["status", "scope", "reason_kind", scoped_filter("client")]
    search_fields = ["reason", "evidence"]
    list_select_related = ["client", "proposed_by", "decided_by"]
    autocomplete_fields = ["client", "clock", "case"]
    actions = ["approve", "reject", "withdraw"]

    def get_fields(self, request, obj=None):
        return self.readonly_after if obj is not None else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_after if obj is not None else []

    @admin.action(description="Approve (a second person)", permissions=["change"])
    def approve(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.OptionalNoteForm,
            title="Approve the selected exclusions",
            label="Approved",
            apply=lambda x, data: services.exclusion_decide(
                exclusion=x, actor=request.user, approve=True, note=data.get("reason", "")
            ),
        )

    @admin.action(description="Reject (with a reason)", permissions=["change"])
    def reject(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.ReasonForm,
            title="Reject the selected exclusions",
            label="Rejected",
            apply=lambda x, data: services.exclusion_decide(
                exclusion=x, actor=request.user, approve=False, note=data["reason"]
            ),
        )

    @admin.action(description="Withdraw my proposal", permissions=["add"])
    def withdraw(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Withdrawn",
            lambda x: services.exclusion_withdraw(exclusion=x, actor=request.user),
        )


@admin.register(BreachDispute)
class BreachDisputeAdmin(ServiceFormAdmin):
    form = forms.DisputeForm
    add_fields = ["breach", "grounds", "evidence"]
    readonly_after = [
        "client",
        *add_fields,
        "status",
        "raised_by",
        "raised_at",
        "decided_by",
        "decided_at",
        "decision_reason",
    ]
    list_display = ["__str__", "client", "status", "raised_by", "raised_at", "decided_by", "decided_at"]
    list_filter = ["status", scoped_filter("client")]
    search_fields = ["grounds", "decision_reason", "breach__case__subject"]
    list_select_related = ["client", "breach", "raised_by", "decided_by"]
    autocomplete_fields = ["breach"]
    actions = ["decide", "withdraw"]

    def get_fields(self, request, obj=None):
        return self.readonly_after if obj is not None else self.add_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_after if obj is not None else []

    @admin.action(description="Decide: accept, waive or uphold (a second person)", permissions=["change"])
    def decide(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.DisputeDecisionForm,
            title="Decide the selected disputes",
            label="Decided",
            apply=lambda d, data: services.dispute_decide(
                dispute=d, actor=request.user, outcome=data["outcome"], reason=data["reason"]
            ),
        )

    @admin.action(description="Withdraw my dispute", permissions=["add"])
    def withdraw(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Withdrawn",
            lambda d: services.dispute_withdraw(dispute=d, actor=request.user),
        )


# --- SLA policy change control -------------------------------------------------------------------------


@admin.register(SLAPolicyChange)
class SLAPolicyChangeAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    """Proposals: add one from a policy (`?policy=<id>`; without it, a chooser), see its diff and
    what-if, approve or reject (another governance user), withdraw (the proposer)."""

    list_display = [
        "__str__",
        "client",
        "status",
        "effective_at",
        "proposed_by",
        "decided_by",
        "applied_at",
        "whatif_summary",
    ]
    list_filter = ["status", scoped_filter("client")]
    search_fields = ["reason", "policy__name"]
    list_select_related = ["client", "policy", "proposed_by", "decided_by"]
    readonly_fields = [
        "client",
        "policy",
        "status",
        "reason",
        "effective_at",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "applied_at",
        "base_version",
        "result_version",
        "diff_view",
        "whatif_view",
    ]
    exclude = ["base", "proposed", "whatif", "whatif_computed_at"]
    actions = ["approve", "reject", "withdraw", "refresh_whatif"]

    def has_change_permission(self, request, obj=None):
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_decide_permission(self, request):
        return request.user.has_perm("governance.change_slapolicychange")

    def _policy(self, request):
        policy_id = request.POST.get("policy") or request.GET.get("policy")
        if not policy_id or not str(policy_id).isdigit():
            return None
        return forms.policies_for(request.user).filter(pk=policy_id).first()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        policy = self._policy(request)

        class BoundPolicyChangeForm(forms.PolicyChangeForm):
            def __init__(self, *args, **inner):
                inner["policy"] = policy
                super().__init__(*args, **inner)

        BoundPolicyChangeForm.request = request
        return BoundPolicyChangeForm

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return [(None, {"fields": self.readonly_fields})]
        from cases.choices import Priority
        from slas.models import ENGINE_METRICS

        return [
            (None, {"fields": ["policy", "reason", "effective_at"]}),
            (
                "Proposed policy",
                {
                    "fields": [
                        "name",
                        "order",
                        "is_active",
                        "channels",
                        "priorities",
                        "segments",
                        "queues",
                        "calendar",
                        "warning_percent",
                        *[f"pause__{metric}" for metric in ENGINE_METRICS],
                    ]
                },
            ),
            (
                "Targets in seconds (blank: no target)",
                {
                    "fields": [
                        tuple(forms.target_field_name(metric, priority) for priority in Priority.values)
                        for metric in ENGINE_METRICS
                    ]
                },
            ),
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def add_view(self, request, form_url="", extra_context=None):
        if self._policy(request) is None:
            context = {
                **self.admin_site.each_context(request),
                "title": "Propose a change to which SLA policy?",
                "opts": self.model._meta,
                "policies": forms.policies_for(request.user),
            }
            return TemplateResponse(request, "admin/governance/slapolicychange/choose_policy.html", context)
        return super().add_view(request, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """The proposal service wrote the row."""

    def save_related(self, request, form, formsets, change):
        """Nothing related to save."""

    @admin.display(description="what-if")
    def whatif_summary(self, obj):
        w = obj.whatif or {}
        if not w:
            return "-"
        return f"{w.get('met_to_missed', 0)} met→missed, {w.get('missed_to_met', 0)} missed→met"

    @admin.display(description="changes")
    def diff_view(self, obj):
        return render_to_string(
            "admin/governance/slapolicychange/diff.html", {"lines": _diff_lines(obj.base, obj.proposed)}
        )

    @admin.display(description="what-if (replay of the last days)")
    def whatif_view(self, obj):
        return render_to_string("admin/governance/slapolicychange/whatif.html", {"whatif": obj.whatif or {}})

    @admin.action(description="Approve (a second governance user)", permissions=["decide"])
    def approve(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.OptionalNoteForm,
            title="Approve the selected SLA policy changes",
            label="Approved",
            apply=lambda c, data: services.policy_change_approve(
                change=c, actor=request.user, note=data.get("reason", "")
            ),
        )

    @admin.action(description="Reject (with a reason)", permissions=["decide"])
    def reject(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.ReasonForm,
            title="Reject the selected SLA policy changes",
            label="Rejected",
            apply=lambda c, data: services.policy_change_reject(
                change=c, actor=request.user, note=data["reason"]
            ),
        )

    @admin.action(description="Withdraw my proposal", permissions=["add"])
    def withdraw(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Withdrawn",
            lambda c: services.policy_change_withdraw(change=c, actor=request.user),
        )

    @admin.action(description="Recompute the what-if", permissions=["decide"])
    def refresh_whatif(self, request, queryset):
        run_each(
            self, request, queryset, "Recomputed", lambda c: services.policy_change_whatif_refresh(change=c)
        )


def _diff_lines(base: dict, proposed: dict) -> list[dict]:
    """The diff with queue and calendar ids shown by name."""
    from cases.models import Queue
    from slas.models import BusinessCalendar

    lines = [line.as_dict() for line in policy_diff(base or {}, proposed or {})]
    queue_ids = {
        q for line in lines if line["field"] == "queues" for q in (line["old"] or []) + (line["new"] or [])
    }
    calendar_ids = {line[k] for line in lines if line["field"] == "calendar" for k in ("old", "new")}
    queues = dict(Queue.objects.filter(pk__in=queue_ids).values_list("pk", "name"))
    calendars = dict(BusinessCalendar.objects.filter(pk__in=calendar_ids).values_list("pk", "name"))
    for line in lines:
        if line["field"] == "queues":
            line["old"] = [queues.get(q, q) for q in line["old"] or []]
            line["new"] = [queues.get(q, q) for q in line["new"] or []]
        elif line["field"] == "calendar":
            line["old"], line["new"] = (
                calendars.get(line["old"], line["old"]),
                calendars.get(line["new"], line["new"]),
            )
    return lines


# --- Contracts and scorecards --------------------------------------------------------------------------


class ContractTermFormSet(BaseInlineFormSet):
    """A contract's terms, checked as a whole: each against the client's other terms (the model
    reads the client, set here from the contract before validation) and against each other."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.instance.client_id = self.instance.client_id
        return form

    def clean(self):
        super().clean()
        seen: list[tuple[tuple, date, date]] = []
        for form in self.forms:
            if not form.is_valid() or self._should_delete_form(form) or not form.cleaned_data:
                continue
            data = form.cleaned_data
            key = (data.get("kpi"), data.get("channel") or "")
            start, end = data.get("effective_from") or date.min, data.get("effective_to") or date.max
            if any(key == k and start <= e and s <= end for k, s, e in seen):
                raise django_forms.ValidationError(
                    "Two of these terms for the same KPI and channel are in force over part of the "
                    "same period: the scorecard would count that KPI twice."
                )
            seen.append((key, start, end))


class ContractTermInline(ClientScopedMixin, admin.StackedInline):
    model = ContractTerm
    formset = ContractTermFormSet
    extra = 0
    fields = [
        "kpi",
        "channel",
        "threshold_seconds",
        "comparator",
        "target",
        "weight",
        "credit_mode",
        "credit_bands",
        "credit_per_point_percent",
        "credit_cap_percent",
        "bonus_per_point_percent",
        "bonus_cap_percent",
        "earn_back_months",
        "effective_from",
        "effective_to",
    ]


@admin.register(Contract)
class ContractAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    list_display = [
        "client",
        "reference",
        "monthly_fee",
        "currency",
        "credit_cap_percent",
        "bonus_cap_percent",
    ]
    list_filter = [scoped_filter("client")]
    search_fields = ["client__name", "reference"]
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    inlines = [ContractTermInline]

    def save_formset(self, request, form, formset, change):
        for term in formset.save(commit=False):
            term.client_id = form.instance.client_id
            term.save()
        for term in formset.deleted_objects:
            term.delete()


@admin.register(ContractTerm)
class ContractTermAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    list_display = [
        "__str__",
        "client",
        "kpi",
        "channel",
        "target",
        "weight",
        "effective_from",
        "effective_to",
    ]
    list_filter = ["kpi", "channel", "comparator", "credit_mode", scoped_filter("client")]
    search_fields = ["client__name"]
    list_select_related = ["client"]
    autocomplete_fields = ["client", "contract"]


class ScorecardLineInline(ClientScopedMixin, admin.TabularInline):
    model = ScorecardLine
    client_lookup = "scorecard__client"
    extra = 0
    can_delete = False
    fields = readonly_fields = list(ScorecardLine.REPORTED_FIELDS)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Scorecard)
class ScorecardAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    list_display = [
        "client",
        "period",
        "status",
        "score_percent",
        "credit_total",
        "bonus_total",
        "earned_back_total",
        "currency",
        "computed_at",
    ]
    list_filter = ["status", "period", scoped_filter("client")]
    search_fields = ["client__name"]
    list_select_related = ["client"]
    date_hierarchy = "period"
    inlines = [ScorecardLineInline]
    actions = ["recompute", "freeze", "reopen"]
    readonly_fields = [
        "client",
        "period",
        "status",
        "monthly_fee",
        "currency",
        "credit_total",
        "bonus_total",
        "earned_back_total",
        "score_percent",
        "computed_at",
        "frozen_at",
        "frozen_by",
        "page",
    ]
    exclude = ["data"]

    def has_add_permission(self, request):
        return False  # computed by `recompute` or the monthly task, never typed in

    def has_delete_permission(self, request, obj=None):
        return False

    def has_run_permission(self, request):
        return request.user.has_perm("governance.change_scorecard")

    @admin.display(description="scorecard page")
    def page(self, obj):
        url = reverse("reporting:scorecard", args=[obj.client.slug, obj.period.strftime("%Y-%m")])
        return format_html('<a href="{}">open</a> · <a href="{}?format=csv">CSV</a>', url, url)

    @admin.action(description="Recompute (draft scorecards)", permissions=["run"])
    def recompute(self, request, queryset):
        run_each(
            self,
            request,
            queryset.select_related("client"),
            "Recomputed",
            lambda s: services.scorecard_compute(client=s.client, period=s.period, actor=request.user),
        )

    @admin.action(description="Freeze", permissions=["run"])
    def freeze(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Frozen",
            lambda s: services.scorecard_freeze(scorecard=s, actor=request.user),
        )

    @admin.action(description="Reopen a frozen scorecard (with a reason)", permissions=["run"])
    def reopen(self, request, queryset):
        return form_action(
            self,
            request,
            queryset,
            form_class=forms.ReasonForm,
            title="Reopen the selected scorecards",
            label="Reopened",
            apply=lambda s, data: services.scorecard_reopen(
                scorecard=s, actor=request.user, reason=data["reason"]
            ),
        )
