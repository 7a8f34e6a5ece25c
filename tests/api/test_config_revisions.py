"""The API serves a client's queues, SLA policies and webhook subscriptions from caches keyed by
the revisions read with the API key (cases.revisions). A change made between two requests counts
for the second; what one request read never serves another (revisions are request-scoped)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from cases.models import Case
from connectors.models import WebhookDelivery
from slas.models import SLAClock, SLATarget
from slas.services import policies_for_client_cached
from tests.api.conftest import key_client
from tests.connectors.factories import WebhookSubscriptionFactory
from tests.factories import QueueFactory

pytestmark = pytest.mark.django_db


def _create(api, queue, customer) -> str:
    body = {"subject": "s", "channel": "email", "queue_id": queue.pk, "customer_id": str(customer.public_id)}
    response = api.post("/api/v1/cases", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _first_response_target(case_id: str) -> int:
    return SLAClock.objects.get(case__public_id=case_id, metric="first_response").target_seconds


def test_a_target_changed_between_two_creates_counts_for_the_second(api_a, policy_a, queue_a, customer_a):
    assert _first_response_target(_create(api_a, queue_a, customer_a)) == 3600
    target = SLATarget.objects.get(policy=policy_a, metric="first_response", priority="normal")
    target.seconds = 900
    target.save()
    assert _first_response_target(_create(api_a, queue_a, customer_a)) == 900


def test_a_subscription_added_between_two_creates_counts_for_the_second(
    api_a, policy_a, queue_a, customer_a, client_a, settings
):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    _create(api_a, queue_a, customer_a)
    assert not WebhookDelivery.objects.exists()
    WebhookSubscriptionFactory(client=client_a, url="http://127.0.0.1:9/hooks", events=["case.created"])
    case_id = _create(api_a, queue_a, customer_a)
    assert WebhookDelivery.objects.get().payload["data"]["case"]["id"] == case_id


def test_revisions_read_by_a_request_do_not_outlive_it(api_a, policy_a, queue_a, customer_a, client_a):
    _create(api_a, queue_a, customer_a)
    target = SLATarget.objects.get(policy=policy_a, metric="first_response", priority="normal")
    target.seconds = 900
    target.save()
    # Outside any request (a task, the admin) the revision is read afresh: the change shows.
    policy = next(p for p in policies_for_client_cached(client_a.pk) if p.pk == policy_a.pk)
    assert {(t.metric, t.priority): t.seconds for t in policy.targets.all()}[
        ("first_response", "normal")
    ] == 900


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_committed_after_a_newer_one_is_not_missed(write_key_a, policy_a, queue_a, customer_a):
    """A change whose history row has an older id and time than one already seen, because its
    transaction committed late, still moves the revision (its count)."""
    api = key_client(write_key_a)
    normal = SLATarget.objects.get(policy=policy_a, metric="first_response", priority="normal")
    high = SLATarget.objects.get(policy=policy_a, metric="first_response", priority="high")
    written, release = threading.Event(), threading.Event()

    def late_change():
        try:
            with transaction.atomic():
                normal.seconds = 900
                normal.save()  # its history row takes its id and time now
                written.set()
                release.wait(10)
        finally:
            connection.close()

    slow = threading.Thread(target=late_change)
    slow.start()
    assert written.wait(10)
    high.seconds = 600
    high.save()  # a newer id and time, committed first
    assert _first_response_target(_create(api, queue_a, customer_a)) == 3600  # caches this state
    release.set()
    slow.join()
    assert _first_response_target(_create(api, queue_a, customer_a)) == 900


def test_a_queue_added_between_two_creates_takes_cases_at_once(
    api_a, policy_a, queue_a, customer_a, client_a
):
    _create(api_a, queue_a, customer_a)  # the client's queues are cached now
    billing = QueueFactory(client=client_a, name="Billing", slug="billing")
    case_id = _create(api_a, billing, customer_a)
    assert Case.objects.get(public_id=case_id).queue == billing
