"""SLA policy change control: proposal with diff and what-if (exact on a small case set),
four-eyes approval, application at the effective time, stale proposals, history."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cases import services as cases
from config.errors import ApplicationError
from governance import services
from governance.models import SLAPolicyChange
from slas.models import SLAClock, SLATarget
from tests.factories import SLAPolicyFactory
from tests.governance.conftest import FR, RES, T0, sweep_at

pytestmark = pytest.mark.django_db
NOW = T0 + timedelta(days=10)


def _case(open_at, client, queue, *, opened, reply_after, resolve_after):
    case = open_at(client, queue=queue, at=opened)
    cases.interaction_append(
        case=case,
        channel="email",
        direction="outbound",
        author_kind="agent",
        occurred_at=opened + reply_after,
    )
    cases.case_resolve(case=case, actor="test", occurred_at=opened + resolve_after)
    return case


@pytest.fixture
def history(open_at, client_a, client_b, queue_a, policy_a, policy_b):
    """Four cases of the last 30 days on policy A (FR 1 h, resolution 24 h), one older, one of
    another client's policy."""
    m, h = timedelta(minutes=1), timedelta(hours=1)
    made = {
        "c1": _case(open_at, client_a, queue_a, opened=T0, reply_after=40 * m, resolve_after=2 * h),
        "c2": _case(open_at, client_a, queue_a, opened=T0, reply_after=20 * m, resolve_after=2 * h),
        "c3": _case(open_at, client_a, queue_a, opened=T0, reply_after=90 * m, resolve_after=2 * h),
        "c4": _case(open_at, client_a, queue_a, opened=T0, reply_after=10 * m, resolve_after=30 * h),
        "old": _case(
            open_at,
            client_a,
            queue_a,
            opened=NOW - timedelta(days=31),
            reply_after=40 * m,
            resolve_after=2 * h,
        ),
        "other": _case(open_at, client_b, None, opened=T0, reply_after=40 * m, resolve_after=2 * h),
    }
    sweep_at(NOW)
    return made


def _proposed(policy, **targets):
    data = services.policy_data(policy)
    data["targets"] = {**data["targets"], **targets}
    return data


def test_whatif_counts_the_clocks_that_turn_met_or_missed_exactly(history, policy_a, governance_a):
    stored = dict(SLAClock.objects.filter(case=history["c4"]).values_list("metric", "outcome"))
    assert stored == {FR: "met", RES: "missed"}
    change = services.policy_change_propose(
        policy=policy_a,
        proposed=_proposed(policy_a, **{"first_response:normal": 1800, "resolution:normal": 48 * 3600}),
        reason="Client wants faster first replies; resolution relaxed.",
        effective_at=NOW + timedelta(days=1),
        actor=governance_a,
        now=NOW,
    )
    # c1 FR 40 min: met → missed; c4 resolution 30 h: missed → met; the rest unchanged
    assert change.whatif == {
        "clocks": 8,
        "met_to_missed": 1,
        "missed_to_met": 1,
        "still_met": 5,
        "still_missed": 1,
        "undecided": 0,
        "only_current": 0,
        "only_proposed": 0,
        "attainment_current": 75.0,
        "attainment_proposed": 75.0,
        "by_metric": {
            FR: {"clocks": 4, "met_to_missed": 1, "missed_to_met": 0},
            RES: {"clocks": 4, "met_to_missed": 0, "missed_to_met": 1},
        },
        "window_start": (NOW - timedelta(days=30)).isoformat(),
        "computed_at": NOW.isoformat(),
        "days": 30,
        "cases": 4,
    }
    # nothing written: the stored clocks are as they were
    assert dict(SLAClock.objects.filter(case=history["c4"]).values_list("metric", "outcome")) == stored
    assert SLATarget.objects.get(policy=policy_a, metric=FR, priority="normal").seconds == 3600


