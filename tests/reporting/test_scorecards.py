"""Contract KPIs measured by hand on small data, scorecards settled into credits and bonuses,
frozen monthly, and shown only to the client's own staff and API keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse

from cases import services as cases
from cases.choices import AuthorKind, Channel, Direction, Priority, Role
from config.errors import ApplicationError
from governance import services
from governance.choices import KPI
from governance.kpis import contract_measure
from governance.models import Scorecard, ScorecardStatus
from slas.models import Breach, SLAClock
from tests.factories import (
    CaseFactory,
    ContractFactory,
    ContractTermFactory,
    CustomerFactory,
    InteractionFactory,
    QueueFactory,
    SLAPolicyFactory,
    SurveyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
MARCH = date(2026, 3, 1)
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _contacts(client):
    """8 voice contacts in March: answered within 20 s: 5, 10, 15, 20; later: 25, 60;
    abandoned after 3 s (a short abandon) and after 45 s. Talk 100..600 s on the answered."""
    case = CaseFactory(client=client, origin_channel=Channel.VOICE)
    rows = [(5, False, 100), (10, False, 200), (20, False, 300), (25, False, 400), (60, False, 500)]
    rows += [(15, False, 600), (3, True, None), (45, True, None)]
    for wait, abandoned, talk in rows:
        InteractionFactory(case=case, wait=wait, abandoned=abandoned, talk=talk, occurred_at=T)


def _reply(case, at):
    cases.interaction_append(
        case=case,
        channel=Channel.EMAIL,
        direction=Direction.OUTBOUND,
        author_kind=AuthorKind.AGENT,
        body="reply",
        occurred_at=at,
    )


def _first_response_cases(client, governance_user):
    """Four e-mails with a 1-hour first response target: one answered in 10 minutes, three in
    2 hours. Of the late ones, one breach is voided by an accepted dispute and one clock is
    taken out by an approved exclusion: 2 met of 3 counted."""
    SLAPolicyFactory(client=client, targets={("first_response", Priority.NORMAL): 3600})
    queue, customer = QueueFactory(client=client), CustomerFactory(client=client)
    opened = [
        cases.case_open(
            client=client,
            customer=customer,
            queue=queue,
            subject=f"Mail {n}",
            channel=Channel.EMAIL,
            opened_at=T + timedelta(hours=n),
        )
        for n in range(4)
    ]
    _reply(opened[0], T + timedelta(minutes=10))
    for n, case in enumerate(opened[1:], start=1):
        _reply(case, T + timedelta(hours=n + 2))
    second = UserFactory(username="governance-2", role=Role.GOVERNANCE, clients=[client])
    breach = Breach.objects.get(case=opened[2])
    dispute = services.dispute_raise(breach=breach, actor=governance_user, grounds="Customer asked to wait.")
    services.dispute_decide(dispute=dispute, actor=second, outcome="accepted", reason="Evidence seen.")
    clock = SLAClock.objects.get(case=opened[3], metric="first_response")
    exclusion = services.exclusion_propose(
        client=client,
        scope="clock",
        clock=clock,
        reason_kind="client_outage",
        reason="Client CRM down.",
        evidence="INC-1",
        actor=governance_user,
    )
    services.exclusion_decide(exclusion=exclusion, actor=second, approve=True, note="Confirmed.")


def _surveys_and_resolutions(client):
    for csat, nps in ((5, 10), (4, 9), (3, 7), (1, 3)):
        SurveyFactory(case=CaseFactory(client=client), csat=csat, nps=nps, answered_at=T)
    for hours, fcr in ((1, True), (2, True), (3, True), (4, False)):
        CaseFactory(
            client=client,
            status="resolved",
            opened_at=T - timedelta(hours=hours),
            resolved_at=T,
            first_contact_resolution=fcr,
        )


@pytest.fixture
def march(client_a, client_b, governance_a):
    _contacts(client_a)
    _first_response_cases(client_a, governance_a)
    _surveys_and_resolutions(client_a)
    # Noise that must not count: another client's contacts, April contacts, an e-mail.
    _contacts(client_b)
    InteractionFactory(case=CaseFactory(client=client_a), wait=100, occurred_at=END + timedelta(days=1))
    InteractionFactory(case=CaseFactory(client=client_a), channel=Channel.EMAIL, wait=100, occurred_at=T)
    return client_a


def _measure(kpi, client, **kwargs):
    return contract_measure(kpi, client_ids=[client.pk], start=START, end=END, **kwargs)


def test_every_contract_kpi_as_computed_by_hand(march):
    sl = _measure(KPI.SERVICE_LEVEL, march, threshold_seconds=20)
    assert (sl.numerator, sl.denominator, sl.value) == (4, 7, 57.14)  # 4 within 20 s / (8 - 1 short abandon)
    assert _measure(KPI.ABANDONMENT_RATE, march).value == 25.0  # 2 of 8
    assert _measure(KPI.AVERAGE_HANDLE_TIME, march).value == 350.0  # mean of 100..600
    fr = _measure(KPI.SLA_FIRST_RESPONSE, march)
    assert (fr.numerator, fr.denominator, fr.value) == (2, 3, 66.67)
    assert _measure(KPI.FIRST_CONTACT_RESOLUTION, march).value == 75.0
    assert _measure(KPI.CSAT, march).value == 50.0  # 5 and 4 of four answers
    assert _measure(KPI.NPS, march).value == 25.0  # 2 promoters - 1 detractor, of 4


def test_no_contacts_no_clocks_no_surveys_is_no_data(client_a):
    for kpi in KPI.values:
        measure = _measure(kpi, client_a, threshold_seconds=20)
        assert measure.value is None and measure.denominator == 0, kpi


def test_all_abandoned(client_a):
    case = CaseFactory(client=client_a, origin_channel=Channel.VOICE)
    for wait in (5, 30, 90):
        InteractionFactory(case=case, wait=wait, abandoned=True, occurred_at=T)
    assert _measure(KPI.ABANDONMENT_RATE, client_a).value == 100.0
    sl = _measure(KPI.SERVICE_LEVEL, client_a, threshold_seconds=20)
    assert (sl.numerator, sl.denominator, sl.value) == (0, 2, 0.0)


def _contract(client):
    contract = ContractFactory(client=client)
    common = {"contract": contract, "effective_from": date(2026, 1, 1)}
    ContractTermFactory(
        **common,
        kpi=KPI.SERVICE_LEVEL,
        channel=Channel.VOICE,
        threshold_seconds=20,
        target=D(80),
        credit_per_point_percent=D(1),
        credit_cap_percent=D(5),
    )
    ContractTermFactory(
        **common, kpi=KPI.ABANDONMENT_RATE, comparator="lte", target=D(10), credit_per_point_percent=D("0.5")
    )
    ContractTermFactory(
        **common,
        kpi=KPI.SLA_FIRST_RESPONSE,
        target=D(90),
        credit_mode="bands",
        credit_bands=[{"min": 60, "max": 90, "percent": 3}, {"max": 60, "percent": 6}],
    )
    ContractTermFactory(
        **common, kpi=KPI.CSAT, target=D(40), bonus_per_point_percent=D(1), bonus_cap_percent=D(2)
    )
    ContractTermFactory(**common, kpi=KPI.NPS, target=D(30))
    return contract


def test_the_march_scorecard_settles_credits_bonus_and_caps(march, governance_a):
    _contract(march)
    card = services.scorecard_compute(client=march, period=MARCH, actor=governance_a)
    lines = {line.kpi: line for line in card.lines.all()}
    # service level 57.14: 22.86 points x 1 % capped at 5 % -> 500; abandonment 25 vs 10: 15 x 0.5 %
    # -> 750; first response 66.67 in the 60-90 band -> 3 % -> 300; total 1,550 over the 15 % cap
    # (1,500) -> cut in proportion; CSAT 50 vs 40: 10 points x 1 % capped at 2 % -> 200 bonus;
    # NPS 25 vs 30: missed, no credit rate.
    assert [
        str(lines[k].credit) for k in ("service_level", "abandonment_rate", "sla_attainment_first_response")
    ] == [
        "483.87",
        "725.81",
        "290.32",
    ]
    assert (card.credit_total, card.bonus_total, card.net_total) == (D("1500.00"), D("200.00"), D("-1300.00"))
    assert lines["nps"].met is False and lines["nps"].credit == 0
    assert card.score_percent == D("20.00")  # one term of five met
    stored = {line["kpi"]: line for line in card.data["lines"]}
    assert (stored["service_level"]["numerator"], stored["service_level"]["denominator"]) == (4, 7)
    assert card.data["totals"]["net"] == "-1300.00"


def test_a_frozen_scorecard_is_refused_recompute_until_reopened_with_a_reason(march, governance_a):
    _contract(march)
    card = services.scorecard_compute(client=march, period=MARCH, actor=governance_a)
    card = services.scorecard_freeze(scorecard=card, actor=governance_a)
    assert card.status == ScorecardStatus.FROZEN
    with pytest.raises(ApplicationError, match="frozen"):
        services.scorecard_compute(client=march, period=MARCH, actor=governance_a)
    with pytest.raises(ApplicationError):
        services.scorecard_reopen(scorecard=card, actor=governance_a, reason=" ")
    card = services.scorecard_reopen(
        scorecard=card, actor=governance_a, reason="A late exclusion was approved."
    )
    assert card.status == ScorecardStatus.DRAFT
    assert [h.history_change_reason for h in card.history.order_by("history_id")][-1].startswith("reopened")


def test_the_monthly_task_freezes_last_month_once(march):
    _contract(march)
    april_first = datetime(2026, 4, 1, 5, 0, tzinfo=UTC)
    assert services.scorecards_freeze_last_month(now=april_first) == {"frozen": 1, "skipped": 0}
    card = Scorecard.objects.get(client=march, period=MARCH)
    assert card.status == ScorecardStatus.FROZEN and card.credit_total == D("1500.00")
    history = card.history.count()
    assert services.scorecards_freeze_last_month(now=april_first + timedelta(hours=1)) == {
        "frozen": 0,
        "skipped": 1,
    }
    assert card.history.count() == history


def test_a_frozen_scorecard_keeps_its_figures_when_data_changes_later(march, client, governance_a):
    _contract(march)
    services.scorecard_freeze(
        scorecard=services.scorecard_compute(client=march, period=MARCH, actor=governance_a),
        actor=governance_a,
    )
    InteractionFactory(case=CaseFactory(client=march), wait=1, occurred_at=T)  # a late-loaded contact
    client.force_login(governance_a)
    page = client.get(reverse("reporting:scorecard", args=["alpha", "2026-03"]))
    assert page.status_code == 200 and "57.14" in page.content.decode()


def test_earn_back_gives_the_credit_back_after_the_agreed_months_met(client_a, governance_a):
    contract = ContractFactory(client=client_a)
    ContractTermFactory(
        contract=contract,
        kpi=KPI.CSAT,
        target=D(80),
        credit_per_point_percent=D(1),
        earn_back_months=1,
        effective_from=date(2026, 1, 1),
    )
    SurveyFactory(case=CaseFactory(client=client_a), csat=5, answered_at=T)
    SurveyFactory(case=CaseFactory(client=client_a), csat=2, answered_at=T)  # March: 50 %, 30 points short
    SurveyFactory(
        case=CaseFactory(client=client_a), csat=5, answered_at=T + timedelta(days=30)
    )  # April: 100 %
    march = services.scorecard_compute(client=client_a, period=MARCH, actor=governance_a)
    assert march.credit_total == D("1500.00")  # 30 x 1 % = 30 %, cut to the 15 % cap
    april = services.scorecard_compute(client=client_a, period=date(2026, 4, 1), actor=governance_a)
    assert (april.credit_total, april.earned_back_total) == (0, D("1500.00"))


def test_term_validation_refuses_overlaps_and_bad_bands(client_a):
    from django.core.exceptions import ValidationError

    contract = ContractFactory(client=client_a)
    ContractTermFactory(contract=contract, kpi=KPI.CSAT, effective_from=date(2026, 1, 1))
    overlapping = ContractTermFactory.build(
        contract=contract, client=client_a, kpi=KPI.CSAT, effective_from=date(2026, 6, 1)
    )
    with pytest.raises(ValidationError) as error:
        overlapping.full_clean()
    assert "effective_from" in error.value.message_dict
    bad = ContractTermFactory.build(
        contract=contract,
        client=client_a,
        kpi=KPI.SERVICE_LEVEL,
        credit_mode="bands",
        credit_bands=[{"min": 90, "max": 80, "percent": 2}],
        effective_from=date(2026, 1, 1),
    )
    with pytest.raises(ValidationError) as error:
        bad.full_clean()
    assert {"credit_bands", "threshold_seconds"} <= set(error.value.message_dict)


def test_scorecard_page_csv_and_scoping(
    march, client, governance_a, agent_a, client_b, django_assert_num_queries
):
    _contract(march)
    services.scorecard_compute(client=march, period=MARCH, actor=governance_a)
    url = reverse("reporting:scorecard", args=["alpha", "2026-03"])
    client.force_login(governance_a)
    client.get(url)  # warm the session
    with django_assert_num_queries(7):
        page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200 and "1500.00" in body and "-1300.00" in body
    csv = client.get(url + "?format=csv").content.decode().splitlines()
    assert csv[0].startswith("kpi,channel") and csv[-1] == "total,,,,,,,,,1500.00,200.00,0.00"
    assert client.get(reverse("reporting:scorecard", args=["beta", "2026-03"])).status_code == 404
    assert client.get(reverse("reporting:scorecard", args=["alpha", "March"])).status_code == 404
    governance_b = UserFactory(username="governance-b", role=Role.GOVERNANCE, clients=[client_b])
    client.force_login(governance_b)
    assert client.get(url).status_code == 404
    client.force_login(agent_a)
    assert client.get(url).status_code == 403


def test_governance_staff_compute_a_draft_from_the_page(march, client, governance_a, supervisor_a):
    _contract(march)
    url = reverse("reporting:scorecard", args=["alpha", "2026-03"])
    client.force_login(supervisor_a)
    assert client.post(url).status_code == 403
    client.force_login(governance_a)
    assert client.post(url).status_code == 302
    assert Scorecard.objects.get(client=march, period=MARCH).credit_total == D("1500.00")


def test_the_api_shows_a_client_system_its_own_scorecards_only(march, client_b, governance_a):
    from cases.models import ApiKeyScope
    from tests.api.conftest import key_client
    from tests.api.factories import ApiKeyFactory

    _contract(march)
    services.scorecard_compute(client=march, period=MARCH, actor=governance_a)
    api = key_client(ApiKeyFactory(client=march, scope=ApiKeyScope.READ))
    rows = api.get("/api/v1/scorecards").json()["results"]
    assert [(r["client"], r["period"], r["credit_total"]) for r in rows] == [("alpha", "2026-03", "1500.00")]
    assert len(rows[0]["lines"]) == 5
    assert api.get(f"/api/v1/scorecards/{rows[0]['id']}").json()["net_total"] == "-1300.00"
    other = key_client(ApiKeyFactory(client=client_b, scope=ApiKeyScope.READ))
    assert other.get("/api/v1/scorecards").json()["results"] == []
    assert other.get(f"/api/v1/scorecards/{rows[0]['id']}").status_code == 404


def test_the_monthly_business_review_agenda_carries_the_scorecard(march, governance_a):
    from governance.choices import MeetingKind

    _contract(march)
    services.scorecard_freeze(
        scorecard=services.scorecard_compute(client=march, period=MARCH, actor=governance_a),
        actor=governance_a,
    )
    # April's draft, computed on demand a few days in: not what a review of March is about.
    services.scorecard_compute(client=march, period=date(2026, 4, 1), actor=governance_a)
    meeting = services.meeting_schedule(
        client=march,
        kind=MeetingKind.MONTHLY_BUSINESS_REVIEW,
        scheduled_for=datetime(2026, 4, 7, 10, tzinfo=UTC),
        title="MBR",
        chair=governance_a,
        attendees=[governance_a],
        actor=governance_a,
        now=datetime(2026, 4, 6, tzinfo=UTC),
    )
    scorecard = meeting.agenda["scorecard"]
    assert (scorecard["period"], scorecard["status"], scorecard["credit"]) == ("2026-03", "frozen", "1500.00")
    assert "NPS" in scorecard["terms_missed"]


def test_the_review_pack_is_frozen_with_the_scorecard_and_prints_as_pdf(march, client, governance_a):
    _contract(march)
    services.scorecard_freeze(
        scorecard=services.scorecard_compute(client=march, period=MARCH, actor=governance_a),
        actor=governance_a,
    )
    url = reverse("reporting:mbr-pack", args=["alpha", "2026-03"])
    client.force_login(governance_a)
    page = client.get(url)
    pack = page.context["pack"]
    assert pack["attainment_by_channel"] == [
        {"channel": "email", "met": 2, "missed": 1, "attainment_percent": 66.67}
    ]
    assert pack["trend"][-1] == {
        "month": "2026-03",
        "csat": 50.0,
        "nps": 25.0,
        "first_contact_resolution": 75.0,
    }
    assert pack["trend"][0]["month"] == "2025-10"
    # data changing after the freeze does not change the pack
    for _ in range(3):
        SurveyFactory(case=CaseFactory(client=march), csat=5, nps=10, answered_at=T)
    assert client.get(url).context["pack"]["trend"][-1]["csat"] == 50.0
    pdf = client.get(url, {"format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(reverse("reporting:mbr-pack", args=["alpha", "2026-02"])).status_code == 404


def test_admin_lists_only_the_users_clients_scorecards_and_runs_the_actions(
    march, client, client_b, governance_a
):
    _contract(march)
    card = services.scorecard_compute(client=march, period=MARCH, actor=governance_a)
    ContractFactory(client=client_b)
    other = Scorecard.objects.create(
        client=client_b, period=MARCH, monthly_fee=1, currency="EUR", computed_at=T, data={}
    )
    client.force_login(governance_a)
    listing = client.get(reverse("admin:governance_scorecard_changelist"))
    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset) == [card]
    assert client.get(reverse("admin:governance_scorecard_change", args=[other.pk])).status_code == 302
    page = client.get(reverse("admin:governance_scorecard_change", args=[card.pk]))
    assert page.status_code == 200 and "483.87" in page.content.decode()
    changelist = reverse("admin:governance_scorecard_changelist")
    client.post(changelist, {"action": "freeze", "_selected_action": [card.pk]})
    card.refresh_from_db()
    assert card.status == ScorecardStatus.FROZEN
    response = client.post(changelist, {"action": "recompute", "_selected_action": [card.pk]}, follow=True)
    assert "frozen" in response.content.decode()
    assert client.get(reverse("admin:governance_contract_changelist")).status_code == 200
    assert client.get(reverse("admin:governance_contractterm_changelist")).status_code == 200


def test_paused_clocks_and_reopened_cases_count_as_the_engine_decided_them(client_a, governance_a):
    """Resolution target 4 h, 24x7, paused while pending. A: pending 1 h to 4 h, resolved at
    6 h: 3 h counted, met. B: resolved at 2 h (first contact), reopened at 3 h, resolved at 7 h:
    2 + 4 = 6 h, missed, counted once; no longer a first-contact resolution. C: still pending:
    not decided, not counted."""
    SLAPolicyFactory(client=client_a, targets={("resolution", Priority.NORMAL): 4 * 3600})
    queue, customer = QueueFactory(client=client_a), CustomerFactory(client=client_a)

    def opened(name):
        return cases.case_open(
            client=client_a, customer=customer, queue=queue, subject=name, channel=Channel.EMAIL, opened_at=T
        )

    def at(hours):
        return T + timedelta(hours=hours)

    a, b, c = opened("A"), opened("B"), opened("C")
    cases.case_status_set(case=a, status="pending", actor=governance_a, occurred_at=at(1))
    cases.case_status_set(case=a, status="open", actor=governance_a, occurred_at=at(4))
    cases.case_resolve(case=a, actor=governance_a, first_contact_resolution=False, occurred_at=at(6))
    cases.case_resolve(case=b, actor=governance_a, first_contact_resolution=True, occurred_at=at(2))
    assert _measure(KPI.FIRST_CONTACT_RESOLUTION, client_a).value == 50.0  # B so far: 1 of 2
    cases.case_reopen(case=b, actor=governance_a, reason="still broken", occurred_at=at(3))
    cases.case_resolve(case=b, actor=governance_a, occurred_at=at(7))
    cases.case_status_set(case=c, status="pending", actor=governance_a, occurred_at=at(1))

    resolution = _measure(KPI.SLA_RESOLUTION, client_a)
    assert (resolution.numerator, resolution.denominator, resolution.value) == (1, 2, 50.0)
    fcr = _measure(KPI.FIRST_CONTACT_RESOLUTION, client_a)
    assert (fcr.numerator, fcr.denominator, fcr.value) == (0, 2, 0.0)
    outcomes = dict(
        SLAClock.objects.filter(case__in=[a, b, c], metric="resolution").values_list(
            "case__subject", "outcome"
        )
    )
    assert outcomes == {"A": "met", "B": "missed", "C": ""}


def test_the_api_pages_through_scorecards(march, governance_a):
    """Scorecards are ordered by their month (a date): its cursor holds one."""
    from datetime import date

    from cases.models import ApiKeyScope
    from tests.api.conftest import key_client
    from tests.api.factories import ApiKeyFactory

    _contract(march)
    for month in (1, 2, 3):
        services.scorecard_compute(client=march, period=date(2026, month, 1), actor=governance_a)
    api = key_client(ApiKeyFactory(client=march, scope=ApiKeyScope.READ))
    periods, url = [], "/api/v1/scorecards?page_size=1"
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        periods += [row["period"] for row in response.json()["results"]]
        url = response.json()["next"]
    assert periods == ["2026-03", "2026-02", "2026-01"]
    assert api.get("/api/v1/scorecards?cursor=forged").status_code == 400


def test_a_term_replaced_mid_month_is_measured_over_its_own_days(client_a):
    """Two terms for one KPI, one ending on the 15th and one starting on the 16th: each is
    measured over its own days, so a shortfall in the first half is credited once."""
    from datetime import UTC, datetime

    from governance.choices import KPI
    from tests.factories import CaseFactory, ContractFactory, ContractTermFactory, SurveyFactory

    client_a.timezone = "UTC"
    client_a.save()
    contract = ContractFactory(client=client_a, credit_cap_percent=D(100))
    common = {"contract": contract, "kpi": KPI.CSAT, "target": D(80), "credit_per_point_percent": D(1)}
    first = ContractTermFactory(**common, effective_from=date(2026, 1, 1), effective_to=date(2026, 3, 15))
    second = ContractTermFactory(**common, effective_from=date(2026, 3, 16))
    for csat in (5, 1):  # 50 % on the 5th, in the first term's days only
        SurveyFactory(
            case=CaseFactory(client=client_a), csat=csat, answered_at=datetime(2026, 3, 5, 12, tzinfo=UTC)
        )
    scorecard = services.scorecard_compute(client=client_a, period=MARCH)
    lines = {line.term_id: line for line in scorecard.lines.all()}
    assert (lines[first.pk].actual, lines[first.pk].credit) == (D("50.00"), D("3000.00"))
    assert (lines[second.pk].actual, lines[second.pk].credit) == (None, D("0.00"))  # no data: neither
    assert scorecard.credit_total == D("3000.00")
