"""config.postgresql: Django's PostgreSQL backend, inserting fewer than UNNEST_MIN_ROWS rows with
VALUES and more with UNNEST; the rows are the same either way."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.choices import CaseEventKind
from cases.models import CaseEvent
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