def test_proposal_records_the_diff_base_and_is_refused_without_a_change_or_the_role(
    policy_a, governance_a, supervisor_a, governance_b
):
    same = services.policy_data(policy_a)
    for actor, proposed, message in (
        (governance_a, same, "changes nothing"),
        (supervisor_a, _proposed(policy_a, **{"first_response:normal": 1800}), "governance role"),
        (governance_b, _proposed(policy_a, **{"first_response:normal": 1800}), "does not serve"),
        (governance_a, _proposed(policy_a, **{"first_response:normal": -5}), "not valid"),
        (governance_a, _proposed(policy_a, **{"first_response:normal": 10**12}), "not valid"),
        (governance_a, {**same, "order": 10**20}, "not valid"),
        (governance_a, {**same, "channels": ["fax"]}, "not valid"),
    ):
        with pytest.raises(ApplicationError, match=message):
            services.policy_change_propose(
                policy=policy_a, proposed=proposed, reason="r", effective_at=NOW, actor=actor, now=NOW
            )
    assert not SLAPolicyChange.objects.exists()


def test_self_approval_is_refused_and_a_second_governance_user_approves(
    policy_a, governance_a, governance_a2, supervisor_a
):
    change = services.policy_change_propose(
        policy=policy_a,
        proposed=_proposed(policy_a, **{"first_response:normal": 1800}),
        reason="Faster replies",
        effective_at=NOW + timedelta(hours=2),
        actor=governance_a,
        now=NOW,
    )

    def state():
        return SLAPolicyChange.objects.filter(pk=change.pk).values("status", "decided_by", "applied_at").get()

    before = state()
    for actor, message in (
        (governance_a, "You proposed this change"),
        (supervisor_a, "governance role"),
    ):
        with pytest.raises(ApplicationError, match=message):
            services.policy_change_approve(change=change, actor=actor, now=NOW)
        assert state() == before
    with pytest.raises(ApplicationError, match="Withdraw your own"):
        services.policy_change_reject(change=change, actor=governance_a, note="no")
    approved = services.policy_change_approve(change=change, actor=governance_a2, note="ok", now=NOW)
    assert (approved.status, approved.decided_by) == ("approved", governance_a2)
    assert SLATarget.objects.get(policy=policy_a, metric=FR, priority="normal").seconds == 3600
    with pytest.raises(ApplicationError, match="not awaiting approval"):
        services.policy_change_approve(change=change, actor=governance_a2, now=NOW)
    # applied by the scheduled task at its effective time, once
    assert services.policy_changes_apply_due(now=NOW + timedelta(hours=1)) == 0
    assert services.policy_changes_apply_due(now=NOW + timedelta(hours=2)) == 1
    assert services.policy_changes_apply_due(now=NOW + timedelta(hours=3)) == 0
    change.refresh_from_db()
    assert (change.status, change.applied_at) == ("applied", NOW + timedelta(hours=2))
    target = SLATarget.objects.get(policy=policy_a, metric=FR, priority="normal")
    assert target.seconds == 1800
    reason = f"change #{change.pk} by governance-a, approved by governance-a2: Faster replies"
    assert target.history.first().history_change_reason == reason
    assert target.history.first().history_user == governance_a2
    assert policy_a.history.first().history_change_reason == reason
    assert change.result_version == policy_a.history.first().history_id
    assert list(change.history.order_by("history_id").values_list("history_change_reason", flat=True)) == [
        "proposed",
        "approved: ok",
        "applied",
    ]
    with pytest.raises(ApplicationError, match="Only the proposer"):
        services.policy_change_withdraw(change=change, actor=governance_a2)
    with pytest.raises(ApplicationError, match="is applied"):
        services.policy_change_withdraw(change=change, actor=governance_a)


def test_a_due_approval_applies_at_once_with_targets_added_and_removed_and_fields_changed(
    client_a, queue_a, policy_a, governance_a, governance_a2
):
    proposed = services.policy_data(policy_a)
    proposed.update(name="Alpha e-mail", channels=["email"], queues=[queue_a.pk], warning_percent=70)
    proposed["targets"] = {"first_response:normal": 900, "next_response:normal": 1200}
    change = services.policy_change_propose(
        policy=policy_a,
        proposed=proposed,
        reason="Split by channel",
        effective_at=NOW,
        actor=governance_a,
        now=NOW,
    )
    applied = services.policy_change_approve(change=change, actor=governance_a2, now=NOW)
    assert applied.status == "applied"
    policy_a.refresh_from_db()
    assert (policy_a.name, policy_a.channels, policy_a.warning_percent) == ("Alpha e-mail", ["email"], 70)
    assert list(policy_a.queues.all()) == [queue_a]
    assert sorted(SLATarget.objects.filter(policy=policy_a).values_list("metric", "priority", "seconds")) == [
        (FR, "normal", 900),
        ("next_response", "normal", 1200),
    ]
    assert SLATarget.history.filter(history_type="-").count() == 7


