"""Hot SELECTs compiled once: `prepared_select` turns a function that builds a queryset from its
arguments into one that runs the same SQL with new values, returning model instances as the
queryset would.

Django compiles a queryset's SQL anew for every execution: building the filter tree, resolving
joins and selecting columns cost about 0.5 ms of Python here, more than PostgreSQL takes to run a
lookup by key. The lookups every request or inbound event makes (an API key by its hash, a
connector by its slug, the case SLA of a case...) have one shape whatever the values, so their
SQL is compiled once per database and reused (decision 0008).

How: the builder is called once with a sentinel value per argument; the compiled statement's
parameters are searched for the sentinels (as given, or as the backend adapts a datetime or a
UUID), and their positions kept. A call puts its values at those positions and runs the
statement through a copy of the compiled compiler, so instances, `select_related` objects,
annotations and field converters come out exactly as from the queryset itself.

The builder must give the same shape for any values: filters on its arguments, no branching on
them. The SQL is compiled for the database the queryset goes to at the first call (Accord has
one). Supported argument types: int, str, UUID, datetime (annotate them). A builder whose
sentinel does not reach the parameters (a value transformed by its lookup, e.g. `icontains`) is
refused when first compiled, with the argument named.
"""

from __future__ import annotations

import copy
import functools
import inspect
import itertools
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=models.Model)

_serial = itertools.count(1)


def _sentinel(kind: type) -> Any:
    number = next(_serial)
    if kind is int:  # in range of every integer field, positive ones included (lookups check)
        return 2_147_000_000 + number
    if kind is str:
        return f"\x1fprepared-argument-{number}\x1f"
    if kind is UUID:
        return UUID(int=(0xF00D << 112) + number)
    if kind is datetime:
        return datetime(1111, 1, 1, tzinfo=UTC) + timedelta(seconds=number)
    raise ImproperlyConfigured(f"prepared_select: no sentinel for arguments of type {kind!r}")


@dataclass(frozen=True)
class _Compiled:
    queryset: models.QuerySet
    compiler: Any
    sql: str
    params: tuple
    # (position in params, argument name, adapter of the value)
    slots: tuple[tuple[int, str, Callable[[Any], Any]], ...]
    for_update: bool


class PreparedSelect(Generic[M]):
    """See the module docstring. Call with keyword arguments; returns a list of instances."""

    def __init__(self, build: Callable[..., models.QuerySet[M]]):
        self._build = build
        self._names = frozenset(inspect.signature(build).parameters)
        self._entry: _Compiled | None = None
        # The select's field converters per connection: Django derives them again for every
        # execution (about 40 columns for a case with its relations), the same each time.
        self._converters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        functools.update_wrapper(self, build)

    def __call__(self, **values: Any) -> list[M]:
        if values.keys() != self._names:
            raise TypeError(f"{self._build.__qualname__}() takes {sorted(self._names)}, got {sorted(values)}")
        entry = self._entry or self._compile()
        params = list(entry.params)
        for position, name, adapt in entry.slots:
            params[position] = adapt(values[name])
        queryset = entry.queryset._chain()
        connection = connections[queryset.db]
        if entry.for_update and connection.features.has_select_for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        compiler = copy.copy(entry.compiler)
        compiler.connection = connection  # this thread's connection, not the compiling one's
        statement = (entry.sql, tuple(params))
        compiler.as_sql = lambda *args, **kwargs: statement
        converters = self._converters.get(connection)
        if converters is None:
            columns = [column for column, *_ in compiler.select[: compiler.col_count]]
            converters = self._converters[connection] = compiler.get_converters(columns)
        compiler.get_converters = lambda expressions: converters
        queryset.query.get_compiler = lambda *args, **kwargs: compiler
        return list(queryset)

    def _compile(self) -> _Compiled:
        hints = typing.get_type_hints(self._build)  # resolved here: the models are loaded
        sentinels = {name: _sentinel(hints.get(name)) for name in self._names}
        queryset = self._build(**sentinels)
        connection = connections[queryset.db]
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots = []
        for name, sentinel in sentinels.items():
            found = [
                (position, name, adapt)
                for position, value in enumerate(params)
                if (adapt := _adapter_to(value, sentinel, connection)) is not None
            ]
            if not found:
                raise ImproperlyConfigured(
                    f"prepared_select {self._build.__qualname__}: argument {name!r} does not reach the "
                    "statement's parameters as given; use a lookup that takes the value as it is."
                )
            slots += found
        self._entry = _Compiled(
            queryset=queryset,
            compiler=compiler,
            sql=sql,
            params=tuple(params),
            slots=tuple(slots),
            for_update=bool(queryset.query.select_for_update),
        )
        return self._entry


def _same(value: Any) -> Any:
    return value


def _uuid_hex(value: UUID) -> str:
    return value.hex


def _adapter_to(param: Any, sentinel: Any, connection) -> Callable[[Any], Any] | None:
    """How the backend passed `sentinel` if `param` is it: as it is, as a datetime column value,
    or as a UUID's hex (backends without a UUID type); None if `param` is something else."""
    candidates: list[Callable[[Any], Any]] = [_same]
    if isinstance(sentinel, datetime):
        candidates.append(connection.ops.adapt_datetimefield_value)
    elif isinstance(sentinel, UUID):
        candidates.append(_uuid_hex)
    for adapt in candidates:
        adapted = adapt(sentinel)
        if type(adapted) is type(param) and adapted == param:
            return adapt
    return None


def prepared_select(build: Callable[..., models.QuerySet[M]]) -> PreparedSelect[M]:
    """Decorator: see the module docstring."""
    return PreparedSelect(build)
