"""Admin of the connectors app, scoped by client. Actions call services: rotate a connector's
secret (shown once on a page, never stored in a message or cookie), replay failed inbound
events, redeliver webhooks, resume paused subscriptions."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from simple_history.admin import SimpleHistoryAdmin

from cases.admin_lists import GrowingListMixin
from cases.admin_scoping import ClientScopedAdmin, ClientScopedMixin, ReadOnlyAdminMixin, scoped_filter
from config.errors import ApplicationError
from config.tasks import task_enqueue

from . import selectors, services, webhooks
from .choices import InboundStatus, WebhookEventType
from .models import (
    AlertNotification,
    Connector,
    ImapMailboxState,
    InboundEvent,
    RoutingRule,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

REPLAY_CHUNK = 200  # events per background task: well within a task's timeout
REPLAY_ERRORS_SHOWN = 10  # messages live in the session: one per failure would not fit


def _secret_page(request, admin_obj, obj, secret: str, what: str):
    """Show a freshly issued secret once, on a page of its own (not a message: messages are
    kept in cookies/sessions)."""
    context = {
        **admin_obj.admin_site.each_context(request),
        "title": f"{what} for {obj}",
        "object": obj,
        "secret": secret,
        "what": what,
        "opts": admin_obj.model._meta,
    }
    response = TemplateResponse(request, "admin/connectors/secret_shown.html", context)
    response["Cache-Control"] = "no-store"
    return response


class ConnectorForm(forms.ModelForm):
    imap_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="IMAP password (write-only; leave empty to keep the current one).",
    )

    class Meta:
        model = Connector
        fields = ["client", "name", "slug", "adapter", "default_queue", "settings", "is_active"]


@admin.register(Connector)
class ConnectorAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    form = ConnectorForm
    list_display = [
        "name",
        "slug",
        "client",
        "channel",
        "adapter",
        "default_queue",
        "is_active",
        "last_event_at",
        "failed_events",
        "secret_rotated_at",
    ]
    list_filter = [scoped_filter("client"), "channel", "adapter", "is_active"]
    search_fields = ["name", "slug", "client__name"]
    list_select_related = ["client", "default_queue"]
    autocomplete_fields = ["client", "default_queue"]
    readonly_fields = [
        "channel",
        "secret_rotated_at",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    ]
    actions = ["rotate_secret"]

    def get_queryset(self, request):
        return selectors.connectors_with_health(super().get_queryset(request))

    def changelist_view(self, request, extra_context=None):
        failing = self.get_queryset(request).filter(failed_events__gt=0).order_by("-failed_events", "pk")
        for connector in failing[:10]:
            self.message_user(
                request,
                f"Connector “{connector}” has {connector.failed_events} failed inbound event(s) "
                "awaiting replay: fix the cause, then replay them (Inbound events, action).",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    @admin.display(description="last event", ordering="last_event_at")
    def last_event_at(self, obj):
        return obj.last_event_at or "-"

    @admin.display(description="failed, to replay", ordering="failed_events")
    def failed_events(self, obj):
        if not obj.failed_events:
            return 0
        query = urlencode({"connector__id__exact": obj.pk, "status__exact": InboundStatus.FAILED})
        url = f"{reverse('admin:connectors_inboundevent_changelist')}?{query}"
        return format_html('<a href="{}" style="color:#ba2121">{}</a>', url, obj.failed_events)

    def save_model(self, request, obj, form, change):
        password = form.cleaned_data.get("imap_password") or None
        if change:
            services.connector_update(connector=obj, actor=request.user, imap_password=password)
            return
        issued = services.connector_create(
            client=obj.client,
            name=obj.name,
            slug=obj.slug,
            adapter=obj.adapter,
            default_queue=obj.default_queue,
            settings_data=obj.settings,
            imap_password=password or "",
            is_active=obj.is_active,
            actor=request.user,
        )
        obj.pk = issued.obj.pk
        request._accord_issued_secret = issued.secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_accord_issued_secret", None)
        if secret:
            return _secret_page(request, self, obj, secret, "Signing secret")
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Rotate the signing secret (the old one stays valid for the grace period)")
    def rotate_secret(self, request, queryset):
        if not self.has_change_permission(request):
            self.message_user(request, "You may not change connectors.", messages.ERROR)
            return None
        if queryset.count() != 1:
            self.message_user(request, "Rotate one connector at a time.", messages.WARNING)
            return None
        issued = services.connector_secret_rotate(connector=queryset.get(), actor=request.user)
        return _secret_page(request, self, issued.obj, issued.secret, "New signing secret")


@admin.register(RoutingRule)
class RoutingRuleAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    list_display = [
        "name",
        "client",
        "order",
        "queue",
        "priority",
        "channels",
        "keywords",
        "vip",
        "is_active",
    ]
    list_filter = [scoped_filter("client"), "is_active", "priority", "vip"]
    list_editable = ["order", "is_active"]
    search_fields = ["name", "client__name", "queue__name"]
    list_select_related = ["client", "queue"]
    autocomplete_fields = ["client", "queue"]
    ordering = ["client__name", "order", "id"]


@admin.register(InboundEvent)
class InboundEventAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "received_at"
    list_display = [
        "id",
        "received_at",
        "connector",
        "via",
        "external_id",
        "status",
        "attempts",
        "short_error",
    ]
    list_filter = ["status", "via", scoped_filter("connector"), scoped_filter("client")]
    search_fields = ["external_id", "error", "connector__slug"]
    list_select_related = ["connector", "client"]
    readonly_fields = [
        "client", "connector", "via", "external_id", "status", "content_type", "payload_preview", "error",
        "attempts", "produced", "received_at", "processed_at",
    ]  # fmt: skip
    exclude = ["payload"]
    actions = ["replay", "take_as_customer"]

    @admin.display(description="error or reason")
    def short_error(self, obj):
        return obj.error[:80]

    @admin.display(description="case / interaction")
    def produced(self, obj):
        interaction = (
            selectors.interaction_of_event(event=obj) if obj.status == InboundStatus.PROCESSED else None
        )
        if interaction is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a> · interaction {}',
            reverse("admin:cases_case_change", args=[interaction.case_id]),
            interaction.case,
            interaction.public_id,
        )

    @admin.display(description="payload (raw, first 20 kB)")
    def payload_preview(self, obj):
        text = bytes(obj.payload[:20_000]).decode("utf-8", errors="replace")
        return format_html("<pre style='white-space:pre-wrap;max-width:100ch'>{}</pre>", text)

    def has_replay_permission(self, request):
        return request.user.has_perm("connectors.change_inboundevent")

    @admin.action(description="Replay the selected failed events", permissions=["replay"])
    def replay(self, request, queryset):
        """A few events replay now, each answer shown; a larger selection (say, every event that
        failed during an outage) goes to background tasks, and the connector list shows what is
        still failed."""
        ids = list(
            queryset.filter(status__in=services.REPLAYABLE).order_by("pk").values_list("pk", flat=True)
        )
        skipped = queryset.count() - len(ids)
        if len(ids) > settings.ACCORD_CONNECTOR_REPLAY_INLINE_MAX:
            for start in range(0, len(ids), REPLAY_CHUNK):
                task_enqueue("connectors.tasks.inbound_events_replay_task", ids[start : start + REPLAY_CHUNK])
            self.message_user(
                request,
                f"Replaying {len(ids)} event(s) in the background; {skipped} skipped (not failed). "
                "The connector list counts the failed events left.",
                messages.SUCCESS,
            )
            return
        summary = services.inbound_events_replay(event_ids=ids, actor=request.user)
        for event_id, why in summary.failed[:REPLAY_ERRORS_SHOWN]:
            self.message_user(request, f"Event {event_id} failed again: {why}", messages.ERROR)
        if len(summary.failed) > REPLAY_ERRORS_SHOWN:
            more = len(summary.failed) - REPLAY_ERRORS_SHOWN
            self.message_user(request, f"… and {more} more failed again.", messages.ERROR)
        self.message_user(
            request,
            f"Replayed {summary.replayed} event(s); {len(summary.failed)} failed; "
            f"{skipped + summary.skipped} skipped (not failed).",
            messages.SUCCESS if not summary.failed else messages.WARNING,
        )

    @admin.action(
        description="Ingest the selected automatic messages as the customer's", permissions=["replay"]
    )
    def take_as_customer(self, request, queryset):
        """An automatic message kept aside (an ignored event) that was a person's after all: it
        joins or opens a case like any message of the customer's."""
        taken, refused = 0, []
        selected = list(queryset.filter(status=InboundStatus.IGNORED).order_by("pk")[: REPLAY_CHUNK + 1])
        if len(selected) > REPLAY_CHUNK:
            refused.append(f"At most {REPLAY_CHUNK} at a time: the first {REPLAY_CHUNK} were taken.")
        for event in selected[:REPLAY_CHUNK]:
            try:
                result = services.inbound_event_take_as_customer(event=event, actor=request.user)
            except ApplicationError as exc:
                refused.append(exc.message)
                continue
            if result.outcome == "processed":
                taken += 1
            else:
                refused.append(f"Event {event.pk}: {result.detail}")
        for why in refused[:REPLAY_ERRORS_SHOWN]:
            self.message_user(request, why, messages.ERROR)
        if len(refused) > REPLAY_ERRORS_SHOWN:
            self.message_user(request, f"… and {len(refused) - REPLAY_ERRORS_SHOWN} more.", messages.ERROR)
        self.message_user(
            request,
            f"Ingested {taken} message(s) as the customer's; {len(refused)} refused.",
            messages.SUCCESS if not refused else messages.WARNING,
        )