def test_a_policy_changed_after_the_proposal_makes_it_stale(policy_a, governance_a, governance_a2):
    change = services.policy_change_propose(
        policy=policy_a,
        proposed=_proposed(policy_a, **{"first_response:normal": 1800}),
        reason="r",
        effective_at=NOW + timedelta(hours=1),
        actor=governance_a,
        now=NOW,
    )
    services.policy_change_approve(change=change, actor=governance_a2, now=NOW)
    policy_a.warning_percent = 90
    policy_a._change_reason = "edited elsewhere"
    policy_a.save()
    assert services.policy_changes_apply_due(now=NOW + timedelta(hours=1)) == 0
    change.refresh_from_db()
    assert change.status == "stale"
    assert "the policy changed after this proposal" in change.decision_note
    assert SLATarget.objects.get(policy=policy_a, metric=FR, priority="normal").seconds == 3600


def test_a_target_edited_after_the_proposal_makes_it_stale_too(policy_a, governance_a, governance_a2):
    change = services.policy_change_propose(
        policy=policy_a,
        proposed=_proposed(policy_a, **{"first_response:normal": 1800}),
        reason="r",
        effective_at=NOW,
        actor=governance_a,
        now=NOW,
    )
    target = SLATarget.objects.get(policy=policy_a, metric=RES, priority="low")
    target.seconds = 60
    target.save()
    assert services.policy_change_approve(change=change, actor=governance_a2, now=NOW).status == "stale"
    assert SLATarget.objects.get(policy=policy_a, metric=FR, priority="normal").seconds == 3600


def test_only_the_proposer_withdraws_and_rejection_needs_a_note(
    client_a, policy_a, governance_a, governance_a2
):
    other = SLAPolicyFactory(client=client_a, targets={(FR, "normal"): 60})
    change = services.policy_change_propose(
        policy=other,
        proposed=_proposed(other, **{"first_response:normal": 120}),
        reason="r",
        effective_at=NOW,
        actor=governance_a,
        now=NOW,
    )
    with pytest.raises(ApplicationError, match="Say why"):
        services.policy_change_reject(change=change, actor=governance_a2, note=" ")
    rejected = services.policy_change_reject(change=change, actor=governance_a2, note="too aggressive")
    assert (rejected.status, rejected.decision_note) == ("rejected", "too aggressive")
    with pytest.raises(ApplicationError, match="rejected"):
        services.policy_change_withdraw(change=change, actor=governance_a)


def test_one_change_that_cannot_apply_holds_back_no_other(
    client_a, policy_a, governance_a, governance_a2, monkeypatch
):
    """The scheduled task applies each due change on its own: one that fails is logged and left
    approved; the others apply."""
    from governance.services import policy_changes
    from tests.factories import SLAPolicyFactory

    other_policy = SLAPolicyFactory(client=client_a, targets={(FR, "normal"): 3600})
    changes = []
    for policy, hours in ((policy_a, 1), (other_policy, 2)):
        change = services.policy_change_propose(
            policy=policy,
            proposed=_proposed(policy, **{"first_response:normal": 1800}),
            reason="faster",
            effective_at=NOW + timedelta(hours=hours),
            actor=governance_a,
            now=NOW,
        )
        changes.append(services.policy_change_approve(change=change, actor=governance_a2, now=NOW))
    broken, sound = changes
    real_apply = policy_changes.policy_change_apply

    def apply(*, change, now):
        if change.pk == broken.pk:
            raise OverflowError("a change that cannot apply")
        return real_apply(change=change, now=now)

    monkeypatch.setattr(policy_changes, "policy_change_apply", apply)
    assert services.policy_changes_apply_due(now=NOW + timedelta(hours=3)) == 1
    assert SLAPolicyChange.objects.get(pk=broken.pk).status == "approved"
    assert SLAPolicyChange.objects.get(pk=sound.pk).status == "applied"
