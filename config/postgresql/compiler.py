"""Django's PostgreSQL compilers; bulk inserts of a few rows use VALUES rather than UNNEST.

Django 5.2 sends every multi-row `bulk_create` on PostgreSQL as `INSERT ... SELECT * FROM
UNNEST(%s::type[], ...)`, one array per column, which saves planning time on large batches
(500 cases: 37 ms instead of 102 ms here). For a handful of rows, the case of every live case
change (a case's two or three clocks, their clock events), building and dumping those arrays
costs more than it saves (2 clocks: 0.70 ms instead of 0.43 ms). Below `UNNEST_MIN_ROWS` rows,
the plain VALUES form is used, as Django does for one row.
"""

from django.db.backends.postgresql.compiler import (
    SQLAggregateCompiler,
    SQLCompiler,
    SQLDeleteCompiler,
    SQLUpdateCompiler,
)
from django.db.backends.postgresql.compiler import SQLInsertCompiler as PostgresInsertCompiler
from django.db.models.sql.compiler import SQLInsertCompiler as BaseInsertCompiler

__all__ = [
    "SQLAggregateCompiler",
    "SQLCompiler",
    "SQLDeleteCompiler",
    "SQLInsertCompiler",
    "SQLUpdateCompiler",
]

UNNEST_MIN_ROWS = 8


class SQLInsertCompiler(PostgresInsertCompiler):
    def assemble_as_sql(self, fields, value_rows):
        if len(value_rows) < UNNEST_MIN_ROWS:
            return BaseInsertCompiler.assemble_as_sql(self, fields, value_rows)
        return super().assemble_as_sql(fields, value_rows)
