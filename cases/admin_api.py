"""Admin for client systems' API keys: created here (the key is shown once, in the message after
saving), scoped by client, revoked by action. Idempotency records are read-only, for support."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from config.errors import ApplicationError

from .admin_scoping import ClientScopedAdmin, ReadOnlyAdminMixin, scoped_filter
from .api.keys import api_key_create, api_key_revoke, throttle_rate_validate
from .models import ApiKey, IdempotencyRecord


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["client", "name", "scope", "expires_at", "throttle_rate"]

    def clean_throttle_rate(self):
        rate = self.cleaned_data.get("throttle_rate", "")
        try:
            throttle_rate_validate(rate)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc
        return rate

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now() and not self.instance.pk:
            raise forms.ValidationError("The expiry must be in the future.")
        return value


@admin.register(ApiKey)
class ApiKeyAdmin(ClientScopedAdmin):
    form = ApiKeyForm
    list_display = [
        "name",
        "client",
        "prefix",
        "scope",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_at",
    ]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter), scoped_filter("client")]
    search_fields = ["name", "prefix", "client__name"]
    list_select_related = ["client"]
    readonly_fields = ["prefix", "revoked_at", "last_used_at", "created_at", "created_by"]
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # a key never moves to another client
            return [*self.readonly_fields, "client"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = api_key_create(
            client=obj.client,
            name=obj.name,
            scope=obj.scope,
            expires_at=obj.expires_at,
            throttle_rate=obj.throttle_rate,
            actor=request.user,
        )
        obj.pk = created.key.pk
        obj.prefix, obj.key_hash = created.key.prefix, created.key.key_hash
        self.message_user(
            request,
            f"The API key for {obj.name} is {created.raw} — copy it now: it is stored hashed and "
            "will not be shown again.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the key's history stays


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "principal", "method", "path", "status_code", "created_at", "expires_at"]
    search_fields = ["key", "path"]
    list_filter = ["method", "status_code"]
    exclude = ["request_hash"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.none()
