"""Idempotency-Key on POST: replay without a new effect, 422 on another body, per client, and
one row for concurrent requests (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cases.api.idempotency import idempotency_purge
from cases.models import Case, CaseEvent, IdempotencyRecord
from tests.api.conftest import key_client

pytestmark = pytest.mark.django_db


def _body(queue, customer, subject="Printer on fire"):
    return {
        "subject": subject,
        "channel": "email",
        "queue_id": queue.pk,
        "customer_id": str(customer.public_id),
    }


def test_same_key_and_body_replays_the_first_response(api_a, queue_a, customer_a):
    first = api_a.post("/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    events = CaseEvent.objects.count()
    second = api_a.post(
        "/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert second.status_code == 201
    assert second.content == first.content
    assert second["ETag"] == first["ETag"]
    assert second["Location"] == first["Location"]
    assert second["Idempotency-Replayed"] == "true"
    assert Case.objects.count() == 1
    assert CaseEvent.objects.count() == events


def test_same_key_other_body_is_422(api_a, queue_a, customer_a):
    api_a.post("/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = api_a.post(
        "/api/v1/cases", _body(queue_a, customer_a, "Other"), format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert response.status_code == 422
    assert response.json()["type"] == "/api/v1/errors/unprocessable"
    assert Case.objects.count() == 1


def test_keys_are_per_client_and_errors_are_replayed_too(
    api_a, api_b, queue_a, customer_a, queue_b, customer_b, read_key_a
):
    api_a.post("/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="shared")
    other = api_b.post(
        "/api/v1/cases", _body(queue_b, customer_b), format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert other.status_code == 201
    assert Case.objects.count() == 2
    # Another key of the same client shares the client's namespace.
    refused = key_client(read_key_a).post(
        "/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="fresh"
    )
    assert refused.status_code == 403
    bad = api_a.post("/api/v1/cases", {"subject": ""}, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    again = api_a.post("/api/v1/cases", {"subject": ""}, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert (bad.status_code, again.status_code, again.content) == (400, 400, bad.content)


def test_expired_records_are_purged_and_the_key_is_free_again(api_a, queue_a, customer_a):
    api_a.post("/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = api_a.post("/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert again.status_code == 201
    assert Case.objects.count() == 2
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert idempotency_purge() == 1
    assert idempotency_purge() == 0


def test_a_server_error_frees_the_key(api_a, queue_a, customer_a, monkeypatch):
    from cases import sync

    def boom(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(sync, "case_create", boom)
    response = api_a.post(
        "/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="k-500"
    )
    assert response.status_code == 500
    assert response.json() == {
        "type": "/api/v1/errors/server_error",
        "title": "Server error",
        "status": 500,
        "detail": "The server failed to handle this request.",
    }
    assert not IdempotencyRecord.objects.exists()


def test_bad_keys_are_400(api_a, queue_a, customer_a):
    response = api_a.post(
        "/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="x" * 256
    )
    assert response.status_code == 400
    assert not Case.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_case(queue_a, customer_a, write_key_a):
    barrier = threading.Barrier(5)
    responses = []

    def post():
        try:
            barrier.wait()
            responses.append(
                key_client(write_key_a).post(
                    "/api/v1/cases", _body(queue_a, customer_a), format="json", HTTP_IDEMPOTENCY_KEY="race"
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Case.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert sorted(r.status_code for r in responses) == [201] * 5
    assert len({r.content for r in responses}) == 1
