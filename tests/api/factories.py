"""Factories for the API's own models. `ApiKeyFactory` goes through the key service, so the key is
stored hashed like a real one; the raw key is on the result as `.raw`."""

from __future__ import annotations

import factory

from cases.api.keys import api_key_create
from cases.models import ApiKey, ApiKeyScope
from tests.factories import ClientFactory


class ApiKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiKey

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"CRM {n}")
    scope = ApiKeyScope.READ_WRITE

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        created = api_key_create(**kwargs)
        created.key.raw = created.raw
        return created.key
