"""Revisions of a client's configuration, read from its change history, for in-process caches.

A client's configuration (SLA policies and targets, routing rules and queues, webhook
subscriptions) changes rarely and is read on every contact. Each of those models records its
changes with django-simple-history, so the count, latest id and latest time of a client's
history rows name the state they are in: any recorded change (create, edit, delete) adds a row.
The count is part of it because a change committed late can carry an id and a time older than
one already seen (ids and times are taken before commit); the time, because a rolled-back change
can free a history id for reuse (SQLite), never a time.

`revision_sql` gives one such revision as a small SQL expression (a string, the same on
PostgreSQL and SQLite). The apps that cache a configuration `register` its revision by name
(in their `ready()`); the code that loads the row naming the client of a request (the API key,
the connector of an inbound event) annotates the revisions it will need with
`annotations(...)` and makes them known for the request (`request_scope` + `remember`, or
`known_from`). A cache then asks `current(client_id, name)`, which reads the revision itself
only when the request did not (a task, the admin, a replay): no extra query on the hot paths,
and an annotation that costs next to nothing.

A change made without history (a queryset `update()`) is invisible to these revisions: the
configuration models are changed through their services and the admin, which record history.
A request that read a revision just before a change committed serves the configuration as it
was, as if it had arrived a moment earlier; the next request sees the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.models.expressions import RawSQL

_registry: dict[str, tuple[Callable[[str], RawSQL], frozenset[str]]] = {}
_known: ContextVar[dict[tuple[int, str], str] | None] = ContextVar("accord_revisions", default=None)
PREFIX = "revision__"
T = TypeVar("T")


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
        "(SELECT CAST(COUNT(*) AS TEXT) || ':' || COALESCE(CAST(MAX(h.history_id) AS TEXT), '') || '@' || "
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


def register(name: str, expression: Callable[[str], RawSQL], *, read_by: Iterable[str]) -> None:
    """Register the revision `name`: `expression(outer)` is its SQL for the client id `outer`;
    `read_by` names the request kinds that read it ("api", "ingestion")."""
    _registry[name] = (expression, frozenset(read_by))


def annotations(outer: str, *, reader: str | None = None) -> dict[str, RawSQL]:
    """For `QuerySet.annotate`: the registered revisions that `reader` reads (all with None), of
    the client whose id is the SQL `outer` in the query."""
    return {
        f"{PREFIX}{name}": expression(outer)
        for name, (expression, readers) in _registry.items()
        if reader is None or reader in readers
    }


def read(client_id: int, name: str) -> str:
    """The revision `name` of a client, read now (one query)."""
    from .models import Client

    expression, _ = _registry[name]
    value = (
        Client.objects.filter(pk=client_id)
        .annotate(revision=expression(f'"{Client._meta.db_table}"."id"'))
        .values_list("revision", flat=True)
        .first()
    )
    return value or ""


@contextmanager
def request_scope() -> Iterator[None]:
    """The revisions `remember`ed inside the block count inside it only (one request)."""
    token = _known.set(dict(_known.get() or {}))
    try:
        yield
    finally:
        _known.reset(token)


def remember(row: Any, *, client_id: int) -> None:
    """Make the revisions read with `row` (by `annotations`) the client's for the current
    `request_scope` (nothing outside one)."""
    values = _known.get()
    if values is None:
        return
    for attribute, value in vars(row).items():
        if attribute.startswith(PREFIX) and value is not None:
            values[(client_id, attribute.removeprefix(PREFIX))] = value


@contextmanager
def known_from(row: Any, *, client_id: int) -> Iterator[None]:
    """A `request_scope` in which the revisions read with `row` are the client's."""
    with request_scope():
        remember(row, client_id=client_id)
        yield


def known(client_id: int, name: str) -> str | None:
    """The revision `name` of the client as the current request read it, or None."""
    values = _known.get()
    return values.get((client_id, name)) if values else None


def current(client_id: int, name: str) -> str:
    """The revision `name` of the client: as the request read it, else read now."""
    value = known(client_id, name)
    return value if value is not None else read(client_id, name)


class RevisionCache(Generic[T]):
    """One kind of client configuration, per client, in this process, as of the revision `name`
    (what it holds is shared read-only by the requests of the process)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[int, tuple[str, T]] = {}

    def get(self, client_id: int, load: Callable[[], T], *, only_known: bool = False) -> T:
        """The cached value while the client's revision is the cached one, else `load()` (then
        cached). `only_known`: use the cache only when the request read the revision (reading
        it would cost as much as `load`)."""
        revision = known(client_id, self.name) if only_known else current(client_id, self.name)
        if revision is None:
            return load()
        entry = self._entries.get(client_id)
        if entry is None or entry[0] != revision:
            entry = (revision, load())  # the revision is read first: never newer than the value
            self._entries[client_id] = entry
        return entry[1]
