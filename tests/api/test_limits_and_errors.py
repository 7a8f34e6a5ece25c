"""Authentication failures, throttling, body size, and one error envelope for everything."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from cases.api.keys import api_key_revoke
from cases.models import ApiKey, Case
from tests.api.conftest import key_client
from tests.api.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

ENVELOPE = {"type", "title", "status", "detail"}


def _problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert ENVELOPE <= set(body) <= ENVELOPE | {"errors"}
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer acc_nothing_here", "Bearer a b", "Token abc", "Bearer " + "acc_" + "x" * 300],
)
def test_missing_or_bad_credentials_are_401(anonymous, header):
    if header:
        anonymous.credentials(HTTP_AUTHORIZATION=header)
    response = anonymous.get("/api/v1/cases")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert _problem(response, 401)["type"] == "/api/v1/errors/unauthorized"


def test_revoked_expired_and_inactive_keys_are_401(client_a, write_key_a):
    api = key_client(write_key_a)
    assert api.get("/api/v1/cases").status_code == 200
    api_key_revoke(key=write_key_a)
    _problem(api.get("/api/v1/cases"), 401)
    expiring = ApiKeyFactory(client=client_a, expires_at=timezone.now() + timedelta(hours=1))
    api = key_client(expiring)
    assert api.get("/api/v1/cases").status_code == 200
    ApiKey.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _problem(api.get("/api/v1/cases"), 401)
    fresh = ApiKeyFactory(client=client_a)
    client_a.is_active = False
    client_a.save()
    _problem(key_client(fresh).get("/api/v1/cases"), 401)


def test_keys_are_stored_hashed_and_record_their_last_use(write_key_a):
    stored = ApiKey.objects.get(pk=write_key_a.pk)
    assert stored.key_hash == hashlib.sha256(write_key_a.raw.encode()).hexdigest()
    assert write_key_a.raw.startswith(stored.prefix + "_")
    assert stored.last_used_at is None
    key_client(write_key_a).get("/api/v1/queues")
    assert ApiKey.objects.get(pk=write_key_a.pk).last_used_at is not None


@pytest.fixture
def mid_minute(monkeypatch):
    """Fixed-window throttles: the requests of a test all fall in one window, whatever the
    clock (a minute boundary between two requests would reset the count)."""
    from types import SimpleNamespace

    from cases.api import throttling

    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: 1_800_000_030.0))


def test_throttle_per_key(client_a, client_b, settings, mid_minute):
    settings.ACCORD_API_KEY_THROTTLE_RATE = "3/min"
    noisy = key_client(ApiKeyFactory(client=client_a))
    quiet = key_client(ApiKeyFactory(client=client_b))
    for _ in range(3):
        assert noisy.get("/api/v1/queues").status_code == 200
    throttled = noisy.get("/api/v1/queues")
    assert _problem(throttled, 429)["type"] == "/api/v1/errors/throttled"
    assert throttled["Retry-After"] == "30"  # the rest of the window
    # Another client's key is not affected by the burst.
    assert quiet.get("/api/v1/queues").status_code == 200
    # A key's own rate overrides the default.
    generous = key_client(ApiKeyFactory(client=client_a, throttle_rate="100/min"))
    for _ in range(5):
        assert generous.get("/api/v1/queues").status_code == 200


def test_staff_are_throttled_per_user(callers, settings, mid_minute):
    settings.ACCORD_API_USER_THROTTLE_RATE = "2/min"
    agent, supervisor = callers["agent"], callers["supervisor"]
    assert [agent.get("/api/v1/queues").status_code for _ in range(3)] == [200, 200, 429]
    assert supervisor.get("/api/v1/queues").status_code == 200


def test_body_over_the_limit_is_413(api_a, queue_a, customer_a, settings):
    settings.ACCORD_API_MAX_REQUEST_BYTES = 1000
    body = {
        "subject": "x" * 2000,
        "channel": "email",
        "queue_id": queue_a.pk,
        "customer_id": str(customer_a.public_id),
    }
    _problem(api_a.post("/api/v1/cases", body, format="json"), 413)
    assert not Case.objects.exists()


def test_404_405_406_415_use_the_envelope(api_a, case_a, case_b):
    _problem(api_a.get("/api/v1/no-such-thing"), 404)
    _problem(api_a.get(f"/api/v1/cases/{case_b.public_id}"), 404)
    _problem(api_a.get("/api/v1/cases/not-a-uuid"), 404)
    _problem(api_a.delete(f"/api/v1/cases/{case_a.public_id}"), 405)
    _problem(api_a.patch(f"/api/v1/cases/{case_a.public_id}", {}, format="json"), 405)
    _problem(api_a.get("/api/v1/cases", HTTP_ACCEPT="application/xml"), 406)
    response = api_a.post("/api/v1/cases", "subject=x", content_type="application/x-www-form-urlencoded")
    _problem(response, 415)
    response = api_a.post("/api/v1/cases", "{not json", content_type="application/json")
    assert "JSON parse error" in _problem(response, 400)["detail"]
    response = api_a.post("/api/v1/cases", "[" * 100_000, content_type="application/json")
    assert "nested too deeply" in _problem(response, 400)["detail"]


def test_times_before_1970_are_refused_with_the_field_named(api_a, queue_a, customer_a):
    body = {
        "subject": "Ancient",
        "channel": "email",
        "queue_id": queue_a.pk,
        "customer_id": str(customer_a.public_id),
        "opened_at": "0001-01-01T00:10:00Z",
    }
    response = api_a.post("/api/v1/cases", body, format="json")
    assert _problem(response, 400)["errors"]["opened_at"] == ["This time is before 1970."]
    assert not Case.objects.exists()
    listed = api_a.get("/api/v1/export/cases", {"updated_since": "0001-01-01T00:00:00Z"})
    assert listed.status_code == 200


def test_500_uses_the_envelope(api_a, monkeypatch):
    from slas.api import views

    monkeypatch.setattr(views, "export_horizon", lambda: 1 / 0)
    body = _problem(api_a.get("/api/v1/export/cases"), 500)
    assert body["detail"] == "The server failed to handle this request."
    assert "ZeroDivision" not in str(body)


def test_admin_creates_a_key_shown_once(client, superuser, client_a):
    client.force_login(superuser)
    response = client.post(
        "/admin/cases/apikey/add/",
        {"client": client_a.pk, "name": "Alpha CRM", "scope": "read_write", "throttle_rate": ""},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    raw = re.search(r"(acc_[0-9a-f]{8}_[A-Za-z0-9_\-]+)", page).group(1)
    key = ApiKey.objects.get()
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.created_by == superuser
    assert key_client(type("K", (), {"raw": raw})).get("/api/v1/queues").status_code == 200
    change = client.get(f"/admin/cases/apikey/{key.pk}/change/").content.decode()
    assert raw not in change and key.key_hash not in change
    client.post(
        "/admin/cases/apikey/",
        {"action": "revoke_keys", "_selected_action": [key.pk]},
    )
    assert ApiKey.objects.get().revoked_at is not None
