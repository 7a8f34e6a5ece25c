"""Corrective actions: raised from reviews, the workflow and its refused transitions, overdue,
reminders before and after due (once each), and the repeat-breach signal."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import mail

from config.errors import ApplicationError
from governance import selectors, services
from governance.choices import ActionStatus
from governance.models import ActionReminder, CorrectiveAction, RootCause
from governance.services.actions import ACTION_TRANSITIONS
from slas.models import Breach
from tests.factories import QueueFactory, UserFactory
from tests.governance.conftest import T0, after, sweep_at

pytestmark = pytest.mark.django_db
TODAY = T0.date()  # 2026-03-02


@pytest.fixture
def review(open_at, client_a, queue_a, policy_a, governance_a):
    case = open_at(client_a, queue=queue_a)
    sweep_at(after(hours=2))
    review = services.breach_review_open(breaches=list(Breach.objects.filter(case=case)), actor=governance_a)
    return services.breach_review_update(
        review=review, actor=governance_a, root_cause=RootCause.objects.get(code="process-handoff")
    )


@pytest.fixture
def owner(client_a):
    return UserFactory(username="owner-a", role="supervisor", clients=[client_a], email="owner@example.com")


def _raise(review, owner, actor, due=TODAY + timedelta(days=7), **kwargs):
    return services.corrective_action_raise(
        review=review,
        title="Fix the chat-to-email handoff",
        owner=owner,
        due_on=due,
        actor=actor,
        now=T0,
        **kwargs,
    )


def test_an_action_raised_from_a_review_answers_its_breaches_root_cause_and_queue(
    review, owner, governance_a
):
    action = _raise(review, owner, governance_a)
    assert (action.client, action.review, action.root_cause, action.queue, action.status) == (
        review.client,
        review,
        review.root_cause,
        review.queue,
        "proposed",
    )
    assert sorted(action.breaches.values_list("pk", flat=True)) == sorted(
        review.breaches.values_list("pk", flat=True)
    )
    assert action.history.get().history_change_reason == f"raised from review {review.pk}"


def test_raising_is_refused_for_a_past_due_date_or_an_owner_of_another_client(
    review, owner, governance_a, agent_b
):
    with pytest.raises(ApplicationError, match="today or later"):
        _raise(review, owner, governance_a, due=TODAY - timedelta(days=1))
    with pytest.raises(ApplicationError, match="does not serve"):
        _raise(review, agent_b, governance_a)
    with pytest.raises(ApplicationError, match="does not serve"):
        _raise(review, owner, agent_b)
    assert not CorrectiveAction.objects.exists()


def _reach(action, status, owner, verifier):
    path = {
        "proposed": [],
        "in_progress": ["in_progress"],
        "done": ["in_progress", "done"],
        "verified": ["in_progress", "done", "verified"],
        "cancelled": ["cancelled"],
    }[status]
    for step in path:
        actor = verifier if step == "verified" else owner
        services.corrective_action_transition(
            action=action, to=step, actor=actor, note="n", now=after(days=1)
        )
    action.refresh_from_db()
    return action


REFUSED = [
    (old, new)
    for old in ActionStatus.values
    for new in ActionStatus.values
    if new not in ACTION_TRANSITIONS[old]
]


@pytest.mark.parametrize(("old", "new"), REFUSED)
def test_every_refused_transition_changes_nothing(review, owner, governance_a, old, new):
    action = _reach(_raise(review, owner, governance_a), old, owner, governance_a)
    before = CorrectiveAction.objects.filter(pk=action.pk).values().get(), action.history.count()
    with pytest.raises(ApplicationError, match="cannot become"):
        services.corrective_action_transition(action=action, to=new, actor=governance_a, note="n")
    assert (CorrectiveAction.objects.filter(pk=action.pk).values().get(), action.history.count()) == before


def test_tracked_to_verification_with_notes_by_someone_else(review, owner, governance_a):
    action = _raise(review, owner, governance_a)
    services.corrective_action_start(action=action, actor=owner, now=after(days=1))
    services.corrective_action_complete(action=action, actor=owner, now=after(days=2))
    for actor, notes, message in (
        (governance_a, " ", "effectiveness"),
        (owner, "works", "does not verify their own action"),
    ):
        with pytest.raises(ApplicationError, match=message):
            services.corrective_action_verify(action=action, actor=actor, notes=notes)
        action.refresh_from_db()
        assert (action.status, action.verified_at) == ("done", None)
    with pytest.raises(ApplicationError, match="not effective"):
        services.corrective_action_reject_verification(action=action, actor=governance_a, notes="")
    services.corrective_action_reject_verification(
        action=action, actor=governance_a, notes="handoffs still lost at night", now=after(days=3)
    )
    action.refresh_from_db()
    assert (action.status, action.done_at, action.verification_notes) == (
        "in_progress",
        None,
        "Not effective (2026-03-05): handoffs still lost at night",
    )
    services.corrective_action_complete(action=action, actor=owner, now=after(days=4))
    verified = services.corrective_action_verify(
        action=action, actor=governance_a, notes="No lost handoff in two weeks.", now=after(days=18)
    )
    assert (verified.status, verified.done_at, verified.verified_at, verified.verified_by) == (
        "verified",
        after(days=4),
        after(days=18),
        governance_a,
    )
    assert list(action.history.order_by("history_id").values_list("history_change_reason", flat=True)) == [
        f"raised from review {review.pk}",
        "proposed → in_progress",
        "in_progress → done",
        "done → in_progress: not effective: handoffs still lost at night",
        "in_progress → done",
        "done → verified",
    ]


def test_cancel_needs_a_reason(review, owner, governance_a):
    action = _raise(review, owner, governance_a)
    with pytest.raises(ApplicationError, match="Say why"):
        services.corrective_action_cancel(action=action, actor=owner, reason="")
    cancelled = services.corrective_action_cancel(
        action=action, actor=owner, reason="superseded by the new rota"
    )
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "superseded by the new rota")
    with pytest.raises(ApplicationError, match="is not edited"):
        services.corrective_action_update(action=cancelled, actor=owner, title="new")


def test_overdue_flag(review, owner, governance_a):
    action = _raise(review, owner, governance_a, due=TODAY)
    assert not action.is_overdue(TODAY)
    assert action.is_overdue(TODAY + timedelta(days=1))
    assert list(CorrectiveAction.objects.overdue(TODAY + timedelta(days=1))) == [action]
    services.corrective_action_start(action=action, actor=owner)
    services.corrective_action_complete(action=action, actor=owner)
    action.refresh_from_db()
    assert not action.is_overdue(TODAY + timedelta(days=1))
    assert not CorrectiveAction.objects.overdue(TODAY + timedelta(days=1)).exists()


def test_reminders_before_and_after_due_are_sent_once_each(review, owner, governance_a):
    action = _raise(review, owner, governance_a, due=date(2026, 3, 10))

    def run(day):
        return services.action_reminders_send(now=after(days=(day - TODAY).days))

    assert run(date(2026, 3, 7)) == 0  # 3 days before: nothing yet
    assert run(date(2026, 3, 8)) == 1  # 2 days before
    assert run(date(2026, 3, 9)) == 0
    assert run(date(2026, 3, 10)) == 0  # due today: not overdue
    assert run(date(2026, 3, 11)) == 1  # overdue
    assert run(date(2026, 3, 11)) == 0
    assert run(date(2026, 3, 17)) == 0
    assert run(date(2026, 3, 18)) == 1  # a week later
    assert list(ActionReminder.objects.order_by("pk").values_list("key", flat=True)) == [
        "before_due:2026-03-10",
        "overdue:2026-03-10:0",
        "overdue:2026-03-10:1",
    ]
    assert [m.to for m in mail.outbox] == [["owner@example.com"]] * 3
    # Rescheduled: the new due date is reminded before and after, as the first was.
    import time_machine

    action.refresh_from_db()
    with time_machine.travel(after(days=(date(2026, 3, 19) - TODAY).days), tick=False):
        services.corrective_action_update(action=action, actor=owner, due_on=date(2026, 3, 30))
    assert (run(date(2026, 3, 28)), run(date(2026, 3, 31))) == (1, 1)
    assert (
        mail.outbox[0].subject
        == "[Accord] Corrective action is due on 2026-03-10: Fix the chat-to-email handoff"
    )
    assert mail.outbox[1].subject.startswith("[Accord] Corrective action is overdue since 2026-03-10")
    assert {m.extra_headers["Auto-Submitted"] for m in mail.outbox} == {"auto-generated"}
    services.corrective_action_start(action=action, actor=owner)
    services.corrective_action_complete(action=action, actor=owner)
    assert run(date(2026, 3, 25)) == 0


def test_repeat_breach_signal_when_the_root_cause_comes_back_in_the_queue(
    open_at, client_a, queue_a, review, owner, governance_a
):
    action = _raise(review, owner, governance_a)
    services.corrective_action_start(action=action, actor=owner, now=after(days=1))
    services.corrective_action_complete(action=action, actor=owner, now=after(days=2))

    def signal():
        return (
            selectors.corrective_actions_with_signals(CorrectiveAction.objects.filter(pk=action.pk))
            .get()
            .repeat_breach
        )

    assert signal() is False
    # a breach of another queue with the same cause: no signal
    other_case = open_at(client_a, queue=QueueFactory(client=client_a), at=after(days=3))
    # a breach of the same queue after the action was done, reviewed with a child of... the same cause
    again = open_at(client_a, queue=queue_a, at=after(days=3))
    sweep_at(after(days=3, hours=2))
    handoff = RootCause.objects.get(code="process-handoff")
    services.breach_review_update(
        review=services.breach_review_open(
            breaches=list(Breach.objects.filter(case=other_case)), actor=governance_a
        ),
        actor=governance_a,
        root_cause=handoff,
    )
    assert signal() is False
    second = services.breach_review_open(breaches=list(Breach.objects.filter(case=again)), actor=governance_a)
    services.breach_review_update(
        review=second, actor=governance_a, root_cause=RootCause.objects.get(code="people-error")
    )
    assert signal() is False  # another cause
    services.breach_review_update(review=second, actor=governance_a, root_cause=handoff)
    assert signal() is True
