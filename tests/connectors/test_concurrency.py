"""Concurrent deliveries on PostgreSQL, through the endpoint, from real threads."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.urls import reverse

from cases.models import Case, Customer, CustomerIdentity, Interaction
from connectors import signing
from connectors.models import InboundEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FORM = "application/x-www-form-urlencoded"


def _parallel(connector, bodies: list[bytes]) -> list[int]:
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = [0] * len(bodies)

    def send(index: int, body: bytes) -> None:
        try:
            http = HttpClient()
            headers = signing.sign(connector.signing_secret, int(time.time()), body)
            barrier.wait()
            response = http.post(
                reverse("connectors:inbound-events", args=[connector.slug]),
                data=body,
                content_type=FORM,
                headers=headers,
            )
            statuses[index] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i, body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_concurrent_duplicate_deliveries_yield_one_row(make_connector):
    sms = make_connector("sms")
    body = b"MessageSid=SMDUP&From=%2B14155550123&Body=same+message"
    statuses = _parallel(sms, [body] * 8)
    assert sorted(statuses) == [200] * 7 + [201]
    assert InboundEvent.objects.count() == 1
    assert Interaction.objects.count() == 1
    assert Case.objects.count() == 1
    assert Customer.objects.count() == 1


def test_concurrent_first_messages_of_a_new_customer_share_customer_and_case(make_connector):
    sms = make_connector("sms")
    bodies = [f"MessageSid=SMNEW{i}&From=%2B14155550123&Body=part+{i}".encode() for i in range(6)]
    statuses = _parallel(sms, bodies)
    assert statuses == [201] * 6
    assert Customer.objects.count() == 1
    assert CustomerIdentity.objects.count() == 1
    assert Case.objects.count() == 1
    assert Interaction.objects.count() == 6
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_concurrent_deliveries_of_different_customers_do_not_block_each_other(make_connector):
    sms = make_connector("sms")
    bodies = [f"MessageSid=SMP{i}&From=%2B1415555{i + 100:04d}&Body=hello".encode() for i in range(6)]
    assert _parallel(sms, bodies) == [201] * 6
    assert Customer.objects.count() == 6
    assert Case.objects.count() == 6
