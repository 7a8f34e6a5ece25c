"""Ingestion serves a client's routing rules, webhook subscriptions and SLA policies from
in-process caches keyed by revisions read with the connector (cases.revisions). A change made
between two contacts counts for the second one: each test warms the cache with one contact,
changes the configuration, and checks the next contact sees the change."""

from __future__ import annotations

import pytest

from cases.models import Case
from connectors.models import WebhookDelivery
from connectors.webhooks import webhook_subscription_update
from slas.models import SLAClock, SLATarget
from tests.connectors.factories import RoutingRuleFactory, WebhookSubscriptionFactory
from tests.factories import QueueFactory, SLAPolicyFactory

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def _sms(post_event, connector, n: int, body: str = "hello") -> Case:
    """A first message of a new person (so it opens a case); returns the case."""
    response = post_event(
        connector, f"MessageSid=SM{n}&From=%2B1415555{n:04d}&Body={body}".encode(), content_type=FORM
    )
    assert response.status_code == 201, response.content
    return Case.objects.get(public_id=response.json()["case"])


def test_a_routing_rule_added_changed_or_deactivated_counts_for_the_next_contact(
    make_connector, post_event, client_a, queue_a
):
    sms = make_connector("sms")
    assert _sms(post_event, sms, 1, "bill").queue == queue_a  # no rules yet: cached as none

    billing = QueueFactory(client=client_a, name="Billing", slug="billing")
    rule = RoutingRuleFactory(client=client_a, queue=billing, keywords=["bill"], priority="high")
    case = _sms(post_event, sms, 2, "bill")
    assert (case.queue, case.priority) == (billing, "high")

    rule.priority = "urgent"
    rule.save()
    assert _sms(post_event, sms, 3, "bill").priority == "urgent"

    billing.default_tier = 2  # the routed queue's own settings are part of the revision
    billing.save()
    assert _sms(post_event, sms, 4, "bill").tier == 2

    rule.is_active = False
    rule.save()
    assert _sms(post_event, sms, 5, "bill").queue == queue_a


def test_a_webhook_subscription_added_or_deactivated_counts_for_the_next_contact(
    make_connector, post_event, client_a, settings
):
    settings.ACCORD_WEBHOOKS_ALLOW_LOOPBACK = True
    sms = make_connector("sms")
    _sms(post_event, sms, 1)
    assert not WebhookDelivery.objects.exists()

    subscription = WebhookSubscriptionFactory(
        client=client_a, url="http://127.0.0.1:9/hooks", events=["case.created"]
    )
    case = _sms(post_event, sms, 2)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.subscription, delivery.event_type) == (subscription, "case.created")
    assert delivery.payload["data"]["case"]["id"] == str(case.public_id)

    subscription.is_active = False
    webhook_subscription_update(subscription=subscription)
    _sms(post_event, sms, 3)
    assert WebhookDelivery.objects.count() == 1


def test_an_sla_target_changed_counts_for_the_next_contact(make_connector, post_event, client_a):
    policy = SLAPolicyFactory(client=client_a, targets={("first_response", "normal"): 3600})
    sms = make_connector("sms")

    def first_response_target(case: Case) -> int:
        return SLAClock.objects.get(case=case, metric="first_response").target_seconds

    assert first_response_target(_sms(post_event, sms, 1)) == 3600
    target = SLATarget.objects.get(policy=policy, metric="first_response", priority="normal")
    target.seconds = 600
    target.save()
    assert first_response_target(_sms(post_event, sms, 2)) == 600
