"""Changing a customer through the API (PATCH): its own client's key or staff, the given fields
only, in history with the reason; other clients, read keys and bad values change nothing."""

from __future__ import annotations

import pytest

from cases import services
from cases.models import Customer
from tests.api.conftest import key_client, user_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _url(customer) -> str:
    return f"/api/v1/customers/{customer.public_id}"


def test_a_client_system_changes_the_given_fields_with_history(api_a, customer_a):
    response = api_a.patch(
        _url(customer_a), {"is_vip": True, "segment": "gold", "reason": "upgraded in CRM"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["is_vip"], response.json()["segment"]) == (True, "gold")
    customer_a.refresh_from_db()
    assert (customer_a.is_vip, customer_a.segment, customer_a.display_name) == (True, "gold", "Ann Alpha")
    latest = customer_a.history.latest()
    assert latest.history_change_reason == "changed segment, is_vip: upgraded in CRM"
    # the same values again: nothing written
    count = customer_a.history.count()
    assert api_a.patch(_url(customer_a), {"is_vip": True}, format="json").status_code == 200
    assert customer_a.history.count() == count
    # A reason is kept whole or refused, never cut short in the history.
    long = api_a.patch(_url(customer_a), {"segment": "silver", "reason": "x" * 51}, format="json")
    assert long.status_code == 400 and "reason" in long.json()["errors"]
    fits = "Customer asked by phone; verified, passport seen."  # 50 characters
    assert (
        api_a.patch(_url(customer_a), {"segment": "silver", "reason": fits}, format="json").status_code == 200
    )
    assert customer_a.history.latest().history_change_reason == f"changed segment: {fits}"


def test_staff_with_the_permission_change_a_customer(customer_a, supervisor_a):
    response = user_client(supervisor_a).patch(_url(customer_a), {"display_name": "Ann B."}, format="json")
    assert response.status_code == 200, response.content
    assert Customer.objects.get(pk=customer_a.pk).display_name == "Ann B."


def test_other_clients_read_keys_and_bad_values_change_nothing(
    api_a, api_b, read_key_a, customer_a, client_a
):
    assert api_b.patch(_url(customer_a), {"is_vip": True}, format="json").status_code == 404
    assert key_client(read_key_a).patch(_url(customer_a), {"is_vip": True}, format="json").status_code == 403
    bad = api_a.patch(_url(customer_a), {"segment": "", "is_vip": "maybe"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"segment", "is_vip"}
    survivor = CustomerFactory(client=client_a)
    services.customers_merge(survivor=survivor, merged=customer_a, actor=None, reason="duplicate")
    merged = api_a.patch(_url(customer_a), {"is_vip": True}, format="json")
    assert merged.status_code == 400 and "merged into another" in merged.json()["detail"]
    customer_a.refresh_from_db()
    assert (customer_a.is_vip, customer_a.segment) == (False, "standard")
