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


class CaseQuerySet(ClientScopedQuerySet):
    def unresolved(self) -> CaseQuerySet:
        return self.filter(status__in=UNRESOLVED_STATUSES)

    def for_customer(self, customer) -> CaseQuerySet:
        return self.filter(customer=customer)


class InteractionQuerySet(ClientScopedQuerySet):
    def public(self) -> InteractionQuerySet:
        return self.exclude(direction="note")
