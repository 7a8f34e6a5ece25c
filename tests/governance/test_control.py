"""Risk log, SLA exclusions and breach disputes: four eyes, refused transitions, and what the
reporting selectors return."""

from __future__ import annotations

from datetime import date

import pytest

from cases import services as cases
from config.errors import ApplicationError
from governance import selectors, services
from governance.models import BreachDispute, Exclusion, Risk
from slas.models import Breach, SLAClock
from tests.factories import UserFactory
from tests.governance.conftest import FR, RES, after, sweep_at

pytestmark = pytest.mark.django_db


# --- Risks --------------------------------------------------------------------------------------------


def test_risk_score_and_status_transitions(client_a, governance_a, supervisor_a):
    risk = services.risk_raise(
        client=client_a,
        title="Peak season",
        likelihood=4,
        impact=5,
        owner=supervisor_a,
        review_on=date(2026, 3, 9),
        actor=governance_a,
    )
    assert (risk.score, risk.level) == (20, "high")
    assert Risk.objects.with_score().get().score_value == 20
    with pytest.raises(ApplicationError, match="From 1 to 5"):
        services.risk_update(risk=risk, actor=governance_a, impact=6)
    services.risk_update(risk=risk, actor=governance_a, status="accepted", reason="budget refused")
    before = Risk.objects.filter(pk=risk.pk).values().get()
    with pytest.raises(ApplicationError, match="An accepted risk cannot become open"):
        services.risk_update(risk=risk, actor=governance_a, status="open")
    assert Risk.objects.filter(pk=risk.pk).values().get() == before
    closed = services.risk_update(risk=risk, actor=governance_a, status="closed", likelihood=1)
    assert (closed.status, closed.score, closed.closed_at is not None) == ("closed", 5, True)
    assert list(risk.history.order_by("history_id").values_list("history_change_reason", flat=True)) == [
        "raised",
        "status accepted: budget refused",
        "status closed, likelihood",
    ]


# --- Exclusions ------------------------------------------------------------------------------------------


def test_exclusion_is_approved_by_a_second_governance_user_only(
    open_at, client_a, queue_a, policy_a, governance_a, governance_a2, supervisor_a
):
    case = open_at(client_a, queue=queue_a)
    proposal = services.exclusion_propose(
        client=client_a,
        scope="case",
        case=case,
        reason_kind="client_delay",
        reason="Waited on the client's refunds team",
        evidence="E-mail from the client, 2 March",
        actor=governance_a,
    )

    def state():
        return Exclusion.objects.filter(pk=proposal.pk).values("status", "decided_by", "decided_at").get()

    before = state()
    with pytest.raises(ApplicationError, match="a second person decides it"):
        services.exclusion_decide(exclusion=proposal, actor=governance_a, approve=True, note="")
    with pytest.raises(ApplicationError, match="governance role"):
        services.exclusion_decide(exclusion=proposal, actor=supervisor_a, approve=True, note="")
    with pytest.raises(ApplicationError, match="Only the proposer"):
        services.exclusion_withdraw(exclusion=proposal, actor=governance_a2)
    assert state() == before
    assert not selectors.excluded_clock_ids(client_ids=[client_a.pk]).exists()
    approved = services.exclusion_decide(
        exclusion=proposal, actor=governance_a2, approve=True, note="confirmed"
    )
    assert (approved.status, approved.decided_by) == ("approved", governance_a2)
    with pytest.raises(ApplicationError, match="already approved"):
        services.exclusion_decide(exclusion=proposal, actor=governance_a2, approve=False, note="no")
    assert set(selectors.excluded_clock_ids(client_ids=[client_a.pk])) == set(
        SLAClock.objects.filter(case=case).values_list("pk", flat=True)
    )


def test_exclusion_proposal_is_refused_without_evidence_or_with_another_clients_clock(
    open_at, client_a, client_b, policy_b, governance_a
):
    other_clock = SLAClock.objects.filter(case=open_at(client_b)).first()
    for kwargs, field in (
        ({"scope": "clock", "clock": other_clock}, "clock"),
        ({"scope": "interval", "starts_at": after(hours=2), "ends_at": after(hours=1)}, "ends_at"),
        ({"scope": "case", "evidence": " "}, "case"),
    ):
        with pytest.raises(ApplicationError) as refused:
            services.exclusion_propose(
                client=client_a,
                reason_kind="client_outage",
                reason="outage",
                actor=governance_a,
                **{"evidence": "INC-1", **kwargs},
            )
        assert field in refused.value.field_errors
    assert not Exclusion.objects.exists()


