"""Template filters of the workspace."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template

from workspace.presenters import duration_text

register = template.Library()


@register.filter
def utc_iso(value: datetime | None) -> str:
    """`2026-03-02T14:00:00Z`: what workspace.js parses (whole seconds, UTC)."""
    if not isinstance(value, datetime):
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@register.filter
def duration(seconds) -> str:
    try:
        return duration_text(float(seconds))
    except (TypeError, ValueError):
        return ""
