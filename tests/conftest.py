"""Fixtures for actors and API clients. Data comes from tests/factories.py."""

from __future__ import annotations

import pytest
from django.db import connection

from cases import services
from cases.choices import Channel, Role
from config import events as dispatcher
from tests.factories import ClientFactory, CustomerFactory, QueueFactory, UserFactory


@pytest.fixture(autouse=True)
def _compiled_calendars_forgotten():
    """Compiled calendars are cached per process by (id, revision). A test's rolled-back rows
    free their ids on SQLite, so the next test's calendar can get the same id and revision as
    one compiled before it: each test starts with none compiled."""
    from slas import services as sla_services

    sla_services._compiled.clear()


@pytest.fixture
def client_a(db):
    return ClientFactory(name="Alpha Telecom", slug="alpha")


@pytest.fixture
def client_b(db):
    return ClientFactory(name="Beta Bank", slug="beta", timezone="Europe/London", default_region="GB")


@pytest.fixture
def queue_a(client_a):
    return QueueFactory(client=client_a, name="Support A", slug="support-a")


@pytest.fixture
def queue_b(client_b):
    return QueueFactory(client=client_b, name="Support B", slug="support-b")


@pytest.fixture
def customer_a(client_a):
    return CustomerFactory(client=client_a, display_name="Ann Alpha")


@pytest.fixture
def customer_b(client_b):
    return CustomerFactory(client=client_b, display_name="Bob Beta")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def agent_a(client_a):
    return UserFactory(username="agent-a", role=Role.AGENT, clients=[client_a])


@pytest.fixture
def supervisor_a(client_a):
    return UserFactory(username="supervisor-a", role=Role.SUPERVISOR, clients=[client_a])


@pytest.fixture
def governance_a(client_a):
    return UserFactory(username="governance-a", role=Role.GOVERNANCE, clients=[client_a])


@pytest.fixture
def agent_b(client_b):
    return UserFactory(username="agent-b", role=Role.AGENT, clients=[client_b])


@pytest.fixture
def open_case(db):
    """Open a case through the lifecycle service: `open_case(client=..., queue=..., ...)`."""

    def _open(*, client, queue=None, customer=None, channel=Channel.EMAIL, **kwargs):
        queue = queue or QueueFactory(client=client)
        customer = customer or CustomerFactory(client=client)
        kwargs.setdefault("subject", "Router keeps restarting")
        return services.case_open(client=client, customer=customer, queue=queue, channel=channel, **kwargs)

    return _open


@pytest.fixture
def case_a(open_case, client_a, queue_a, customer_a):
    return open_case(client=client_a, queue=queue_a, customer=customer_a)


@pytest.fixture
def case_b(open_case, client_b, queue_b, customer_b):
    return open_case(client=client_b, queue=queue_b, customer=customer_b)


@pytest.fixture
def captured_events():
    """`captured_events(EventType)` returns a list that receives that type's events on commit."""
    registered = []

    def _capture(event_type, phase="commit"):
        received: list = []
        dispatcher.subscribe(event_type, received.append, phase=phase)
        registered.append((event_type, received.append, phase))
        return received

    yield _capture
    for event_type, handler, phase in registered:
        dispatcher.unsubscribe(event_type, handler, phase=phase)


def pytest_report_header(config):
    return f"database: {connection.vendor}"


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.postgres` tests need row locks and real concurrency: on SQLite they are
    skipped with the reason printed (CI runs the suite on PostgreSQL as well)."""
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
