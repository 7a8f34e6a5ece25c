"""Factories of the connector models. Secrets are fixed per row so tests can sign."""

from __future__ import annotations

import factory

from cases.choices import Priority
from connectors.choices import ADAPTER_CHANNEL, AdapterKind
from connectors.models import Connector, RoutingRule, WebhookSubscription
from tests.factories import ClientFactory, QueueFactory


class ConnectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connector

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Connector {n}")
    slug = factory.Sequence(lambda n: f"connector-{n}")
    adapter = AdapterKind.EMAIL
    channel = factory.LazyAttribute(lambda o: ADAPTER_CHANNEL[o.adapter])
    default_queue = factory.SubFactory(QueueFactory, client=factory.SelfAttribute("..client"))
    signing_secret = factory.Sequence(lambda n: f"acs_test_secret_{n}")
    settings = factory.LazyFunction(dict)


class RoutingRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoutingRule

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Rule {n}")
    order = factory.Sequence(lambda n: n)
    queue = factory.SubFactory(QueueFactory, client=factory.SelfAttribute("..client"))
    priority = Priority.NORMAL


class WebhookSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"CRM hook {n}")
    url = "https://crm.example/hooks"
    events = factory.LazyFunction(lambda: ["case.created"])
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
