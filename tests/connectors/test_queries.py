"""Query cost of one ingested event: constant (the 1st and the 20th cost the same), for a new
case and for a follow-up, with an SLA policy applying (the realistic path).

Counted through the endpoint in autocommit (transaction=True), as in production, with tasks
enqueued on the ORM broker instead of run inline. `data` statements exclude SAVEPOINT /
RELEASE / BEGIN / COMMIT; `total` includes them. The client's routing rules, webhook
subscriptions and SLA policies come from caches keyed by revisions read with the connector
(tests/connectors/test_config_revisions.py shows a change counts at once)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import SLAPolicyFactory

pytestmark = pytest.mark.django_db(transaction=True)

FORM = "application/x-www-form-urlencoded"
CONTROL = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK")


@pytest.fixture
def realistic(make_connector, client_a, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # enqueue on the ORM broker, as in production
    SLAPolicyFactory(
        client=client_a,
        targets={
            ("first_response", "normal"): 3600,
            ("next_response", "normal"): 3600,
            ("resolution", "normal"): 86400,
        },
    )
    return make_connector("sms")


def _cost(post_event, connector, body: bytes) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as context:
        response = post_event(connector, body, content_type=FORM)
    assert response.status_code == 201, response.content
    statements = [query["sql"] for query in context.captured_queries]
    data = [sql for sql in statements if sql.split()[0].upper() not in CONTROL]
    return len(data), len(statements)


def test_follow_up_costs_constant_and_at_most_12_data_statements(realistic, post_event):
    costs = [
        _cost(post_event, realistic, f"MessageSid=F{i}&From=%2B14155550000&Body=again+{i}".encode())
        for i in range(6)
    ]
    # The first message opens the case; every follow-up after it costs the same.
    follow_ups = costs[1:]
    assert len(set(follow_ups)) == 1, follow_ups
    data, total = follow_ups[0]
    # connector (with the configuration revisions), raw event (autocommit), its claim, identity,
    # the case to join (locked), interaction, timeline entry, the case's SLA state and clocks,
    # their update, the case's version, and the sentiment task on the ORM broker
    assert data <= 12
    # + BEGIN and COMMIT: interaction_append takes no savepoint in the ingestion's transaction,
    # which holds the case locked; on PostgreSQL its insert needs none either (ON CONFLICT DO
    # NOTHING), elsewhere the insert takes one (SAVEPOINT, RELEASE)
    assert total == data + (2 if connection.vendor == "postgresql" else 4)


def test_new_case_costs_constant_and_at_most_14_data_statements(realistic, post_event):
    costs = [
        _cost(post_event, realistic, f"MessageSid=N{i}&From=%2B1415555{i + 1:04d}&Body=hi".encode())
        for i in range(6)
    ]
    # The very first case of the client also warms the compiled-calendar cache: compare the rest.
    assert len(set(costs[1:])) == 1, costs
    data, total = costs[-1]
    # connector (with the configuration revisions), raw event (autocommit), its claim, identity
    # lookup; a new customer (row, history, identities in one insert); the case opened with its
    # message (case, interaction, both timeline entries in one insert); the SLA engine (case SLA,
    # clocks, clock events); the sentiment task on the ORM broker
    assert data <= 14
    # + BEGIN, COMMIT and two savepoints (the new customer, the opening)
    assert total <= 20


def test_max_queries_pin(realistic, post_event, django_assert_max_num_queries):
    post_event(realistic, b"MessageSid=P0&From=%2B14155550000&Body=first", content_type=FORM)
    with django_assert_max_num_queries(16):
        post_event(realistic, b"MessageSid=P1&From=%2B14155550000&Body=second", content_type=FORM)