@admin.register(ImapMailboxState)
class ImapMailboxStateAdmin(ReadOnlyAdminMixin, ClientScopedAdmin):
    client_lookup = "connector__client"
    list_display = [
        "connector",
        "mailbox",
        "uidvalidity",
        "last_uid",
        "messages_seen",
        "last_polled_at",
        "last_error",
    ]
    search_fields = ["connector__slug", "mailbox"]
    list_select_related = ["connector"]


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=WebhookEventType.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookSubscription
        fields = ["client", "name", "url", "events", "is_active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            webhooks.url_check(url)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        return url


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ClientScopedMixin, SimpleHistoryAdmin):
    form = WebhookSubscriptionForm
    list_display = ["name", "client", "url", "is_active", "state", "consecutive_failures"]
    list_filter = [scoped_filter("client"), "is_active", ("paused_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "url", "client__name"]
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    readonly_fields = ["paused_at", "pause_reason", "consecutive_failures", "created_at", "updated_at"]
    actions = ["resume", "rotate_secret"]

    @admin.display(description="state")
    def state(self, obj):
        if obj.paused_at:
            return format_html('<strong style="color:#ba2121">Paused</strong> · {}', obj.pause_reason)
        return "Active" if obj.is_active else "Inactive"

    def changelist_view(self, request, extra_context=None):
        paused = self.get_queryset(request).filter(paused_at__isnull=False, is_active=True)
        for subscription in paused[:10]:
            self.message_user(
                request,
                f"Webhook subscription “{subscription}” is paused: {subscription.pause_reason} "
                "Fix the endpoint, then resume it (action).",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        if change:
            webhooks.webhook_subscription_update(subscription=obj, actor=request.user)
            return
        issued = webhooks.webhook_subscription_create(
            client=obj.client,
            name=obj.name,
            url=obj.url,
            events=obj.events,
            is_active=obj.is_active,
            actor=request.user,
        )
        obj.pk = issued.obj.pk
        request._accord_issued_secret = issued.secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_accord_issued_secret", None)
        if secret:
            return _secret_page(request, self, obj, secret, "Webhook signing secret")
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Resume the selected paused subscriptions", permissions=["change"])
    def resume(self, request, queryset):
        count = 0
        for subscription in queryset.filter(paused_at__isnull=False):
            webhooks.webhook_subscription_resume(subscription=subscription, actor=request.user)
            count += 1
        self.message_user(request, f"Resumed {count} subscription(s).", messages.SUCCESS)

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Rotate one subscription at a time.", messages.WARNING)
            return None
        issued = webhooks.webhook_subscription_rotate_secret(subscription=queryset.get(), actor=request.user)
        return _secret_page(request, self, issued.obj, issued.secret, "New webhook signing secret")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "attempted_at", "status_code", "latency_ms", "succeeded", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "created_at"
    list_display = [
        "id",
        "created_at",
        "subscription",
        "event_type",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
    ]
    list_filter = ["state", "event_type", scoped_filter("subscription"), scoped_filter("client")]
    search_fields = ["message_id", "subscription__name", "last_error"]
    list_select_related = ["subscription", "client"]
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def has_redeliver_permission(self, request):
        return request.user.has_perm("connectors.change_webhookdelivery")

    @admin.action(description="Redeliver the selected deliveries", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        done = 0
        for delivery in queryset.order_by("pk"):
            try:
                webhooks.webhook_redeliver(delivery=delivery, actor=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"Delivery {delivery.pk}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} deliver(y/ies) queued again.", messages.SUCCESS)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "attempted_at"
    list_display = ["delivery", "number", "attempted_at", "status_code", "latency_ms", "succeeded", "error"]
    list_filter = ["succeeded", scoped_filter("client")]
    search_fields = ["delivery__message_id", "error"]
    list_select_related = ["delivery", "client"]


@admin.register(AlertNotification)
class AlertNotificationAdmin(GrowingListMixin, ReadOnlyAdminMixin, ClientScopedAdmin):
    list_date_field = "created_at"
    list_display = ["created_at", "kind", "metric", "case", "queue", "recipient", "state", "sent_at"]
    list_filter = ["kind", "state", scoped_filter("client"), scoped_filter("queue")]
    search_fields = ["case__subject", "recipient__username"]
    list_select_related = ["case", "queue", "recipient", "client"]
