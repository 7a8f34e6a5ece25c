"""Factories of the governance models. Workflow states are reached through the services
(see the tests); these build consistent configuration rows."""

from __future__ import annotations

import factory

from governance.models import EscalationRule, EscalationTier, GovernanceSettings
from tests.factories import BusinessCalendarFactory, ClientFactory


class GovernanceSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GovernanceSettings

    client = factory.SubFactory(ClientFactory)


class EscalationTierFactory(factory.django.DjangoModelFactory):
    """`owners=[...]`, `queues=[...]` after creation."""

    class Meta:
        model = EscalationTier
        skip_postgeneration_save = True

    client = factory.SubFactory(ClientFactory)
    level = 2
    name = factory.Sequence(lambda n: f"Tier {n}")
    acceptance_target_seconds = 1800
    calendar = factory.SubFactory(BusinessCalendarFactory, client=factory.SelfAttribute("..client"))

    @factory.post_generation
    def owners(self, create, extracted, **kwargs):
        if create and extracted:
            self.owners.set(extracted)

    @factory.post_generation
    def queues(self, create, extracted, **kwargs):
        if create and extracted:
            self.queues.set(extracted)


class EscalationRuleFactory(factory.django.DjangoModelFactory):
    """A breach rule raising one tier by default; `queues=[...]` after creation."""

    class Meta:
        model = EscalationRule
        skip_postgeneration_save = True

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Rule {n}")
    trigger = "sla_breach"
    tier_action = "next"

    @factory.post_generation
    def queues(self, create, extracted, **kwargs):
        if create and extracted:
            self.queues.set(extracted)
