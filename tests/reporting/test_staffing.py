"""The staffing view: arrivals and handle time per hour, Erlang C agents against the contract's
service level, and the service level achieved."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse

from cases.choices import Channel, Role
from governance.choices import KPI
from reporting.erlang import agents_needed
from tests.factories import CaseFactory, ContractFactory, ContractTermFactory, InteractionFactory, UserFactory

pytestmark = pytest.mark.django_db
URL = reverse("reporting:staffing")
QUERY = {"client": "alpha", "channel": "voice", "start": "2026-03-02", "end": "2026-03-03"}


@pytest.fixture
def calls(client_a):
    """Over two days (client time New York), at 10:00: 20 calls (10 a day), 300 s talk, waits of
    10 s except 4 of 40 s and 1 abandoned after 50 s; at 15:00: 2 calls answered in 5 s."""
    case = CaseFactory(client=client_a, origin_channel=Channel.VOICE)
    ten = datetime(2026, 3, 2, 15, 5, tzinfo=UTC)  # 10:05 in New York
    for n in range(20):
        day = ten + timedelta(days=n % 2)
        if n == 0:
            InteractionFactory(case=case, wait=50, abandoned=True, occurred_at=day)
        else:
            InteractionFactory(case=case, wait=40 if n <= 4 else 10, talk=300, occurred_at=day)
    for _ in range(2):
        InteractionFactory(case=case, wait=5, talk=120, occurred_at=datetime(2026, 3, 2, 20, tzinfo=UTC))
    InteractionFactory(
        case=case, wait=5, talk=120, occurred_at=datetime(2026, 3, 5, 15, tzinfo=UTC)
    )  # outside
    return client_a


def test_agents_needed_beside_service_level_achieved(calls, client, governance_a):
    ContractTermFactory(
        contract=ContractFactory(client=calls),
        kpi=KPI.SERVICE_LEVEL,
        channel=Channel.VOICE,
        threshold_seconds=30,
        target=D(90),
        effective_from=date(2026, 1, 1),
    )
    client.force_login(governance_a)
    page = client.get(URL, QUERY)
    assert page.status_code == 200
    rows = {row["hour"]: row for row in page.context["rows"]}
    ten = rows[10]
    assert (ten["offered"], ten["arrivals_per_hour"], ten["aht_seconds"]) == (20, 10.0, 300)
    expected = agents_needed(
        arrivals=10, aht_seconds=300, interval_seconds=3600, threshold_seconds=30, target=0.9
    )
    assert ten["agents_needed"] == expected == 3
    assert ten["service_level_achieved"] == 75.0  # 15 within 30 s of 20 (an abandon after 50 s counts)
    assert (rows[15]["offered"], rows[15]["service_level_achieved"]) == (2, 100.0)
    assert rows[3]["agents_needed"] == 0 and rows[3]["service_level_achieved"] is None
    assert "90.00 % answered within 30 s" in page.content.decode()
    csv = client.get(URL, {**QUERY, "format": "csv"}).content.decode().splitlines()
    assert csv[0].startswith("hour,offered") and csv[11] == "10,20,10.0,300,3,75.0,1"


def test_without_a_contract_term_the_goal_is_80_in_20(calls, client, supervisor_a):
    client.force_login(supervisor_a)
    page = client.get(URL, QUERY)
    assert page.context["goal"]["threshold"] == 20 and page.context["goal"]["target"] == 80


def test_bad_input_and_other_clients_are_refused(calls, client, governance_a, agent_a, client_b):
    client.force_login(governance_a)
    page = client.get(URL, {**QUERY, "end": "2026-03-01"})
    assert page.status_code == 400 and "ends before it starts" in page.content.decode()
    assert client.get(URL, {**QUERY, "client": "beta"}).status_code == 400  # not a choice for this user
    assert client.get(URL, {**QUERY, "start": "2025-01-01"}).status_code == 400  # too long a period
    governance_b = UserFactory(username="governance-b", role=Role.GOVERNANCE, clients=[client_b])
    client.force_login(governance_b)
    assert client.get(URL, QUERY).status_code == 400
    client.force_login(agent_a)
    assert client.get(URL, QUERY).status_code == 403
