"""API clients for every kind of caller, and an SLA policy so cases carry clocks."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from cases.models import ApiKeyScope
from tests.api.factories import ApiKeyFactory
from tests.factories import SLAPolicyFactory

TARGETS = {
    ("first_response", "urgent"): 900,
    ("first_response", "high"): 1800,
    ("first_response", "normal"): 3600,
    ("first_response", "low"): 7200,
    ("next_response", "normal"): 7200,
    ("resolution", "urgent"): 4 * 3600,
    ("resolution", "high"): 8 * 3600,
    ("resolution", "normal"): 24 * 3600,
    ("resolution", "low"): 48 * 3600,
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache: each test starts with a clean one."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def policy_a(client_a):
    return SLAPolicyFactory(client=client_a, name="Alpha standard", targets=TARGETS)


@pytest.fixture
def policy_b(client_b):
    return SLAPolicyFactory(client=client_b, name="Beta standard", targets=TARGETS)


@pytest.fixture
def write_key_a(client_a):
    return ApiKeyFactory(client=client_a, name="Alpha CRM", scope=ApiKeyScope.READ_WRITE)


@pytest.fixture
def read_key_a(client_a):
    return ApiKeyFactory(client=client_a, name="Alpha BI", scope=ApiKeyScope.READ)


@pytest.fixture
def write_key_b(client_b):
    return ApiKeyFactory(client=client_b, name="Beta CRM", scope=ApiKeyScope.READ_WRITE)


def key_client(key) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw}")
    return api


def user_client(user) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


@pytest.fixture
def api_a(write_key_a) -> APIClient:
    """Client A's read-write client system."""
    return key_client(write_key_a)


@pytest.fixture
def api_b(write_key_b) -> APIClient:
    return key_client(write_key_b)


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def callers(anonymous, write_key_b, read_key_a, write_key_a, agent_a, supervisor_a):
    """The authorization matrix's callers, by name."""
    return {
        "anonymous": anonymous,
        "other_client_key": key_client(write_key_b),
        "own_read_key": key_client(read_key_a),
        "own_write_key": key_client(write_key_a),
        "agent": user_client(agent_a),
        "supervisor": user_client(supervisor_a),
    }
