"""Escalation rules: each trigger and action, exactly once under re-delivery and concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone
from django_q.models import Task

from cases import services as cases
from cases.choices import CaseEventKind, Channel, Priority
from cases.models import CaseEvent
from governance import services, tasks
from governance.models import BreachReview, BreachReviewItem, Escalation, RuleFiring, TriggerEvaluation
from slas.models import Breach, SLAClock
from tests.factories import CustomerFactory, QueueFactory, UserFactory
from tests.governance.conftest import FR, RES, after, sweep_at
from tests.governance.factories import EscalationRuleFactory, EscalationTierFactory

pytestmark = pytest.mark.django_db


def _breached(open_at, client, **kwargs):
    """A case whose first response breached at T0 + its target (normal: 1 h)."""
    case = open_at(client, **kwargs)
    sweep_at(after(hours=2))
    return case, SLAClock.objects.get(case=case, metric=FR)


def _no_failed_tasks():
    assert list(Task.objects.filter(success=False).values_list("func", "result")) == []


# --- SLA breach ------------------------------------------------------------------------------------


def test_breach_rule_escalates_once_even_when_the_task_runs_twice(
    open_at, client_a, queue_a, tiers_a, django_capture_on_commit_callbacks
):
    rule = EscalationRuleFactory(
        client=client_a, name="FR breach", metrics=[FR], tier_action="next", notify_owners=True
    )
    case, clock = _breached(open_at, client_a, queue=queue_a)
    with django_capture_on_commit_callbacks(execute=True):
        first = tasks.sla_breaches_evaluate_task([clock.pk])
    with django_capture_on_commit_callbacks(execute=True):
        second = tasks.sla_breaches_evaluate_task([clock.pk])
    assert first == {"evaluated": 1, "already": 0, "fired": 1, "escalations": 1, "reviewed": 1}
    assert second == {"evaluated": 0, "already": 1, "fired": 0, "escalations": 0, "reviewed": 0}
    escalation = Escalation.objects.get()
    assert (escalation.case, escalation.sequence, escalation.from_tier, escalation.to_tier) == (case, 1, 1, 2)
    assert (escalation.trigger, escalation.rule, escalation.tier, escalation.status) == (
        "sla_breach",
        rule,
        tiers_a[2],
        "awaiting",
    )
    assert escalation.reason == "FR breach: SLA breach (first response)"
    case.refresh_from_db()
    assert case.tier == 2
    tier_event = CaseEvent.objects.get(case=case, kind=CaseEventKind.TIER_CHANGED)
    assert (tier_event.before, tier_event.after, tier_event.actor_label) == (
        {"tier": 1},
        {"tier": 2},
        "rule: FR breach",
    )
    clock = escalation.acceptance_clock
    assert (clock.metric, clock.cycle, clock.target_seconds, clock.started_at) == (
        "escalation_acceptance",
        1,
        1800,
        escalation.created_at,
    )
    assert clock.due_at == escalation.created_at + timedelta(minutes=30)
    firing = RuleFiring.objects.get()
    assert (firing.trigger_key, firing.escalation, firing.outcome) == (
        str(SLAClock.objects.get(case=case, metric=FR).pk),
        escalation,
        [{"action": "raise_tier", "result": "T1→T2"}, {"action": "notify", "result": "with the escalation"}],
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["t2@example.com"]
    assert "Escalated to T2 Specialists" in mail.outbox[0].subject
    assert "Case: Router keeps restarting" in mail.outbox[0].body
    assert TriggerEvaluation.objects.filter(trigger="sla_breach").count() == 1
    _no_failed_tasks()


def test_sweep_hands_breaches_to_the_rules_after_commit_and_a_second_sweep_adds_nothing(
    open_at, client_a, queue_a, tiers_a, django_capture_on_commit_callbacks
):
    EscalationRuleFactory(client=client_a, metrics=[FR], tier_action="2")
    cases_ = [open_at(client_a, queue=queue_a) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_at(after(hours=2)).breached == 3 + 0  # FR only (resolution due in 24 h)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_at(after(hours=3)).breached == 0
    assert sorted(Escalation.objects.values_list("case_id", flat=True)) == sorted(c.pk for c in cases_)
    assert RuleFiring.objects.count() == 3
    # and each breach has its owner: normal breaches of one queue and day share one review
    review = BreachReview.objects.get()
    assert review.items.count() == 3
    _no_failed_tasks()


def test_breach_rule_conditions_channel_priority_queue_and_metric(open_at, client_a, queue_a, tiers_a):
    other_queue = QueueFactory(client=client_a)
    EscalationRuleFactory(client=client_a, name="chat only", channels=[Channel.CHAT])
    EscalationRuleFactory(client=client_a, name="urgent only", priorities=[Priority.URGENT])
    EscalationRuleFactory(client=client_a, name="other queue", queues=[other_queue])
    EscalationRuleFactory(client=client_a, name="resolution only", metrics=[RES])
    _, clock = _breached(open_at, client_a, queue=queue_a)
    result = services.sla_alerts_evaluate(trigger="sla_breach", clock_ids=[clock.pk])
    assert (result.evaluated, result.fired) == (1, 0)
    assert TriggerEvaluation.objects.get().note == "no rule matched"
    assert not RuleFiring.objects.exists() and not Escalation.objects.exists()


def test_rule_without_a_configured_tier_records_the_refusal_and_changes_nothing(
    open_at, client_a, queue_a, policy_a
):
    EscalationRuleFactory(client=client_a, name="to T2", tier_action="2")
    case, clock = _breached(open_at, client_a, queue=queue_a)
    services.sla_alerts_evaluate(trigger="sla_breach", clock_ids=[clock.pk])
    firing = RuleFiring.objects.get()
    assert firing.outcome == [
        {
            "action": "raise_tier",
            "result": "refused: No active T2 tier serves the queue Support A of this client.",
        }
    ]
    case.refresh_from_db()
    assert case.tier == 1 and not Escalation.objects.exists()
    assert not CaseEvent.objects.filter(case=case, kind=CaseEventKind.TIER_CHANGED).exists()


def test_rule_does_nothing_on_a_resolved_case(open_at, client_a, queue_a, tiers_a, agent_a):
    EscalationRuleFactory(client=client_a, tier_action="2")
    case, clock = _breached(open_at, client_a, queue=queue_a)
    cases.case_resolve(case=case, actor=agent_a)
    services.sla_alerts_evaluate(trigger="sla_breach", clock_ids=[clock.pk])
    assert TriggerEvaluation.objects.get().note == "case resolved: no action"
    assert not RuleFiring.objects.exists()


def test_clients_without_rules_get_their_evaluations_recorded_in_bulk(open_at, client_a, client_b, policy_b):
    _, clock = _breached(open_at, client_b)
    result = services.sla_alerts_evaluate(trigger="sla_breach", clock_ids=[clock.pk])
    assert (result.evaluated, result.fired) == (1, 0)
    assert TriggerEvaluation.objects.get().note == "no active rule for this trigger"
    assert services.sla_alerts_evaluate(trigger="sla_breach", clock_ids=[clock.pk]).evaluated == 0


# --- SLA warning -----------------------------------------------------------------------------------


def test_warning_rule_raises_the_priority(open_at, client_a, queue_a, tiers_a):
    EscalationRuleFactory(
        client=client_a, name="at risk", trigger="sla_warning", tier_action="", raise_priority_to="high"
    )
    case = open_at(client_a, queue=queue_a)
    sweep_at(after(minutes=50))  # warned at 48 min (80 % of 1 h)
    clock = SLAClock.objects.get(case=case, metric=FR)
    assert clock.warned_at == after(minutes=48) and clock.breached_at is None
    assert tasks.sla_warnings_evaluate_task([clock.pk])["fired"] == 1
    case.refresh_from_db()
    assert case.priority == "high"
    assert RuleFiring.objects.get().outcome == [{"action": "raise_priority", "result": "normal→high"}]
    assert tasks.sla_warnings_evaluate_task([clock.pk]) == {
        "evaluated": 0,
        "already": 1,
        "fired": 0,
        "escalations": 0,
    }


def test_warning_of_a_clock_stopped_meanwhile_does_nothing(open_at, client_a, queue_a, tiers_a):
    EscalationRuleFactory(client=client_a, trigger="sla_warning", tier_action="", raise_priority_to="high")
    case = open_at(client_a, queue=queue_a)
    sweep_at(after(minutes=50))
    cases.interaction_append(
        case=case, channel="email", direction="outbound", author_kind="agent", occurred_at=after(minutes=52)
    )
    clock = SLAClock.objects.get(case=case, metric=FR)
    services.sla_alerts_evaluate(trigger="sla_warning", clock_ids=[clock.pk])
    assert TriggerEvaluation.objects.get().note == "clock stopped before the warning was evaluated"
    case.refresh_from_db()
    assert case.priority == "normal"


# --- Case triggers ---------------------------------------------------------------------------------


def test_vip_customer_case_gets_its_priority_raised_on_opening(
    open_at, client_a, queue_a, tiers_a, django_capture_on_commit_callbacks
):
    EscalationRuleFactory(client=client_a, trigger="vip_customer", tier_action="", raise_priority_to="high")
    vip = CustomerFactory(client=client_a, is_vip=True)
    with django_capture_on_commit_callbacks(execute=True):
        vip_case = cases.case_open(
            client=client_a, customer=vip, queue=queue_a, subject="x", channel="chat", priority="normal"
        )
        plain_case = cases.case_open(
            client=client_a,
            customer=CustomerFactory(client=client_a),
            queue=queue_a,
            subject="y",
            channel="chat",
            priority="normal",
        )
    vip_case.refresh_from_db(), plain_case.refresh_from_db()
    assert (vip_case.priority, plain_case.priority) == ("high", "normal")
    assert list(RuleFiring.objects.values_list("case_id", "trigger_key")) == [(vip_case.pk, "opened")]
    assert services.case_triggers_evaluate(case_id=vip_case.pk).evaluated == 0
    _no_failed_tasks()


def test_reopened_n_times_fires_at_the_nth_reopen_and_each_later_one(
    open_at, client_a, queue_a, tiers_a, agent_a, django_capture_on_commit_callbacks
):
    EscalationRuleFactory(
        client=client_a, name="reopened twice", trigger="reopened", reopen_count=2, tier_action="3"
    )
    case = open_at(client_a, queue=queue_a)
    for number in (1, 2, 3):
        cases.case_resolve(case=case, actor=agent_a)
        with django_capture_on_commit_callbacks(execute=True):
            cases.case_reopen(case=case, actor=agent_a, reason=f"not fixed {number}")
        case.refresh_from_db()
        if number == 1:
            assert case.tier == 1 and not RuleFiring.objects.exists()
    assert case.tier == 3
    firings = dict(RuleFiring.objects.values_list("trigger_key", "outcome"))
    assert firings == {
        "2": [{"action": "raise_tier", "result": "T1→T3"}],
        "3": [{"action": "raise_tier", "result": "skipped: the case is already at T3"}],
    }
    assert Escalation.objects.get().trigger == "reopened"
    assert set(
        TriggerEvaluation.objects.filter(trigger="reopened").values_list("trigger_key", flat=True)
    ) == {
        "1",
        "2",
        "3",
    }
    _no_failed_tasks()


def test_priority_raised_moves_the_queue_and_notifies_the_current_tiers_owners(
    open_at, client_a, queue_a, tiers_a, agent_a, django_capture_on_commit_callbacks
):
    t1_owner = UserFactory(username="t1-owner", clients=[client_a], email="t1@example.com")
    tiers_a[1].owners.add(t1_owner)
    priority_queue = QueueFactory(client=client_a, name="Priority desk")
    EscalationRuleFactory(
        client=client_a,
        name="raised",
        trigger="priority_raised",
        tier_action="",
        move_to_queue=priority_queue,
        notify_owners=True,
    )
    case = open_at(client_a, queue=queue_a)
    with django_capture_on_commit_callbacks(execute=True):
        cases.case_priority_set(case=case, priority="low", actor=agent_a)  # lowered: nothing
    assert not RuleFiring.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        cases.case_priority_set(case=case, priority="urgent", actor=agent_a)
    case.refresh_from_db()
    assert case.queue == priority_queue
    firing = RuleFiring.objects.get()
    assert firing.outcome == [
        {"action": "move_queue", "result": "moved to Priority desk"},
        {"action": "notify", "result": "owners of the case's tier"},
    ]
    assert [m.to for m in mail.outbox] == [["t1@example.com"]]
    assert "Rule 'raised' fired" in mail.outbox[0].body
    assert services.rule_firing_notify(firing_id=firing.pk) == 0  # once
    assert len(mail.outbox) == 1
    _no_failed_tasks()


def test_negative_sentiment_escalates_when_the_rolling_sentiment_crosses_the_threshold(
    open_at, client_a, queue_a, tiers_a, django_capture_on_commit_callbacks
):
    EscalationRuleFactory(
        client=client_a,
        name="unhappy",
        trigger="negative_sentiment",
        sentiment_threshold=-0.5,
        tier_action="next",
    )
    case = open_at(client_a, queue=queue_a, channel="chat")

    def customer_says(text, minutes):
        with django_capture_on_commit_callbacks(execute=True):
            cases.interaction_append(
                case=case,
                channel="chat",
                direction="inbound",
                author_kind="customer",
                body=text,
                occurred_at=after(minutes=minutes),
            )
        case.refresh_from_db()
        return case.sentiment

    # VADER compound scores 0.9098, -0.9577, -0.9186, -0.8689, -0.9633; rolling = EMA, alpha 0.5:
    # 0.9098, -0.02395, -0.471275, -0.6700875 (crosses -0.5: escalate), -0.81669 (still below)
    assert customer_says("Thanks, that is great, I love it!", 1) == 0.9098
    assert customer_says("This is terrible. I am furious, angry and disgusted. Worst service ever!", 2) == (
        pytest.approx(-0.0240, abs=1e-4)
    )
    assert customer_says("Awful, horrible, useless. I hate this.", 3) == pytest.approx(-0.4713, abs=1e-4)
    assert not Escalation.objects.exists()
    assert customer_says("Still terrible and awful, I hate it.", 4) == pytest.approx(-0.6701, abs=1e-4)
    escalation = Escalation.objects.get()
    assert (escalation.trigger, escalation.to_tier, escalation.rule.name) == (
        "negative_sentiment",
        2,
        "unhappy",
    )
    assert "Sentiment: -0.67 (negative)" in escalation.context_summary
    assert customer_says(
        "I am so angry. This is the worst, most useless and horrible service. I hate you.", 5
    ) == (pytest.approx(-0.8167, abs=1e-4))
    assert Escalation.objects.count() == 1
    assert TriggerEvaluation.objects.filter(trigger="negative_sentiment").count() == 5
    _no_failed_tasks()


# --- Catch-up ----------------------------------------------------------------------------------------


def test_catch_up_evaluates_what_no_task_did_and_twice_changes_nothing(open_at, client_a, queue_a, tiers_a):
    EscalationRuleFactory(client=client_a, metrics=[FR], tier_action="2")
    case, clock = _breached(open_at, client_a, queue=queue_a)  # no commit callbacks: the live task was lost
    first = services.governance_catch_up(now=after(hours=3))
    assert (first.breaches, first.warnings, first.reviews) == (1, 1, 1)
    assert Escalation.objects.get().case == case
    assert BreachReviewItem.objects.get().breach == Breach.objects.get(clock=clock)
    second = services.governance_catch_up(now=after(hours=3))
    assert second.as_dict() == {
        "warnings": 0,
        "breaches": 0,
        "reviews": 0,
        "cases": 0,
        "sentiment": 0,
        "escalations_closed": 0,
    }
    assert Escalation.objects.count() == 1 and RuleFiring.objects.count() == 1


def test_catch_up_closes_the_escalation_of_a_resolved_case(open_at, client_a, queue_a, tiers_a, agent_a):
    case = open_at(client_a, queue=queue_a)
    escalation = services.escalation_create(case=case, reason="needs a specialist", actor=agent_a)
    cases.case_resolve(case=case, actor=agent_a)  # the live task was lost
    assert services.governance_catch_up(now=timezone.now()).escalations_closed == 1
    escalation.refresh_from_db()
    assert (escalation.status, escalation.close_reason) == ("closed", "case resolved")
    assert escalation.acceptance_clock.stopped_at is not None


# --- Concurrency --------------------------------------------------------------------------------------


def _run_together(count, target):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


@pytest.fixture
def plain_tiers(client_a, policy_a):
    """Tiers whose owner has no role: transactional tests may run after another one flushed the
    database, which removes the role groups created by migration."""
    owner = UserFactory(username="plain-owner", clients=[client_a], email="owner@example.com")
    return {
        level: EscalationTierFactory(client=client_a, level=level, calendar=policy_a.calendar, owners=[owner])
        for level in (1, 2, 3)
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_evaluating_the_same_breaches_fire_each_rule_once(
    open_at, client_a, queue_a, plain_tiers, without_live_tasks
):
    EscalationRuleFactory(client=client_a, name="breach", metrics=[FR], tier_action="2", notify_owners=True)
    EscalationRuleFactory(
        client=client_a, name="also priority", metrics=[FR], tier_action="", raise_priority_to="high"
    )
    opened = [open_at(client_a, queue=queue_a) for _ in range(6)]
    sweep_at(after(hours=2))
    clock_ids = list(SLAClock.objects.filter(metric=FR).values_list("pk", flat=True))
    results, errors = _run_together(
        2, lambda: services.sla_alerts_evaluate(trigger="sla_breach", clock_ids=clock_ids, now=timezone.now())
    )
    assert errors == []
    assert sum(r.evaluated for r in results) == 6 and sum(r.already for r in results) == 6
    assert sum(r.escalations for r in results) == 6
    assert Escalation.objects.count() == 6 and RuleFiring.objects.count() == 12
    assert TriggerEvaluation.objects.filter(trigger="sla_breach").count() == 6
    assert sorted(Escalation.objects.values_list("case_id", flat=True)) == sorted(c.pk for c in opened)
    assert set(CaseEvent.objects.filter(kind="tier_changed").values_list("case_id", flat=True)) == {
        c.pk for c in opened
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_opening_reviews_for_the_same_breaches_give_each_one_owner(
    open_at, client_a, queue_a, policy_a, without_live_tasks
):
    for _ in range(3):
        open_at(client_a, queue=queue_a, priority="urgent")
    normal = [open_at(client_a, queue=queue_a) for _ in range(4)]
    sweep_at(after(hours=2))
    breach_ids = list(Breach.objects.values_list("pk", flat=True))
    assert len(breach_ids) == 7
    results, errors = _run_together(2, lambda: services.breach_reviews_auto_open(breach_ids=breach_ids))
    assert errors == []
    assert sum(results) == 7
    assert BreachReviewItem.objects.count() == 7
    assert BreachReview.objects.filter(kind="auto_breach").count() == 3
    daily = BreachReview.objects.get(kind="auto_daily")
    assert sorted(daily.items.values_list("breach__case_id", flat=True)) == sorted(c.pk for c in normal)
