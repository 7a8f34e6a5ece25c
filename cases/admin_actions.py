"""Shared plumbing for admin actions that call a service per selected object."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages

from config.errors import ApplicationError


def run_each(modeladmin, request, queryset, label: str, call: Callable) -> int:
    """Call `call(obj)` for each selected object; report each refusal and the count done."""
    done = 0
    for obj in queryset:
        try:
            call(obj)
            done += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{label}: {done} done.", messages.SUCCESS)
    return done
