"""django-q2 entry point: drop Idempotency-Key records past their 24 h (safe to run twice)."""

from __future__ import annotations

from .idempotency import idempotency_purge


def idempotency_purge_task() -> int:
    return idempotency_purge()
