"""The schema as PostgreSQL has it after the migrations: no index that another one makes redundant.

Django indexes every foreign key by default. When a composite index begins with the same column,
the single-column index serves no lookup the composite does not, and every INSERT, and every
UPDATE that is not HOT, still writes an entry into both. Every ingested message writes a case
event and an interaction and updates its case.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ACCORD_APPS = ("cases", "slas", "governance", "connectors", "workspace", "reporting")

# Each index of a table: its name, whether it is unique, whether it covers every row (no WHERE,
# no expression), and its key columns in order, each with its operator class (a `_like` index
# for LIKE prefixes is not redundant with the plain one on the same column).
_INDEXES = """
SELECT t.relname, i.relname, ix.indisunique, ix.indpred IS NULL AND ix.indexprs IS NULL,
       array(SELECT a.attname || ' ' || o.opcname
             FROM unnest(ix.indkey[0:ix.indnkeyatts - 1], ix.indclass[0:ix.indnkeyatts - 1])
                  WITH ORDINALITY k(attnum, opclass, n)
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
             JOIN pg_opclass o ON o.oid = k.opclass
             ORDER BY k.n)
FROM pg_index ix
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_class i ON i.oid = ix.indexrelid
WHERE t.relname = ANY(%s)
"""


def _accord_tables() -> list[str]:
    return [model._meta.db_table for app in ACCORD_APPS for model in apps.get_app_config(app).get_models()]


def test_no_index_is_a_prefix_of_another_on_the_same_table():
    with connection.cursor() as cursor:
        cursor.execute(_INDEXES, [_accord_tables()])
        rows = cursor.fetchall()
    assert len(rows) > 50, "the query found the tables' indexes"
    by_table: dict[str, list[tuple[str, bool, bool, list[str]]]] = {}
    for table, name, unique, whole, columns in rows:
        by_table.setdefault(table, []).append((name, unique, whole, list(columns)))
    redundant = [
        f"{table}.{name} {columns} (covered by {other} {other_columns})"
        for table, indexes in by_table.items()
        for name, unique, whole, columns in indexes
        if whole and not unique
        for other, _, other_whole, other_columns in indexes
        if other != name and other_whole and other_columns[: len(columns)] == columns
    ]
    assert redundant == [], "\n".join(redundant)
