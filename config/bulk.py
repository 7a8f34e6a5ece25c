"""Inserting rows of one model at once: on PostgreSQL, COPY for many and one prepared INSERT for
a few; `bulk_create` elsewhere. Also one row's fields updated by a statement of fixed text
(`row_update`), one row inserted unless a unique value is taken (`row_insert_new`), and the
instances such rows start as, built without Django's generic `__init__` (`row_build`).

`bulk_create` prepares every field of every row through Django's field API, then psycopg quotes
each value into a text array in Python (the client-side cursor); for the thousands of rows a
bulk sync writes (clocks, clock events, case SLAs) that is most of the request. `rows_insert`
sends batches of `COPY_MIN_ROWS` rows or more with COPY instead: psycopg formats COPY rows in C.
Values whose preparation is the identity (ints, strings, aware datetimes, UUIDs, booleans, None
on fields of Django's own plain types) go as they are; any other value (a JSON document, a
choices member, a naive datetime, a custom field's value) goes through the field's own
`get_db_prep_save`, so what is stored is what `bulk_create` stores. A JSON document goes to COPY
as its text, serialized once per object (a batch's case SLAs share their policy's snapshot).

A few rows (fewer than `COPY_MIN_ROWS`: a case opened alone, its timeline entry, its clocks)
go as one `INSERT ... VALUES ... RETURNING id` whose text is built once per model, row count and
`ids`, from values prepared the same way. Django's `bulk_create` compiles the statement anew for
every call and prepares every value through the field API: 0.5 ms of Python per statement here,
about as much as the statement itself. The same text every time also lets PostgreSQL keep it
prepared (decision 0007).

What differs from `bulk_create`, and why callers can rely on it:
- ids: COPY returns nothing, so with `ids=True` they are taken from the table's sequence first
  (one statement) and set on the objects, as `bulk_create` sets them; the INSERT returns them.
- the COPY is logged in `connection.queries` (query-count tests see it) and database errors are
  Django's (an IntegrityError is `django.db.IntegrityError`), but `execute_wrapper` hooks do not
  see it: it is not an `execute`. The INSERT is an ordinary `execute`.
- no `pre_save` beyond `auto_now` / `auto_now_add`, and no signals: `bulk_create` sends none
  either, and the models written this way have no field with a `pre_save` of its own.
- no `ignore_conflicts` / `update_conflicts`: COPY has no ON CONFLICT; use `bulk_create`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from django.db import DatabaseError, IntegrityError, connections, models, router, transaction
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

COPY_MIN_ROWS = 64

M = TypeVar("M", bound=models.Model)

# Django's own field classes whose preparation returns a value of these exact types unchanged.
_PLAIN_FIELDS = (
    models.AutoField,
    models.BigAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
    models.CharField,
    models.TextField,
    models.DateTimeField,
    models.UUIDField,
    models.BooleanField,
)
_PLAIN_TYPES = (int, str, datetime, UUID, bool)


def _is_plain(field: models.Field) -> bool:
    if field.is_relation:
        return _is_plain(field.target_field)
    return type(field) in _PLAIN_FIELDS


def rows_insert(model: type[M], objs: Iterable[M], *, ids: bool = True) -> list[M]:
    """Insert `objs` (new instances of `model`, in one statement's worth) and return them, with
    their ids set when `ids`. A database other than PostgreSQL, or a value that is an expression
    (a database default): `bulk_create`."""
    objs = list(objs)
    connection = connections[router.db_for_write(model)]
    if not objs:
        return objs
    if connection.vendor != "postgresql":
        if len(objs) == 1 and not connection.in_atomic_block:
            # bulk_create would wrap even one row in a transaction of its own (BEGIN, COMMIT).
            objs[0].save(force_insert=True)
            return objs
        return model.objects.bulk_create(objs)
    fields, columns = _insert_fields(model)
    copy = len(objs) >= COPY_MIN_ROWS
    rows = _prepared_rows(objs, columns, connection, json_text=copy)
    if rows is None:
        return model.objects.bulk_create(objs)
    with connection.cursor() as cursor:
        if not copy:
            cursor.execute(_values_sql(model, len(objs), ids), [value for row in rows for value in row])
            if ids:
                for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
                    obj.pk = pk
        else:
            _copy(cursor, connection, model, fields, objs, rows, ids)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


@dataclass(frozen=True)
class _Column:
    field: models.Field
    attname: str
    plain: bool  # a value of a plain type goes as it is
    stamped: bool  # auto_now / auto_now_add: the time of the insert
    json: bool  # a JSONField: COPY sends the document's text, written once per object


@functools.cache
def _insert_fields(model: type[models.Model]) -> tuple[list[models.Field], list[_Column]]:
    """The columns an insert writes (all concrete fields but the primary key), with how each
    value is prepared."""
    meta = model._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    columns = [
        _Column(
            f,
            f.attname,
            _is_plain(f),
            bool(getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)),
            isinstance(f, models.JSONField),
        )
        for f in fields
    ]
    return fields, columns


def _prepare_relations(obj: models.Model) -> None:
    """As bulk_create: a related object saved after it was assigned gives its id now, and an
    unsaved one is refused (ValueError). An object with no related object cached (built from
    ids) has nothing to check."""
    if obj._state.fields_cache:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")


def _prepared_rows(objs, columns: list[_Column], connection, *, json_text: bool = False) -> list[list] | None:
    """Each object's column values, ready for the database (None: a value is an expression).
    With `json_text` (COPY), a JSON document goes as its text, serialized once per object: the
    rows of a batch often share one (a policy's snapshot)."""
    now = timezone.now()
    documents: dict[int, str] = {}
    rows = []
    for obj in objs:
        _prepare_relations(obj)
        values = obj.__dict__
        row = []
        for column in columns:
            if column.stamped:
                setattr(obj, column.attname, now)
            value = values[column.attname] if column.attname in values else getattr(obj, column.attname)
            if value is None or (
                column.plain
                and type(value) in _PLAIN_TYPES
                and (type(value) is not datetime or value.tzinfo is not None)
            ):
                pass
            elif hasattr(value, "resolve_expression"):  # a database default or expression
                return None
            elif json_text and column.json:
                text = documents.get(id(value))
                if text is None:
                    text = documents[id(value)] = json.dumps(value, cls=column.field.encoder)
                value = text
            else:
                value = column.field.get_db_prep_save(value, connection)
            row.append(value)
        rows.append(row)
    return rows


@dataclass(frozen=True)
class _BuildSpec:
    """How `row_build` fills an instance of one model: each keyword's attribute (None: a related
    object, set through its descriptor), the fields' defaults, and which attributes are stored
    as they are."""

    attnames: dict[str, str | None]
    constants: dict[str, Any]  # attname: a default every instance shares (None, "", a constant)
    factories: tuple[tuple[str, str, Callable[[], Any]], ...]  # name, attname, a default made per instance
    direct: frozenset[str]


@functools.cache
def _build_spec(model: type[models.Model]) -> _BuildSpec:
    attnames: dict[str, str | None] = {"pk": model._meta.pk.attname}
    constants, factories, direct = {}, [], set()
    for field in model._meta.concrete_fields:
        if field.generated:
            continue
        attnames[field.attname] = field.attname
        if field.is_relation:
            attnames[field.name] = None
        # As Django's get_default: a constant default (None, "", a non-callable `default`) is
        # one value shared by every instance; a callable or database default is made per instance.
        if field.has_db_default() or (field.has_default() and callable(field.default)):
            factories.append((field.name, field.attname, field.get_default))
        else:
            constants[field.attname] = field.get_default()
        # Django's plain attribute, and a foreign key's id (whose setter only clears a cached
        # related object, which a new instance does not have), are stored as they are.
        if type(getattr(model, field.attname, None)) in (DeferredAttribute, ForeignKeyDeferredAttribute):
            direct.add(field.attname)
    return _BuildSpec(attnames, constants, tuple(factories), frozenset(direct))


def row_build(model: type[M], /, **values: Any) -> M:
    """`model(**values)` (field names, attribute names such as `case_id`, or related objects), for
    the rows a service builds by the hundred to insert: the same instance, made without Django's
    generic `__init__` (per field, a keyword lookup and a descriptor call, and two signals), which
    was about a third of a bulk sync's time. When a receiver listens to `pre_init` or `post_init`,
    or for a keyword that is no field, it is `model(**values)` itself."""
    if pre_init.receivers or post_init.receivers:
        return model(**values)
    spec = _build_spec(model)
    obj = model.__new__(model)
    obj._state = ModelState()
    attributes = obj.__dict__
    attributes.update(spec.constants)
    for name, attname, factory in spec.factories:
        if attname not in values and name not in values:
            attributes[attname] = factory()
    if values.keys() <= spec.direct:
        attributes.update(values)
        return obj
    for key, value in values.items():
        attname = spec.attnames.get(key, "")
        if attname and attname in spec.direct:
            attributes[attname] = value
        elif attname is None or attname:
            setattr(obj, key, value)  # a related object (cached as `model(...)` caches it), or pk
        else:
            return model(**values)  # not a field: let Django say so
    return obj


def row_insert_new(obj: M) -> bool:
    """Insert `obj` unless a row already holds one of its unique values: True when inserted (its
    id set), False when such a row exists (nothing written). On PostgreSQL one `INSERT ... ON
    CONFLICT DO NOTHING RETURNING id`: no savepoint is needed around it, as an INSERT that fails
    on a unique constraint would need. A concurrent insert of the same values is waited for, as
    a unique check waits. Elsewhere: a savepoint around the insert."""
    model = type(obj)
    connection = connections[router.db_for_write(model)]
    if connection.vendor == "postgresql":
        _, columns = _insert_fields(model)
        rows = _prepared_rows([obj], columns, connection)
        if rows is not None:
            with connection.cursor() as cursor:
                cursor.execute(_values_sql(model, 1, True, skip_conflicts=True), rows[0])
                inserted = cursor.fetchone()
            if inserted is None:
                return False
            obj.pk = inserted[0]
            obj._state.adding, obj._state.db = False, connection.alias
            return True
    try:
        with transaction.atomic(using=connection.alias):
            rows_insert(model, [obj])
    except IntegrityError:
        return False
    return True


@functools.cache
def _values_sql(model: type[models.Model], count: int, ids: bool, skip_conflicts: bool = False) -> str:
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    fields, _ = _insert_fields(model)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES " + ", ".join(
        [row] * count
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if ids:
        sql += f" RETURNING {connection.ops.quote_name(meta.pk.column)}"
    return sql


def _copy(cursor, connection, model, fields, objs, rows, ids: bool) -> None:
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    columns = [connection.ops.quote_name(f.column) for f in fields]
    if ids:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, meta.pk.column, len(objs)],
        )
        for obj, row, (pk,) in zip(objs, rows, cursor.fetchall(), strict=True):
            obj.pk = pk
            row.append(pk)
        columns.append(connection.ops.quote_name(meta.pk.column))
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.wrap_database_errors, _logged(cursor, sql), cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _logged(cursor, sql: str):
    """Log the COPY where Django logs statements (DEBUG, query-count tests), as an execute is."""
    if hasattr(cursor, "debug_sql"):  # CursorDebugWrapper: the connection logs its queries
        return cursor.debug_sql(sql)
    return nullcontext()


def row_update(obj: models.Model, fields: Iterable[str]) -> None:
    """`obj.save(update_fields=fields)` as one UPDATE whose text is built once per model and
    fields: `auto_now` fields take the time now and values are prepared as `save` prepares them,
    but no signals are sent (as `QuerySet.update`). The hot paths' models (a case's version and
    activity, its SLA state, a clock) have no receivers. As `save`, a row that is gone is an
    error (`DatabaseError`), not a silent no-op."""
    model = type(obj)
    connection = connections[router.db_for_write(model, instance=obj)]
    names = tuple(fields)
    sql, targets = _update_sql(model, names, connection.alias)
    values = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in targets]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, obj.pk])
        if cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")


@functools.cache
def _update_sql(model: type[models.Model], names: tuple[str, ...], alias: str) -> tuple[str, list]:
    connection = connections[alias]
    meta = model._meta
    targets = [meta.get_field(name) for name in names]
    if any(not f.concrete or f.primary_key or f.many_to_many for f in targets):
        raise ValueError(f"row_update: {names} must name concrete, non-key fields of {meta.label}")
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in targets)
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s", targets
