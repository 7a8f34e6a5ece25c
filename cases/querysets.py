"""Queryset vocabulary of the case domain."""

from __future__ import annotations

from django.db import models

from .choices import UNRESOLVED_STATUSES


class ClientScopedQuerySet(models.QuerySet):
    """Rows that carry `client_id`."""

    def for_client(self, client) -> ClientScopedQuerySet:
        return self.filter(client=client)

    def for_clients(self, clients) -> ClientScopedQuerySet:
        return self.filter(client__in=clients)


class ExternalKeysMixin:
    """Lookups through the partial indexes on external ids and thread keys (`WHERE external_id
    <> ''`, `WHERE thread_key <> ''`). The index condition is restated in the query: PostgreSQL
    cannot infer it from a bound parameter (a prepared statement's generic plan) nor from a list
    of more than 100 values, and scans the table instead (62 ms for 500 external ids among
    200,000 cases, 1.4 ms with the condition restated)."""

    def with_external_id(self, *external_ids: str):
        return self.filter(external_id__in=external_ids).exclude(external_id="")

    def with_thread_key(self, *thread_keys: str):
        return self.filter(thread_key__in=thread_keys).exclude(thread_key="")


class CaseQuerySet(ExternalKeysMixin, ClientScopedQuerySet):
    def unresolved(self) -> CaseQuerySet:
        return self.filter(status__in=UNRESOLVED_STATUSES)

    def for_customer(self, customer) -> CaseQuerySet:
        return self.filter(customer=customer)


class InteractionQuerySet(ExternalKeysMixin, ClientScopedQuerySet):
    def public(self) -> InteractionQuerySet:
        return self.exclude(direction="note")
