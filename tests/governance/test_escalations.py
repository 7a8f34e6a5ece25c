"""Manual escalation, acceptance (turnaround, acceptance clock), close, de-escalation,
supersession, the context summary and the owners' notification."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from cases import services as cases
from cases.choices import CaseEventKind
from cases.models import Case, CaseEvent
from config.errors import ApplicationError
from governance import services
from governance.models import Escalation
from slas.models import Breach, SLAClock
from tests.factories import QueueFactory, UserFactory
from tests.governance.conftest import FR, after, sweep_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(open_at, client_a, queue_a, tiers_a, agent_a):
    case = open_at(client_a, queue=queue_a, channel="chat", subject="Card blocked abroad")
    cases.interaction_append(
        case=case,
        channel="chat",
        direction="inbound",
        author_kind="customer",
        body="My card was blocked in Lisbon, I cannot pay my hotel.",
        occurred_at=after(minutes=1),
    )
    cases.interaction_append(
        case=case,
        channel="chat",
        direction="outbound",
        author_kind="agent",
        author=agent_a,
        body="I see a fraud block; I cannot lift it myself.",
        occurred_at=after(minutes=5),
    )
    cases.interaction_append(
        case=case,
        channel="voice",
        direction="inbound",
        author_kind="customer",
        body="Inbound call",
        occurred_at=after(minutes=20),
    )
    return Case.objects.get(pk=case.pk)


def _snapshot(case):
    case.refresh_from_db()
    return (
        case.tier,
        case.queue_id,
        case.version,
        Escalation.objects.count(),
        SLAClock.objects.filter(metric="escalation_acceptance").count(),
        CaseEvent.objects.filter(case=case, kind=CaseEventKind.TIER_CHANGED).count(),
    )


def test_manual_escalation_records_who_why_context_handoff_and_starts_the_acceptance_clock(
    case, agent_a, tiers_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        escalation = services.escalation_create(
            case=case,
            reason="Fraud block needs the fraud team",
            actor=agent_a,
            handoff_channel="voice",
            now=after(minutes=30),
        )
    assert (escalation.sequence, escalation.from_tier, escalation.to_tier, escalation.tier) == (
        1,
        1,
        2,
        tiers_a[2],
    )
    assert (escalation.trigger, escalation.requested_by, escalation.rule) == ("manual", agent_a, None)
    assert (escalation.from_channel, escalation.handoff_channel, escalation.created_at) == (
        "voice",
        "voice",
        after(minutes=30),
    )
    summary = escalation.context_summary
    assert summary.splitlines()[0] == "Case: Card blocked abroad"
    assert "Channels: chat → voice" in summary
    assert "My card was blocked in Lisbon, I cannot pay my hotel." in summary
    assert "I see a fraud block; I cannot lift it myself." in summary
    assert "first response met" in summary
    assert "Open for 30 min" in summary
    clock = escalation.acceptance_clock
    assert (clock.started_at, clock.due_at, clock.warn_at) == (
        after(minutes=30),
        after(minutes=60),
        after(minutes=54),
    )
    assert [m.to for m in mail.outbox] == [["t2@example.com"]]
    assert "Continue on: voice" in mail.outbox[0].body
    assert mail.outbox[0].extra_headers["Auto-Submitted"] == "auto-generated"
    escalation.refresh_from_db()
    assert escalation.notified_at is not None
    assert services.escalation_notify(escalation_id=escalation.pk) == 0
    assert len(mail.outbox) == 1
    assert list(
        escalation.history.order_by("history_id").values_list("history_change_reason", flat=True)
    ) == [
        "escalated T1→T2 (manual)",
        "owners notified (1)",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reason": " "}, "Say why the case is escalated."),
        ({"to_tier": 1}, "The case is at T1; it can be escalated to a higher tier (T2 or T3) only."),
        ({"to_tier": 4}, "The case is at T1; it can be escalated to a higher tier (T2 or T3) only."),
        ({"handoff_channel": "pigeon"}, "Unknown channel 'pigeon'."),
    ],
)
def test_refused_escalations_change_nothing(case, agent_a, kwargs, message):
    before = _snapshot(case)
    with pytest.raises(ApplicationError) as refused:
        services.escalation_create(case=case, actor=agent_a, **{"reason": "x", **kwargs})
    assert refused.value.message == message
    assert _snapshot(case) == before


def test_escalation_is_refused_to_another_clients_user_on_a_resolved_case_and_without_a_tier(
    case, agent_a, agent_b, client_a, tiers_a
):
    before = _snapshot(case)
    with pytest.raises(ApplicationError, match="does not serve this client"):
        services.escalation_create(case=case, reason="x", actor=agent_b)
    tiers_a[3].is_active = False
    tiers_a[3].save()
    with pytest.raises(ApplicationError, match="No active T3 tier"):
        services.escalation_create(case=case, reason="x", actor=agent_a, to_tier=3)
    with pytest.raises(ApplicationError, match="another client"):
        services.escalation_create(case=case, reason="x", actor=agent_a, move_to_queue=QueueFactory())
    assert _snapshot(case) == before
    cases.case_resolve(case=case, actor=agent_a)
    before = _snapshot(case)
    with pytest.raises(ApplicationError, match="reopen it first"):
        services.escalation_create(case=case, reason="x", actor=agent_a)
    assert _snapshot(case) == before


def test_accept_measures_turnaround_and_stops_the_acceptance_clock_met(case, agent_a, t2_owner):
    escalation = services.escalation_create(case=case, reason="x", actor=agent_a, now=after(minutes=30))
    accepted = services.escalation_accept(escalation=escalation, actor=t2_owner, at=after(minutes=42))
    assert (accepted.status, accepted.accepted_by, accepted.turnaround_seconds) == ("accepted", t2_owner, 720)
    clock = SLAClock.objects.get(pk=escalation.acceptance_clock_id)
    assert (clock.stopped_at, clock.outcome) == (after(minutes=42), "met")
    assert not Breach.objects.filter(clock=clock).exists()


def test_late_acceptance_is_a_missed_clock_with_its_breach(case, agent_a, t2_owner):
    escalation = services.escalation_create(case=case, reason="x", actor=agent_a, now=after(minutes=30))
    assert sweep_at(after(minutes=65)).breached == 1  # due at +60 min: the sweep breaches it
    services.escalation_accept(escalation=escalation, actor=t2_owner, at=after(minutes=75))
    clock = SLAClock.objects.get(pk=escalation.acceptance_clock_id)
    assert (clock.outcome, clock.breached_at) == ("missed", after(minutes=60))
    assert Breach.objects.filter(clock=clock).count() == 1


def test_refused_acceptances_change_nothing(case, agent_a, t2_owner, client_a):
    escalation = services.escalation_create(case=case, reason="x", actor=agent_a, now=after(minutes=30))
    stranger = UserFactory(username="other-agent", role="agent", clients=[client_a])
    for actor, at, message in (
        (stranger, after(minutes=40), "Only the tier's owners"),
        (t2_owner, after(minutes=10), "before it was created"),
    ):
        with pytest.raises(ApplicationError, match=message):
            services.escalation_accept(escalation=escalation, actor=actor, at=at)
        escalation.refresh_from_db()
        assert (escalation.status, escalation.accepted_at) == ("awaiting", None)
        assert escalation.acceptance_clock.stopped_at is None
    services.escalation_accept(escalation=escalation, actor=t2_owner, at=after(minutes=40))
    with pytest.raises(ApplicationError, match="not awaiting acceptance"):
        services.escalation_accept(escalation=escalation, actor=t2_owner, at=after(minutes=50))
    escalation.refresh_from_db()
    assert escalation.accepted_at == after(minutes=40)


def test_a_later_escalation_supersedes_the_active_one(case, agent_a, t2_owner):
    first = services.escalation_create(case=case, reason="specialist", actor=agent_a, now=after(minutes=30))
    second = services.escalation_create(
        case=case, reason="client liaison", actor=agent_a, now=after(minutes=35)
    )
    first.refresh_from_db()
    assert (first.status, first.close_reason, first.closed_at) == (
        "superseded",
        "superseded by escalation #2",
        after(minutes=35),
    )
    assert (first.acceptance_clock.stopped_at, second.sequence, second.from_tier, second.to_tier) == (
        after(minutes=35),
        2,
        2,
        3,
    )
    assert (
        "03-02 14:30 T1→T2 (Manual, Superseded by a later escalation): specialist" in second.context_summary
    )
    case.refresh_from_db()
    assert case.tier == 3
    assert Escalation.objects.active().get() == second


def test_close_and_deescalate(case, agent_a, t2_owner, t3_owner):
    escalation = services.escalation_create(case=case, reason="x", actor=agent_a, now=after(minutes=30))
    with pytest.raises(ApplicationError, match="lower tier"):
        services.escalation_deescalate(escalation=escalation, actor=t2_owner, reason="back", to_tier=2)
    done = services.escalation_deescalate(
        escalation=escalation, actor=t2_owner, reason="frontline can finish"
    )
    case.refresh_from_db()
    assert (done.status, done.close_reason, case.tier) == ("de_escalated", "frontline can finish", 1)
    assert done.acceptance_clock.stopped_at is not None
    for call in (
        lambda: services.escalation_close(escalation=done, actor=t2_owner, reason="again"),
        lambda: services.escalation_deescalate(escalation=done, actor=t2_owner, reason="again"),
    ):
        with pytest.raises(ApplicationError, match="already de-escalated"):
            call()
    again = services.escalation_create(case=case, reason="y", actor=agent_a, to_tier=3)
    closed = services.escalation_close(escalation=again, actor=t3_owner, reason="resolved by liaison")
    case.refresh_from_db()
    assert (closed.status, case.tier, again.sequence) == ("closed", 3, 2)


def test_resolving_the_case_closes_its_escalation(case, agent_a, django_capture_on_commit_callbacks):
    escalation = services.escalation_create(case=case, reason="x", actor=agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        cases.case_resolve(case=case, actor=agent_a)
    escalation.refresh_from_db()
    assert (escalation.status, escalation.close_reason) == ("closed", "case resolved")
    assert escalation.acceptance_clock.stopped_at is not None
    assert services.escalations_close_for_case(case_id=case.pk, reason="again") == 0


def test_first_response_breach_shows_in_the_context_summary(open_at, client_a, queue_a, tiers_a, agent_a):
    breached = open_at(client_a, queue=queue_a)
    sweep_at(after(hours=2))
    escalation = services.escalation_create(case=breached, reason="late", actor=agent_a, now=after(hours=2))
    assert "first response breached (due 2026-03-02 15:00 UTC)" in escalation.context_summary
    assert SLAClock.objects.get(case=breached, metric=FR).breached_at == after(hours=1)
    assert escalation.created_at - breached.opened_at == timedelta(hours=2)
