"""Revisions of a client's configuration, read from its change history, for in-process caches.

A client's configuration (SLA policies and targets, routing rules and queues, webhook
subscriptions) changes rarely and is read on every contact. Each of those models records its
changes with django-simple-history, so the latest history id and time of a client's rows name
the state they are in: any recorded change (create, edit, delete) moves them. The time is part
of it because a rolled-back change can free a history id for reuse (SQLite), never a time.

`revision_sql` gives one such revision as a small SQL expression (a string, the same on
PostgreSQL and SQLite), so a caller can read it with a row it loads anyway (ingestion reads
every revision it needs with its connector: no extra query, and an annotation that costs next
to nothing to build), then serve the configuration from a cache keyed by it. A change made
without history (a queryset `update()`) is invisible to these revisions: the configuration
models are changed through their services and the admin, which record history.
"""

from __future__ import annotations

from functools import cache

from django.db import models
from django.db.models.expressions import RawSQL


def _part(model: type[models.Model], outer: str, via: str | None) -> str:
    history = model.history.model._meta.db_table
    if via is None:
        source, where = f'"{history}" h', f"h.client_id = {outer}"
    else:
        field = model._meta.get_field(via)
        parent = field.related_model._meta.db_table
        source = f'"{history}" h JOIN "{parent}" p ON p.id = h.{field.column}'
        where = f"p.client_id = {outer}"
    return (
        "(SELECT COALESCE(CAST(MAX(h.history_id) AS TEXT), '') || '@' || "
        f"COALESCE(CAST(MAX(h.history_date) AS TEXT), '') FROM {source} WHERE {where})"
    )


def revision_sql(outer: str, *parts: tuple[type[models.Model], str | None]) -> RawSQL:
    """The revision of a client's rows of each `(model, via)` in `parts`, as one text value:
    `outer` is the SQL of the client id in the enclosing query; `via` names the foreign key
    that leads to a model with the client (None: the model has `client_id` itself)."""
    return RawSQL(_sql(outer, parts), ())


@cache
def _sql(outer: str, parts: tuple[tuple[type[models.Model], str | None], ...]) -> str:
    return " || '|' || ".join(_part(model, outer, via) for model, via in parts)
