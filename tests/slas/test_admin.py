"""The SLA admin: calendars (import/export, holidays), policies, clocks, breaches, case page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from cases import services as cases
from cases.choices import Channel
from slas.models import Breach, BusinessCalendar, Holiday
from slas.sweep import sla_sweep
from tests.factories import BusinessCalendarFactory, CustomerFactory, QueueFactory, SLAPolicyFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FR = "first_response"


def _breached_case(client):
    SLAPolicyFactory(client=client, name=f"Policy {client.slug}", targets={(FR, "normal"): 600})
    case = cases.case_open(
        client=client,
        customer=CustomerFactory(client=client),
        queue=QueueFactory(client=client),
        subject=f"case of {client.slug}",
        channel=Channel.EMAIL,
        opened_at=T0,
    )
    sla_sweep(now=T0 + timedelta(hours=1))
    return case


@pytest.fixture
def breaches(client_a, client_b):
    return _breached_case(client_a), _breached_case(client_b)


@pytest.mark.parametrize(
    "model", ["businesscalendar", "slapolicy", "slaclock", "breach", "slawarning", "casesla", "clockevent"]
)
def test_governance_user_sees_only_own_clients_sla_rows(client, breaches, governance_a, model):
    client.force_login(governance_a)
    response = client.get(reverse(f"admin:slas_{model}_changelist"))
    assert response.status_code == 200
    rows = response.context["cl"].queryset
    assert rows.exists()
    assert set(rows.values_list("client_id", flat=True)) == {breaches[0].client_id}
    assert "Beta Bank" not in response.content.decode()


def test_other_clients_breach_is_not_reachable_by_url(client, breaches, governance_a):
    client.force_login(governance_a)
    other = Breach.objects.get(client=breaches[1].client)
    response = client.get(reverse("admin:slas_breach_change", args=[other.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:index")


def test_case_page_shows_its_clocks_and_policy(client, breaches, governance_a):
    client.force_login(governance_a)
    response = client.get(reverse("admin:cases_case_change", args=[breaches[0].pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "SLA clocks" in body and "Policy alpha" in body and "breached" in body.lower()
    assert "Clock history (why every due time moved)" in body


def test_case_without_a_policy_says_so_plainly(client, client_a, governance_a):
    case = cases.case_open(
        client=client_a,
        customer=CustomerFactory(client=client_a),
        queue=QueueFactory(client=client_a),
        subject="x",
        channel=Channel.EMAIL,
        opened_at=T0,
    )
    client.force_login(governance_a)
    body = client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    assert "No SLA policy applies." in body and "No active SLA policy matches channel=email" in body


def test_clock_filters_by_state_and_overdue(client, breaches, governance_a):
    client.force_login(governance_a)
    url = reverse("admin:slas_slaclock_changelist")
    breached = client.get(url, {"state": "breached"}).context["cl"].queryset
    assert [c.case_id for c in breached] == [breaches[0].pk]
    assert not client.get(url, {"state": "met"}).context["cl"].queryset.exists()
    assert client.get(url, {"overdue": "more"}).context["cl"].queryset.count() == 1


def test_acknowledge_action(client, breaches, governance_a, agent_a):
    breach = Breach.objects.get(client=breaches[0].client)
    client.force_login(agent_a)  # agents may view breaches, not acknowledge them
    client.post(
        reverse("admin:slas_breach_changelist"), {"action": "acknowledge", "_selected_action": [breach.pk]}
    )
    breach.refresh_from_db()
    assert breach.acknowledged_at is None
    client.force_login(governance_a)
    client.post(
        reverse("admin:slas_breach_changelist"), {"action": "acknowledge", "_selected_action": [breach.pk]}
    )
    breach.refresh_from_db()
    assert (breach.acknowledged_by, breach.acknowledged_at is not None) == (governance_a, True)


SPEC = {
    "timezone": "Europe/London",
    "week": {"mon": [["09:00", "12:30"], ["13:30", "17:00"]], "sat": [["22:00", "24:00"]]},
    "holidays": ["2026-12-25"],
}


def test_calendar_spec_import_then_export_round_trips(client, client_a, supervisor_a):
    calendar = BusinessCalendarFactory(client=client_a, timezone="UTC")
    client.force_login(supervisor_a)
    response = client.post(
        reverse("admin:slas_businesscalendar_import", args=[calendar.pk]), {"spec": json.dumps(SPEC)}
    )
    assert response.status_code == 302
    exported = client.get(reverse("admin:slas_businesscalendar_export", args=[calendar.pk]))
    spec = json.loads(exported.content)
    assert spec == {
        "timezone": "Europe/London",
        "holidays": ["2026-12-25"],
        "week": {
            "mon": [["09:00", "12:30"], ["13:30", "17:00"]],
            "tue": [],
            "wed": [],
            "thu": [],
            "fri": [],
            "sat": [["22:00", "24:00"]],
            "sun": [],
        },
    }
    calendar.refresh_from_db()
    assert (calendar.is_24x7, calendar.revision) == (False, 2)


def test_bad_spec_import_shows_the_field_and_changes_nothing(client, client_a, supervisor_a):
    calendar = BusinessCalendarFactory(client=client_a, timezone="UTC")
    client.force_login(supervisor_a)
    bad = {"timezone": "Europe/London", "week": {"mon": [["17:00", "09:00"]]}}
    response = client.post(
        reverse("admin:slas_businesscalendar_import", args=[calendar.pk]), {"spec": json.dumps(bad)}
    )
    assert response.status_code == 200
    assert "week.mon[0]" in response.content.decode()
    calendar.refresh_from_db()
    assert (calendar.timezone, calendar.revision, calendar.intervals.count()) == ("UTC", 1, 0)


def test_other_clients_calendar_cannot_be_exported(client, client_b, supervisor_a):
    calendar = BusinessCalendarFactory(client=client_b)
    client.force_login(supervisor_a)
    assert client.get(reverse("admin:slas_businesscalendar_export", args=[calendar.pk])).status_code == 404


def test_a_calendar_is_exported_only_with_the_view_permission(client, client_a):
    from cases.choices import Role
    from tests.factories import UserFactory

    calendar = BusinessCalendarFactory(client=client_a)
    staff = UserFactory(username="no-calendars", role=Role.AGENT, clients=[client_a], is_staff=True)
    staff.user_permissions.clear()
    staff.groups.clear()
    client.force_login(staff)
    assert client.get(reverse("admin:slas_businesscalendar_export", args=[calendar.pk])).status_code in (
        403,
        404,
    )


def test_generate_holidays_action(client, client_a, supervisor_a):
    calendar = BusinessCalendarFactory(
        client=client_a, is_24x7=False, holiday_country="GB", holiday_subdivision="ENG"
    )
    client.force_login(supervisor_a)
    client.post(
        reverse("admin:slas_businesscalendar_changelist"),
        {"action": "generate_holidays", "_selected_action": [calendar.pk]},
    )
    year = datetime.now(UTC).year
    dates = set(Holiday.objects.filter(calendar=calendar).values_list("date", flat=True))
    assert datetime(year, 12, 25).date() in dates and datetime(year + 1, 1, 1).date() in dates
    count = len(dates)
    client.post(
        reverse("admin:slas_businesscalendar_changelist"),
        {"action": "generate_holidays", "_selected_action": [calendar.pk]},
    )
    assert Holiday.objects.filter(calendar=calendar).count() == count
    assert BusinessCalendar.objects.get(pk=calendar.pk).revision == 3


def test_policy_changelist_and_history(client, client_a, governance_a):
    policy = SLAPolicyFactory(client=client_a, name="Chat 60 s", targets={(FR, "normal"): 60})
    client.force_login(governance_a)
    assert "Chat 60 s" in client.get(reverse("admin:slas_slapolicy_changelist")).content.decode()
    history = client.get(reverse("admin:slas_slapolicy_history", args=[policy.pk]))
    assert history.status_code == 200


def test_clock_changelist_query_count_does_not_grow(client, client_a, governance_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(governance_a)
    _breached_case(client_a)
    url = reverse("admin:slas_slaclock_changelist")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    queue = QueueFactory(client=client_a)
    for _ in range(10):
        cases.case_open(
            client=client_a,
            customer=CustomerFactory(client=client_a),
            queue=queue,
            subject="x",
            channel=Channel.EMAIL,
            opened_at=T0,
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.context["cl"].result_count == 11  # one first_response clock per case
    assert len(many) == len(few)
