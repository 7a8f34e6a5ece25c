"""config.prepared.prepared_select: a hot SELECT compiled once returns, for any values, what its
queryset returns (instances, joined objects, annotations, converted fields), with each call's
values and never another call's; it is refused when an argument cannot be placed."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from unittest import mock
from uuid import UUID

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.db.models import Count, QuerySet
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from cases.models import Case, Customer
from config.prepared import prepared_select
from tests.factories import CaseFactory, ClientFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def _cases(client_id: int, since: datetime) -> QuerySet[Case]:
    return (
        Case.objects.filter(client_id=client_id, opened_at__gte=since)
        .select_related("customer", "queue")
        .annotate(timeline_entries=Count("events"))
        .order_by("opened_at", "id")
    )


@prepared_select
def cases_since(client_id: int, since: datetime) -> QuerySet[Case]:
    return _cases(client_id, since)


@prepared_select
def customer_by_public_id(client_id: int, public_id: UUID) -> QuerySet[Customer]:
    return Customer.objects.filter(client_id=client_id, public_id=public_id).order_by()


@prepared_select
def customer_locked(client_id: int, display_name: str) -> QuerySet[Customer]:
    return Customer.objects.filter(client_id=client_id, display_name=display_name).select_for_update()


def _fields(case: Case) -> tuple:
    return (
        case.pk,
        case.public_id,
        case.subject,
        case.opened_at,
        case.customer.display_name,
        case.queue.name,
        case.timeline_entries,
    )


def test_each_call_returns_what_its_queryset_returns_for_its_own_values():
    first, second = ClientFactory(), ClientFactory()
    base = CaseFactory(client=first).opened_at
    for client in (first, second):
        for minutes in (-10, 5, 20):
            CaseFactory(client=client, opened_at=base + timedelta(minutes=minutes))
    for client in (first, second, first):  # values never stick from an earlier call
        for since in (base - timedelta(hours=1), base, base + timedelta(minutes=10)):
            got = cases_since(client_id=client.pk, since=since)
            expected = list(_cases(client.pk, since))
            assert [_fields(case) for case in got] == [_fields(case) for case in expected]
            assert all(case.client_id == client.pk and case.opened_at >= since for case in got)
    assert cases_since(client_id=first.pk, since=base + timedelta(days=1)) == []


def test_a_uuid_argument_finds_its_row_in_its_client_only():
    customer = CustomerFactory()
    other_client = ClientFactory()
    (found,) = customer_by_public_id(client_id=customer.client_id, public_id=customer.public_id)
    assert found == customer and found.display_name == customer.display_name
    assert customer_by_public_id(client_id=other_client.pk, public_id=customer.public_id) == []


def test_the_statement_is_compiled_once_and_each_call_is_one_query():
    customer = CustomerFactory()
    customer_by_public_id(client_id=customer.client_id, public_id=customer.public_id)  # compiled
    with (
        mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql) as as_sql,
        mock.patch.object(
            SQLCompiler, "get_converters", autospec=True, side_effect=SQLCompiler.get_converters
        ) as get_converters,
        CaptureQueriesContext(connection) as context,
    ):
        for _ in range(3):
            (found,) = customer_by_public_id(client_id=customer.client_id, public_id=customer.public_id)
            assert (found.public_id, found.created_at) == (customer.public_id, customer.created_at)
    assert as_sql.call_count == 0
    assert get_converters.call_count == 0  # the field converters are derived once per connection
    assert len(context.captured_queries) == 3
    assert len({query["sql"] for query in context.captured_queries}) == 1


def test_select_for_update_keeps_its_lock_clause_and_its_transaction_check():
    customer = CustomerFactory(display_name="Locked")
    with transaction.atomic(), CaptureQueriesContext(connection) as context:
        assert customer_locked(client_id=customer.client_id, display_name="Locked") == [customer]
    if connection.features.has_select_for_update:
        assert "FOR UPDATE" in context.captured_queries[-1]["sql"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not connection.features.has_select_for_update, reason="SQLite has no FOR UPDATE to refuse"
)
def test_select_for_update_outside_a_transaction_is_refused_as_by_django():
    customer = CustomerFactory(display_name="Locked")
    with pytest.raises(TransactionManagementError):
        customer_locked(client_id=customer.client_id, display_name="Locked")
    with pytest.raises(TransactionManagementError):
        list(Customer.objects.filter(pk=customer.pk).select_for_update())


def test_an_argument_that_does_not_reach_the_parameters_is_refused_by_name():
    @prepared_select
    def by_name_part(client_id: int, part: str) -> QuerySet[Customer]:
        return Customer.objects.filter(client_id=client_id, display_name__icontains=part)

    with pytest.raises(ImproperlyConfigured, match="'part'"):
        by_name_part(client_id=1, part="x")


def test_missing_or_unknown_arguments_are_a_type_error():
    with pytest.raises(TypeError):
        customer_by_public_id(client_id=1)
    with pytest.raises(TypeError):
        customer_by_public_id(client_id=1, public_id=UUID(int=1), extra=2)


@pytest.mark.django_db(transaction=True)
def test_a_call_from_another_thread_runs_on_that_threads_connection():
    customer = CustomerFactory()
    customer_by_public_id(client_id=customer.client_id, public_id=customer.public_id)  # compiled here
    seen = {}

    def other_thread():
        try:
            with CaptureQueriesContext(connections["default"]) as context:
                seen["rows"] = customer_by_public_id(
                    client_id=customer.client_id, public_id=customer.public_id
                )
            seen["queries"] = len(context.captured_queries)
            seen["connection"] = id(connections["default"])
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen["rows"] == [customer]
    assert seen["queries"] == 1  # logged on that thread's connection, so it ran there
    assert seen["connection"] != id(connection)
