"""Admin for the case domain. Case state changes go through `cases.services` (actions); the
case itself is read-only here, its timeline is its audit."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from simple_history.admin import SimpleHistoryAdmin

from config.errors import ApplicationError

from . import services
from .admin_actions import run_each
from .admin_lists import GrowingListMixin, fixed_values_filter
from .admin_scoping import ClientScopedAdmin, ClientScopedMixin, ReadOnlyAdminMixin, scoped_filter
from .choices import Role
from .models import (
    Attachment,
    Case,
    CaseEvent,
    Client,
    Customer,
    CustomerIdentity,
    Interaction,
    Queue,
    SatisfactionSurvey,
)
from .normalization import IdentityValueError, normalize_identity


@admin.register(Client)
class ClientAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    client_lookup = "pk"
    list_display = ["name", "slug", "timezone", "default_region", "continuation_window_hours", "is_active"]
    list_filter = ["is_active", "timezone"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["staff"]


class IdentityInlineForm(forms.ModelForm):
    class Meta:
        model = CustomerIdentity
        fields = ["kind", "value"]

    def clean(self):
        cleaned = super().clean()
        customer = (
            self.instance.customer if self.instance.customer_id else getattr(self, "parent_customer", None)
        )
        region = customer.client.default_region if customer is not None and customer.client_id else "US"
        kind, value = cleaned.get("kind"), cleaned.get("value")
        if kind and value:
            try:
                cleaned["value"] = normalize_identity(kind, value, default_region=region)
            except IdentityValueError as exc:
                self.add_error("value", str(exc))
        return cleaned


class IdentityInline(admin.TabularInline):
    model = CustomerIdentity
    form = IdentityInlineForm
    extra = 1
    fields = ["kind", "value", "created_at"]
    readonly_fields = ["created_at"]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.parent_customer = obj
        return formset


class MergeCustomersForm(forms.Form):
    reason = forms.CharField(max_length=500)


@admin.register(Customer)
class CustomerAdmin(GrowingListMixin, ClientScopedMixin, SimpleHistoryAdmin):
    list_date_field = "created_at"
    list_display = [
        "__str__",
        "client",
        "segment",
        "is_vip",
        "language",
        "case_count",
        "merged_into",
        "created_at",
    ]
    list_filter = [scoped_filter("client"), "segment", "is_vip", "language"]
    search_fields = ["display_name", "identities__value", "public_id"]
    list_select_related = ["client", "merged_into"]
    autocomplete_fields = ["client"]
    readonly_fields = ["public_id", "merged_into", "created_at", "updated_at"]
    inlines = [IdentityInline]
    actions = ["merge_selected"]

    def get_queryset(self, request):
        # A count per listed customer (the page's rows, by the case table's customer index), not
        # a join of every customer with every case grouped back.
        cases = Case.objects.filter(customer=OuterRef("pk")).order_by().values("customer")
        return (
            super()
            .get_queryset(request)
            .annotate(case_total=Coalesce(Subquery(cases.annotate(count=Count("pk")).values("count")), 0))
        )

    @admin.display(description="cases", ordering="case_total")
    def case_count(self, obj):
        return obj.case_total

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            inline_form.instance.client_id = form.instance.client_id
        super().save_formset(request, form, formset, change)

    @admin.action(
        description="Merge the two selected customers (the older one survives)", permissions=["change"]
    )
    def merge_selected(self, request, queryset):
        customers = list(queryset.order_by("created_at", "pk"))
        if len(customers) != 2:
            self.message_user(request, "Select exactly two customers to merge.", messages.ERROR)
            return
        survivor, merged = customers
        try:
            services.customers_merge(
                survivor=survivor,
                merged=merged,
                actor=request.user,
                reason=f"merged in admin by {request.user}",
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"{merged} was merged into {survivor}.", messages.SUCCESS)


@admin.register(CustomerIdentity)
class CustomerIdentityAdmin(ReadOnlyAdminMixin, ClientScopedAdmin):
    list_display = ["kind", "value", "customer", "client", "created_at"]
    list_filter = ["kind", scoped_filter("client")]
    search_fields = ["value"]
    list_select_related = ["customer", "client"]


@admin.register(Queue)
class QueueAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    list_display = ["name", "client", "slug", "channel_list", "default_tier", "is_active"]
    list_filter = [scoped_filter("client"), "is_active", "default_tier"]
    search_fields = ["name", "slug", "client__name"]
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    filter_horizontal = ["agents", "supervisors"]

    @admin.display(description="channels")
    def channel_list(self, obj):
        return ", ".join(obj.channels or [])


class InteractionInline(admin.TabularInline):
    model = Interaction
    extra = 0
    can_delete = False
    fields = ["occurred_at", "channel", "direction", "author_kind", "author", "body", "delivery_status"]
    readonly_fields = fields
    ordering = ["occurred_at", "id"]
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


@admin.register(Case)
class CaseAdmin(GrowingListMixin, ClientScopedAdmin):
    list_date_field = "opened_at"
    list_display = [
        "subject",
        "client",
        "customer",
        "queue",
        "status",
        "priority",
        "current_channel",
        "assignee",
        "tier",
        "opened_at",
        "updated_at",
    ]
    list_filter = [
        "status",
        "priority",
        "origin_channel",
        "current_channel",
        fixed_values_filter("tier", "tier", [(1, "T1"), (2, "T2"), (3, "T3")]),
        scoped_filter("client"),
        scoped_filter("queue"),
    ]
    search_fields = [
        "subject",
        "external_id",
        "public_id",
        "customer__display_name",
        "customer__identities__value",
    ]
    list_select_related = ["client", "customer", "queue__client", "assignee"]
    readonly_fields = [
        "public_id",
        "client",
        "customer",
        "queue",
        "subject",
        "status",
        "priority",
        "origin_channel",
        "current_channel",
        "assignee",
        "tier",
        "sentiment",
        "external_id",
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
    ]
    inlines = [InteractionInline]
    actions = ["assign_to_me", "resolve_selected", "close_selected"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_supervise_permission(self, request) -> bool:
        """The case actions here act on any case of the user's clients, whoever holds it: a
        supervisor's (or a superuser's). Agents work their cases in the workspace, under its
        rules (their own cases and their queues' unassigned ones)."""
        user = request.user
        return user.is_superuser or (
            self.has_change_permission(request) and user.groups.filter(name=Role.SUPERVISOR).exists()
        )

    @admin.action(description="Assign to me", permissions=["supervise"])
    def assign_to_me(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Assigned",
            lambda case: services.case_assign(case=case, assignee=request.user, actor=request.user),
        )

    @admin.action(description="Resolve", permissions=["supervise"])
    def resolve_selected(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Resolved",
            lambda case: services.case_resolve(case=case, actor=request.user, reason="resolved in admin"),
        )

    @admin.action(description="Close (resolved cases only)", permissions=["supervise"])
    def close_selected(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            "Closed",
            lambda case: services.case_close(case=case, actor=request.user, reason="closed in admin"),
        )


class AttachmentInline(admin.TabularInline):
    """The files kept with the interaction (downloaded from the agent workspace's timeline)."""

    model = Attachment
    extra = 0
    can_delete = False
    fields = ["position", "filename", "content_type", "size", "sha256"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Interaction)
class InteractionAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    inlines = [AttachmentInline]
    list_date_field = "occurred_at"
    list_display = ["occurred_at", "case", "channel", "direction", "author_kind", "source", "delivery_status"]
    list_filter = ["channel", "direction", "author_kind", "delivery_status", scoped_filter("client")]
    search_fields = ["external_id", "thread_key", "case__subject", "public_id"]
    list_select_related = ["case", "client"]


@admin.register(CaseEvent)
class CaseEventAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "occurred_at"
    list_display = ["occurred_at", "case", "kind", "actor", "actor_label", "before", "after", "reason"]
    list_filter = ["kind", scoped_filter("client")]
    search_fields = ["case__subject", "case__public_id", "reason"]
    list_select_related = ["case", "actor"]


@admin.register(SatisfactionSurvey)
class SatisfactionSurveyAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "answered_at"
    list_display = ["answered_at", "case", "csat", "nps", "effort", "client"]
    list_filter = [
        scoped_filter("client"),
        fixed_values_filter("csat", "CSAT", [(score, str(score)) for score in range(1, 6)]),
    ]
    search_fields = ["case__subject", "comment"]
    list_select_related = ["case", "client"]


from . import admin_api  # noqa: E402,F401  (API keys and idempotency records)
