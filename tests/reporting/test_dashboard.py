"""The governance dashboard on hand-computed data: panels, CSV, scoping, bad input, queries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.choices import Role
from tests.factories import UserFactory
from tests.reporting.test_scorecards import _contacts, _first_response_cases, _surveys_and_resolutions

pytestmark = pytest.mark.django_db
URL = reverse("reporting:dashboard")
MARCH = {"client": "alpha", "start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def march(client_a, client_b, governance_a):
    _contacts(client_a)
    _first_response_cases(client_a, governance_a)
    _surveys_and_resolutions(client_a)
    _contacts(client_b)
    return client_a


def test_the_panels_show_the_hand_computed_figures(march, client, governance_a):
    client.force_login(governance_a)
    page = client.get(URL, MARCH)
    assert page.status_code == 200
    figures = page.context["figures"]
    summary = {row["kpi"]: row["value"] for row in figures["summary"]}
    assert summary == {
        "service_level": 57.14,
        "abandonment_rate": 25.0,
        "sla_attainment_first_response": 66.67,
        "sla_attainment_resolution": None,
        "first_contact_resolution": 75.0,
        "csat": 50.0,
        "nps": 25.0,
    }
    # first responses: 1 met, 1 late but disputed (met), 1 late; 1 excluded
    assert figures["by_channel"] == [{"channel": "email", "met": 2, "missed": 1, "attainment_percent": 66.67}]
    assert [(str(r["day"]), r["met"], r["decided"]) for r in figures["trend"]] == [("2026-03-10", 2, 3)]
    # replies at 12:10, 15:00 and 16:00 UTC on Tuesday 10 March = 08:10, 11:00, 12:00 in New York (EDT)
    assert [(c["weekday"], c["hour"], c["percent"]) for c in figures["heatmap"]] == [
        (2, 8, 100.0),
        (2, 11, 0.0),
        (2, 12, 100.0),
    ]
    body = page.content.decode()
    assert "Attainment % by channel" in body and "hsl(120, 65%, 52%)" in body and "hsl(0, 65%, 52%)" in body


def test_response_times_and_backlog(march, client, governance_a):
    client.force_login(governance_a)
    figures = client.get(URL, MARCH).context["figures"]
    # first answers after 600, 7200, 7200, 7200 s; resolutions after 1, 2, 3, 4 hours
    assert figures["response_times"] == [
        {"measure": "first response", "count": 4, "median_seconds": 7200, "p90_seconds": 7200},
        {"measure": "resolution", "count": 4, "median_seconds": 9000, "p90_seconds": 13320},
    ]
    # unresolved now: the four March e-mails (open, over 30 days old) and five factory cases
    # opened today (new): the voice contacts' case and the four survey cases
    backlog = {row["status"]: row for row in figures["backlog"]}
    assert (backlog["open"]["total"], backlog["open"]["days_30_plus"]) == (4, 4)
    assert (backlog["new"]["total"], backlog["new"]["days_0_1"]) == (5, 5)


def test_every_table_downloads_as_csv(march, client, governance_a):
    client.force_login(governance_a)
    rows = client.get(URL, {**MARCH, "panel": "by_channel", "format": "csv"}).content.decode().splitlines()
    assert rows == ["channel,met,missed,attainment_percent", "email,2,1,66.67"]
    for panel in (
        "summary",
        "trend",
        "heatmap",
        "response_times",
        "backlog",
        "ageing",
        "root_causes",
        "overdue",
    ):
        response = client.get(URL, {**MARCH, "panel": panel, "format": "csv"})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv"), panel
    assert client.get(URL, {**MARCH, "panel": "nope", "format": "csv"}).status_code == 404


def test_the_dashboard_costs_the_same_queries_with_more_data(
    march, client, governance_a, django_assert_num_queries
):
    client.force_login(governance_a)
    client.get(URL, MARCH)
    with django_assert_num_queries(19):
        client.get(URL, MARCH)
    _contacts(march)
    _surveys_and_resolutions(march)
    with django_assert_num_queries(19):
        client.get(URL, MARCH)


def test_other_clients_stay_out_and_bad_input_is_a_form_error(march, client, client_b, agent_a, governance_a):
    governance_b = UserFactory(username="governance-b", role=Role.GOVERNANCE, clients=[client_b])
    client.force_login(governance_b)
    assert client.get(URL, MARCH).status_code == 400  # alpha is not one of their clients
    mine = client.get(URL, {"start": "2026-03-01", "end": "2026-03-31"})
    assert mine.context["figures"]["by_channel"] == []  # beta has contacts, no clocks: nothing of alpha
    client.force_login(governance_a)
    bad = client.get(URL, {**MARCH, "end": "2026-02-01"})
    assert bad.status_code == 400 and "ends before it starts" in bad.content.decode()
    assert client.get(URL, {**MARCH, "start": "yesterday"}).status_code == 400
    client.force_login(agent_a)
    assert client.get(URL, MARCH).status_code == 403
