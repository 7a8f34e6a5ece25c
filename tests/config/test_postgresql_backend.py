"""config.postgresql: Django's PostgreSQL backend, inserting fewer than UNNEST_MIN_ROWS rows with
VALUES and more with UNNEST; the rows are the same either way. Statements are bound and prepared
on the server; timestamps are read with datetime.fromisoformat, as Django's loader reads them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.api.pagination import keyset_after
from cases.choices import CaseEventKind
from cases.models import Case, CaseEvent
from config.postgresql.compiler import UNNEST_MIN_ROWS
from tests.factories import CaseFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.mark.parametrize(("count", "form"), [(2, "VALUES"), (UNNEST_MIN_ROWS, "UNNEST")])
def test_bulk_insert_form_follows_the_row_count(count, form):
    assert connection.settings_dict["ENGINE"] == "config.postgresql"
    case = CaseFactory()
    rows = [
        CaseEvent(
            case=case,
            client=case.client,
            kind=CaseEventKind.UPDATED,
            reason=f"r{i}",
            occurred_at=case.opened_at,
        )
        for i in range(count)
    ]
    with CaptureQueriesContext(connection) as context:
        created = CaseEvent.objects.bulk_create(rows)
    (insert,) = [q["sql"] for q in context.captured_queries if q["sql"].startswith("INSERT")]
    assert form in insert and ({"VALUES", "UNNEST"} - {form}).pop() not in insert
    assert all(row.pk for row in created)
    stored = CaseEvent.objects.filter(pk__in=[row.pk for row in created]).order_by("pk")
    assert [event.reason for event in stored] == [f"r{i}" for i in range(count)]


def test_a_statement_run_often_is_prepared_once_and_stops_being_planned():
    """Server-side binding with prepared statements (settings: PG_SERVER_SIDE_BINDING,
    PG_PREPARE_THRESHOLD): a statement run PG_PREPARE_THRESHOLD times on a connection becomes a
    prepared statement of that connection; parameters still vary per call."""
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True and threshold >= 1
    cases = [CaseFactory(subject=f"prepared {i}") for i in range(threshold + 1)]

    def prepared() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return {row[0] for row in cursor.fetchall()}

    before = prepared()
    subjects = [Case.objects.filter(pk=case.pk).values_list("subject", flat=True)[0] for case in cases]
    assert subjects == [f"prepared {i}" for i in range(threshold + 1)]
    new = prepared() - before
    assert any('FROM "cases_case"' in statement and "$1" in statement for statement in new)


def _planner_sees_only_this_test() -> None:
    """Statistics of this test's rows (ANALYZE runs in its transaction): otherwise the plan
    depends on what autovacuum last sampled from other tests' rows, e.g. one client with many
    cases, which makes the client's own index look better than the one shown here."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")


@pytest.mark.parametrize("count", [1, 500])
def test_external_id_lookups_can_use_the_partial_unique_index(count):
    """`with_external_id` restates the partial index's condition (external_id <> ''), so
    PostgreSQL can use the index for 500 ids or a bound parameter; a bare IN of more than 100
    ids cannot (it scanned 200,000 cases: 62 ms against 1.4 ms)."""
    case = CaseFactory(external_id="E-0")
    ids = [f"E-{i}" for i in range(count)]
    _planner_sees_only_this_test()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: make the index's use visible
    plan = Case.objects.filter(client=case.client).with_external_id(*ids).order_by().explain()
    assert "case_external_id_unique_per_client" in plan
    if count > 100:
        bare = Case.objects.filter(client=case.client, external_id__in=ids).order_by().explain()
        assert "case_external_id_unique_per_client" not in bare
    assert list(Case.objects.filter(client=case.client).with_external_id(*ids)) == [case]


@pytest.mark.parametrize("ordering", [["opened_at", "id"], ["-opened_at", "-id"]])
def test_a_cursor_page_starts_its_index_scan_at_the_cursor(ordering):
    """The keyset condition bounds the first sort term on its own, so PostgreSQL starts the
    index scan at the cursor: a page deep in 200,000 cases read 150,000 index entries before
    (33 ms), 101 after (0.1 ms)."""
    case = CaseFactory()
    _planner_sees_only_this_test()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    page = (
        Case.objects.filter(client_id__in=[case.client_id])
        .order_by(*ordering)
        .filter(keyset_after(ordering, [case.opened_at, case.pk]))
    )
    plan = page[:101].explain()
    index_condition = next(line for line in plan.splitlines() if "Index Cond" in line)
    assert "opened_at >=" in index_condition or "opened_at <=" in index_condition


TIMESTAMPS = [
    "2026-12-03 19:02:49.86913+00",
    "2026-12-03 19:02:49+00",
    "2026-12-03 19:02:49.000001+05:30",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
]


def _read(sql: str, params, loader_of_django: bool):
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    with connection.cursor() as cursor:
        if loader_of_django:
            register_tzloader(connection.timezone, cursor.cursor)
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_timestamps_read_as_djangos_loader_reads_them():
    """config.postgresql reads timestamptz text with datetime.fromisoformat: the same aware
    datetimes, in Django's time zone, as Django's own loader gives."""
    from datetime import UTC

    from config.postgresql.base import IsoTimestamptzLoader

    connection.ensure_connection()
    assert issubclass(connection.connection.adapters.get_loader(1184, 0), IsoTimestamptzLoader)
    sql = "SELECT CAST(value AS timestamptz) FROM unnest(CAST(%s AS text[])) value"
    ours = _read(sql, [TIMESTAMPS], loader_of_django=False)
    djangos = _read(sql, [TIMESTAMPS], loader_of_django=True)
    assert ours == djangos and len(ours) == len(TIMESTAMPS)
    assert all(value.tzinfo is UTC for (value,) in ours)
    case = CaseFactory()
    assert Case.objects.get(pk=case.pk).opened_at == case.opened_at


@pytest.mark.parametrize("text", ["infinity", "0044-03-15 12:00:00+00 BC"])
def test_timestamps_python_cannot_hold_are_refused_as_before(text):
    from django.db import DataError

    sql = "SELECT CAST(%s AS timestamptz)"
    with pytest.raises(DataError) as ours:
        _read(sql, [text], loader_of_django=False)
    with pytest.raises(DataError) as djangos:
        _read(sql, [text], loader_of_django=True)
    assert str(ours.value) == str(djangos.value)