def test_excluded_clocks_by_scope(
    open_at, client_a, client_b, queue_a, policy_a, policy_b, governance_a, governance_a2
):
    one = open_at(client_a, queue=queue_a, at=after(hours=-10))  # FR 1 h, resolution 24 h
    two = open_at(client_a, queue=queue_a, at=after(hours=0))
    three = open_at(client_a, queue=queue_a, at=after(hours=5))
    cases.interaction_append(
        case=one,
        channel="email",
        direction="outbound",
        author_kind="agent",
        occurred_at=after(hours=-9, minutes=-30),
    )
    other_client = open_at(client_b, at=after(hours=0))

    def approve(**kwargs):
        proposal = services.exclusion_propose(
            client=client_a,
            reason_kind="client_outage",
            reason="r",
            evidence="e",
            actor=governance_a,
            **kwargs,
        )
        services.exclusion_decide(exclusion=proposal, actor=governance_a2, approve=True, note="")

    # an outage from +1 h to +2 h: clocks running at some time in it
    approve(scope="interval", starts_at=after(hours=1), ends_at=after(hours=2))
    excluded = set(selectors.excluded_clock_ids())
    clocks = {
        (c.case_id, c.metric): c.pk for c in SLAClock.objects.filter(case__in=[one, two, three, other_client])
    }
    assert excluded == {clocks[(one.pk, RES)], clocks[(two.pk, FR)], clocks[(two.pk, RES)]}
    # one's first response stopped before the outage; three started after it; client B is not A's
    approve(scope="clock", clock=SLAClock.objects.get(pk=clocks[(three.pk, FR)]))
    assert set(selectors.excluded_clock_ids(client_ids=[client_a.pk])) == excluded | {clocks[(three.pk, FR)]}
    assert not selectors.excluded_clock_ids(client_ids=[client_b.pk]).exists()
    assert list(selectors.clock_exclusions(clock=SLAClock.objects.get(pk=clocks[(two.pk, FR)]))) == [
        Exclusion.objects.get(scope="interval")
    ]


# --- Disputes ----------------------------------------------------------------------------------------------


@pytest.fixture
def breach(open_at, client_a, queue_a, policy_a):
    open_at(client_a, queue=queue_a)
    sweep_at(after(hours=2))
    return Breach.objects.get()


def test_a_client_contests_a_breach_and_a_second_person_decides(breach, client_a, governance_a):
    client_user = UserFactory(username="alpha-api", role="client_system", clients=[client_a])
    dispute = services.dispute_raise(
        breach=breach, actor=client_user, grounds="The customer asked us to wait."
    )
    with pytest.raises(ApplicationError, match="already disputed"):
        services.dispute_raise(breach=breach, actor=client_user, grounds="again")
    with pytest.raises(ApplicationError, match="governance role"):
        services.dispute_decide(dispute=dispute, actor=client_user, outcome="accepted", reason="mine")
    with pytest.raises(ApplicationError, match="Give the reason"):
        services.dispute_decide(dispute=dispute, actor=governance_a, outcome="accepted", reason="")
    assert BreachDispute.objects.get().status == "open"
    assert not selectors.breaches_voided_by_dispute().exists()
    services.dispute_decide(
        dispute=dispute, actor=governance_a, outcome="accepted", reason="Pending was missed."
    )
    assert list(selectors.breaches_voided_by_dispute(client_ids=[client_a.pk])) == [breach]
    assert not selectors.breaches_credit_waived().exists()
    with pytest.raises(ApplicationError, match="already accepted"):
        services.dispute_decide(dispute=dispute, actor=governance_a, outcome="upheld", reason="changed mind")
    assert list(dispute.history.order_by("history_id").values_list("history_change_reason", flat=True)) == [
        "raised",
        "accepted: Pending was missed.",
    ]


def test_own_dispute_cannot_be_decided_and_withdrawn_disputes_free_the_breach(
    breach, governance_a, governance_a2
):
    dispute = services.dispute_raise(breach=breach, actor=governance_a, grounds="Wrong calendar")
    with pytest.raises(ApplicationError, match="a second person decides it"):
        services.dispute_decide(dispute=dispute, actor=governance_a, outcome="accepted", reason="x")
    with pytest.raises(ApplicationError, match="Only who raised"):
        services.dispute_withdraw(dispute=dispute, actor=governance_a2)
    services.dispute_withdraw(dispute=dispute, actor=governance_a)
    again = services.dispute_raise(breach=breach, actor=governance_a, grounds="Wrong calendar, with proof")
    services.dispute_decide(dispute=again, actor=governance_a2, outcome="waived", reason="Goodwill")
    assert list(selectors.breaches_credit_waived()) == [breach]
    assert not selectors.breaches_voided_by_dispute().exists()
    assert Breach.objects.get().voided_at is None  # the breach row itself is untouched
