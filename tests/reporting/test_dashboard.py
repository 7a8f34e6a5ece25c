"""The governance dashboard on hand-computed data: panels, CSV, scoping, bad input, queries."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from cases.choices import Channel, Direction, Role
from governance.kpis import service_level_by_interval, service_level_by_time_of_day
from tests.factories import CaseFactory, InteractionFactory, UserFactory
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
    [queue] = figures["by_queue"]
    assert (queue["client"], queue["met"], queue["missed"], queue["attainment_percent"]) == (
        "Alpha Telecom",
        2,
        1,
        66.67,
    )
    assert figures["by_client"] == []  # one client shown
    everyone = client.get(URL, {k: v for k, v in MARCH.items() if k != "client"}).context["figures"]
    assert everyone["by_client"] == [
        {"client": "Alpha Telecom", "met": 2, "missed": 1, "attainment_percent": 66.67}
    ]
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
    body = client.get(URL, MARCH).content.decode()
    assert 'title="9000 s">2h 30m<' in body and 'title="13320 s">3h 42m<' in body
    # unresolved now: the four March e-mails (open, over 30 days old) and five factory cases
    # opened today (new): the voice contacts' case and the four survey cases
    backlog = {row["status"]: row for row in figures["backlog"]}
    assert (backlog["open"]["total"], backlog["open"]["days_30_plus"]) == (4, 4)
    assert (backlog["new"]["total"], backlog["new"]["days_0_1"]) == (5, 5)


def _interval_contacts(client_a):
    """Contacts of alpha (New York, EDT in March) in UTC: 13:05 answered in 10 s and 13:29:59 in
    30 s (09:00 interval); 13:30 abandoned after 5 s and 13:45 answered in 15 s (09:30); a chat
    at 14:00 answered in 5 s (10:00); the next day 13:10 abandoned after 40 s (09:00). An inbound
    e-mail carries no queue data and is not a contact offered."""
    voice = CaseFactory(client=client_a, origin_channel=Channel.VOICE)
    for at, wait, abandoned in (
        (datetime(2026, 3, 10, 13, 5, tzinfo=UTC), 10, False),
        (datetime(2026, 3, 10, 13, 29, 59, tzinfo=UTC), 30, False),
        (datetime(2026, 3, 10, 13, 30, tzinfo=UTC), 5, True),
        (datetime(2026, 3, 10, 13, 45, tzinfo=UTC), 15, False),
        (datetime(2026, 3, 11, 13, 10, tzinfo=UTC), 40, True),
    ):
        InteractionFactory(case=voice, occurred_at=at, wait=wait, abandoned=abandoned)
    chat = CaseFactory(client=client_a, origin_channel=Channel.CHAT)
    InteractionFactory(
        case=chat, channel=Channel.CHAT, occurred_at=datetime(2026, 3, 10, 14, tzinfo=UTC), wait=5
    )
    InteractionFactory(
        case=chat,
        channel=Channel.EMAIL,
        direction=Direction.INBOUND,
        occurred_at=datetime(2026, 3, 10, 14, tzinfo=UTC),
    )


def test_service_level_per_30_minute_interval(client_a, client_b, client, governance_a):
    _interval_contacts(client_a)
    _interval_contacts(client_b)  # another client's contacts at the same times stay out
    new_york = zoneinfo.ZoneInfo("America/New_York")
    intervals = service_level_by_interval(
        client_ids=[client_a.pk],
        start=datetime(2026, 3, 1, tzinfo=new_york),
        end=datetime(2026, 4, 1, tzinfo=new_york),
        tz=new_york,
    )
    counts = ("offered", "answered", "answered_within", "abandoned", "abandoned_short")
    assert [
        (row["interval_start"].isoformat(), *(row[c] for c in counts), row["service_level_percent"])
        for row in intervals
    ] == [
        ("2026-03-10T09:00:00-04:00", 2, 2, 1, 0, 0, 50.0),
        ("2026-03-10T09:30:00-04:00", 2, 1, 1, 1, 1, 100.0),  # the short abandon is left out
        ("2026-03-10T10:00:00-04:00", 1, 1, 1, 0, 0, 100.0),
        ("2026-03-11T09:00:00-04:00", 1, 0, 0, 1, 0, 0.0),
    ]
    by_time = service_level_by_time_of_day(intervals)
    assert [(row["time_of_day"], row["offered"], row["service_level_percent"]) for row in by_time] == [
        ("09:00", 3, 33.33),
        ("09:30", 2, 100.0),
        ("10:00", 1, 100.0),
    ]
    # voice only: the chat interval goes
    voice = service_level_by_interval(
        client_ids=[client_a.pk],
        start=datetime(2026, 3, 1, tzinfo=new_york),
        end=datetime(2026, 4, 1, tzinfo=new_york),
        tz=new_york,
        channel=Channel.VOICE,
    )
    assert len(voice) == 3
    client.force_login(governance_a)
    page = client.get(URL, MARCH)
    assert page.context["figures"]["service_level_by_time"] == by_time
    rows = client.get(URL, {**MARCH, "panel": "intervals", "format": "csv"}).content.decode().splitlines()
    assert (
        rows[0]
        == "interval_start,offered,answered,answered_within,abandoned,abandoned_short,service_level_percent"
    )
    assert rows[1:] == [
        "2026-03-10 09:00:00-04:00,2,2,1,0,0,50.0",
        "2026-03-10 09:30:00-04:00,2,1,1,1,1,100.0",
        "2026-03-10 10:00:00-04:00,1,1,1,0,0,100.0",
        "2026-03-11 09:00:00-04:00,1,0,0,1,0,0.0",
    ]


def test_no_contacts_give_no_intervals_and_the_panel_says_so(client_a, client, governance_a):
    client.force_login(governance_a)
    page = client.get(URL, MARCH)
    assert page.context["figures"]["service_level_by_time"] == []
    assert "No voice or chat contact with queue data in the period." in page.content.decode()


def test_escalation_rate_panel(march, client, governance_a):
    client.force_login(governance_a)
    figures = client.get(URL, MARCH).context["figures"]
    # the eight e-mail cases opened in March (four first responses, four resolutions), none
    # escalated; the counting itself: tests/governance/test_metrics.py
    assert figures["escalation"] == [{"channel": "email", "cases": 8, "escalated": 0, "rate_percent": 0.0}]
    rows = client.get(URL, {**MARCH, "panel": "escalation", "format": "csv"}).content.decode().splitlines()
    assert rows == ["channel,cases,escalated,rate_percent", "email,8,0,0.0"]


def test_every_table_downloads_as_csv(march, client, governance_a):
    client.force_login(governance_a)
    rows = client.get(URL, {**MARCH, "panel": "by_channel", "format": "csv"}).content.decode().splitlines()
    assert rows == ["channel,met,missed,attainment_percent", "email,2,1,66.67"]
    for panel in (
        "summary",
        "trend",
        "heatmap",
        "by_queue",
        "by_client",
        "service_level_by_time",
        "intervals",
        "escalation",
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
    with django_assert_num_queries(23):
        client.get(URL, MARCH)
    _contacts(march)
    _surveys_and_resolutions(march)
    with django_assert_num_queries(23):
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
    for edge in ({"start": "9999-12-01", "end": "9999-12-31"}, {"start": "0001-01-01", "end": "0001-01-05"}):
        response = client.get(URL, {**MARCH, **edge})  # the calendar's ends: a form error, no 500
        assert response.status_code == 400 and "Choose a day from 1970 to 2999" in response.content.decode()
    client.force_login(agent_a)
    assert client.get(URL, MARCH).status_code == 403


def test_attainment_by_queue_counts_each_clock_in_the_queue_that_decided_it(client_a, governance_a):
    from cases import services as cases
    from governance import dashboard
    from tests.factories import CustomerFactory, QueueFactory, SLAPolicyFactory

    SLAPolicyFactory(client=client_a, targets={("first_response", "normal"): 3600})
    first, second = (
        QueueFactory(client=client_a, name="Tier 1"),
        QueueFactory(client=client_a, name="Billing"),
    )
    customer = CustomerFactory(client=client_a)
    t = datetime(2026, 3, 10, 12, tzinfo=UTC)

    def opened(subject):
        return cases.case_open(
            client=client_a,
            customer=customer,
            queue=first,
            subject=subject,
            channel=Channel.EMAIL,
            opened_at=t,
        )

    def reply(case, minutes):
        cases.interaction_append(
            case=case,
            channel=Channel.EMAIL,
            direction=Direction.OUTBOUND,
            author_kind="agent",
            body="reply",
            occurred_at=t + timedelta(minutes=minutes),
        )

    moved_early = opened("moved while waiting")
    cases.case_queue_set(case=moved_early, queue=second, actor=governance_a)
    reply(moved_early, 10)  # met, decided in Billing
    moved_late = opened("moved after its answer")
    reply(moved_late, 120)  # missed, decided in Tier 1
    cases.case_queue_set(case=moved_late, queue=second, actor=governance_a)
    rows = dashboard.attainment_by_queue(
        client_ids=[client_a.pk], start=datetime(2026, 3, 1, tzinfo=UTC), end=datetime(2026, 4, 1, tzinfo=UTC)
    )
    assert [(r["queue"], r["met"], r["missed"]) for r in rows] == [("Billing", 1, 0), ("Tier 1", 0, 1)]
