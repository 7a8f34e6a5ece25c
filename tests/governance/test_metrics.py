"""Governance metrics, exactly as computed by hand on small data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cases import services as cases
from governance import metrics, services
from governance.models import RootCause
from slas.models import Breach
from tests.governance.conftest import FR, T0, after, sweep_at

pytestmark = pytest.mark.django_db
START, END = T0, T0 + timedelta(days=7)


def test_escalation_rate_per_channel_and_turnaround_median_and_p90(
    open_at, client_a, client_b, queue_a, tiers_a, tiers_b, agent_a, t2_owner, agent_b
):
    def escalated(channel, *, opened, accept_after=None, created=None):
        case = open_at(client_a, queue=queue_a, channel=channel, at=opened)
        created = created or opened + timedelta(minutes=5)
        escalation = services.escalation_create(case=case, reason="x", actor=agent_a, now=created)
        if accept_after is not None:
            services.escalation_accept(escalation=escalation, actor=t2_owner, at=created + accept_after)
        return case

    s = timedelta(seconds=1)
    escalated("email", opened=after(hours=1), accept_after=60 * s)
    escalated("email", opened=after(hours=2), accept_after=120 * s)
    open_at(client_a, queue=queue_a, channel="email", at=after(hours=3))
    open_at(client_a, queue=queue_a, channel="email", at=after(hours=4))
    escalated("chat", opened=after(days=1), accept_after=300 * s)
    escalated("chat", opened=after(days=2), accept_after=600 * s)
    escalated("voice", opened=after(days=3))  # not accepted
    # outside: a case opened and escalated before the period; another client's case
    escalated("email", opened=after(days=-2), accept_after=10_000 * s)
    other = open_at(client_b, channel="email", at=after(hours=1))
    services.escalation_create(case=other, reason="x", actor=agent_b, now=after(hours=2))

    assert metrics.escalation_rate_by_channel(client_ids=[client_a.pk], start=START, end=END) == [
        {"channel": "chat", "cases": 2, "escalated": 2, "rate_percent": 100.0},
        {"channel": "email", "cases": 4, "escalated": 2, "rate_percent": 50.0},
        {"channel": "voice", "cases": 1, "escalated": 1, "rate_percent": 100.0},
    ]
    # accepted in the period: 60, 120, 300, 600 s; median = 120 + 0.5 * 180; p90 = 300 + 0.7 * 300
    assert metrics.escalation_turnaround(client_ids=[client_a.pk], start=START, end=END) == {
        "count": 4,
        "median_seconds": 210.0,
        "p90_seconds": 510.0,
    }
    assert metrics.escalation_turnaround(client_ids=[client_b.pk], start=START, end=END) == {
        "count": 0,
        "median_seconds": None,
        "p90_seconds": None,
    }


def test_root_cause_closure_of_reviews_and_breaches(
    open_at, client_a, queue_a, policy_a, governance_a, governance_a2
):
    opened = [open_at(client_a, queue=queue_a) for _ in range(5)]
    sweep_at(after(hours=2))
    b1, b2, b3, b4, b5 = (Breach.objects.get(case=c) for c in opened)
    cause = RootCause.objects.get(code="demand-spike")
    for breaches in ([b1, b2], [b3]):
        review = services.breach_review_open(breaches=breaches, actor=governance_a, now=after(hours=3))
        services.breach_review_close(review=review, actor=governance_a, root_cause=cause, findings="Peak.")
    services.breach_review_open(breaches=[b4], actor=governance_a, now=after(hours=3))
    dispute = services.dispute_raise(breach=b5, actor=governance_a, grounds="Customer asked to wait")
    assert metrics.root_cause_closure(client_ids=[client_a.pk], start=START, end=END) == {
        "reviews_opened": 3,
        "reviews_closed": 2,
        "review_closure_percent": 66.67,
        "breaches": 5,
        "breaches_with_root_cause": 3,
        "breach_root_cause_percent": 60.0,
    }
    services.dispute_decide(dispute=dispute, actor=governance_a2, outcome="accepted", reason="Agreed")
    result = metrics.root_cause_closure(client_ids=[client_a.pk], start=START, end=END)
    assert (result["breaches"], result["breaches_with_root_cause"], result["breach_root_cause_percent"]) == (
        4,
        3,
        75.0,
    )


def test_action_completion_and_on_time(open_at, client_a, queue_a, policy_a, governance_a, supervisor_a):
    open_at(client_a, queue=queue_a)
    sweep_at(after(hours=2))
    review = services.breach_review_open(breaches=list(Breach.objects.all()), actor=governance_a)
    day = T0.date()

    def action(due_in, *, done_in=None, then=None):
        made = services.corrective_action_raise(
            review=review,
            title=f"due +{due_in}",
            owner=supervisor_a,
            due_on=day + timedelta(days=due_in),
            actor=governance_a,
            now=T0,
        )
        if then == "cancelled":
            return services.corrective_action_cancel(action=made, actor=governance_a, reason="dropped")
        services.corrective_action_start(action=made, actor=supervisor_a, now=T0)
        if done_in is not None:
            services.corrective_action_complete(
                action=made, actor=supervisor_a, now=after(days=done_in, hours=5)
            )
        if then == "verified":
            services.corrective_action_verify(action=made, actor=governance_a, notes="ok", now=after(days=6))
        return made

    action(1, done_in=1)  # on time
    action(2, done_in=3)  # late
    action(3, done_in=2, then="verified")  # on time
    action(4)  # still in progress
    action(5, then="cancelled")  # not counted
    action(9, done_in=1)  # due outside the period
    assert metrics.action_completion(client_ids=[client_a.pk], start=day, end=day + timedelta(days=7)) == {
        "due": 4,
        "completed": 3,
        "on_time": 2,
        "completion_percent": 75.0,
        "on_time_percent": 50.0,
    }


def test_breach_ageing_buckets(open_at, client_a, queue_a, policy_a, governance_a, governance_a2):
    ages = {
        name: open_at(client_a, queue=queue_a, at=after(days=-days))
        for name, days in (("40d", 40), ("10d", 10), ("5d", 5), ("2d", 2), ("12h", 0.5))
    }
    sweep_at(T0)  # first response breached 1 h after opening, resolution 24 h after
    assert Breach.objects.count() == 9

    def buckets():
        return [row["count"] for row in metrics.breach_ageing(client_ids=[client_a.pk], now=T0)]

    # FR ages 11 h | 47 h, RES 24 h | 4 d 23 h, 4 d | 9 d 23 h, 9 d | 39 d 23 h, 39 d
    assert buckets() == [1, 2, 2, 2, 2]
    old = list(Breach.objects.filter(case=ages["40d"]))
    review = services.breach_review_open(breaches=old, actor=governance_a)
    services.breach_review_close(
        review=review,
        actor=governance_a,
        root_cause=RootCause.objects.get(code="demand-spike"),
        findings="Peak",
    )
    services.breach_review_open(breaches=list(Breach.objects.filter(case=ages["5d"])), actor=governance_a)
    dispute = services.dispute_raise(
        breach=Breach.objects.get(case=ages["10d"], metric=FR), actor=governance_a, grounds="wrong calendar"
    )
    services.dispute_decide(dispute=dispute, actor=governance_a2, outcome="accepted", reason="yes")
    assert buckets() == [1, 2, 2, 1, 0]
    assert [row["bucket"] for row in metrics.breach_ageing(client_ids=None, now=T0)] == [
        "under 1 day",
        "1-3 days",
        "3-7 days",
        "7-30 days",
        "over 30 days",
    ]


def test_attainment_by_channel_leaves_out_excluded_clocks_and_counts_accepted_disputes_as_met(
    open_at, client_a, queue_a, policy_a, governance_a, governance_a2
):
    def first_reply(channel, minutes):
        case = open_at(client_a, queue=queue_a, channel=channel, at=after(hours=1))
        cases.interaction_append(
            case=case,
            channel=channel,
            direction="outbound",
            author_kind="agent",
            occurred_at=after(hours=1, minutes=minutes),
        )
        return case

    first_reply("chat", 10)
    first_reply("chat", 90)
    disputed = first_reply("chat", 100)
    first_reply("email", 5)
    first_reply("email", 70)
    excluded = first_reply("email", 80)
    dispute = services.dispute_raise(
        breach=Breach.objects.get(case=disputed), actor=governance_a, grounds="g"
    )
    services.dispute_decide(dispute=dispute, actor=governance_a2, outcome="accepted", reason="r")
    exclusion = services.exclusion_propose(
        client=client_a,
        scope="case",
        case=excluded,
        reason_kind="force_majeure",
        reason="storm",
        evidence="news",
        actor=governance_a,
    )
    services.exclusion_decide(exclusion=exclusion, actor=governance_a2, approve=True, note="")
    assert metrics.attainment_by_channel(client_ids=[client_a.pk], start=START, end=END) == [
        {"channel": "chat", "met": 2, "missed": 1, "attainment_percent": 66.67},
        {"channel": "email", "met": 1, "missed": 1, "attainment_percent": 50.0},
    ]
