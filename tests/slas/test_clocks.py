"""Clocks through the case services: matching, metrics, pauses, priority changes, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases import services as cases
from cases.choices import AuthorKind, CaseStatus, Channel, Direction, Priority
from slas.models import Breach, CaseSLA, ClockEvent, SLAClock, SLAPolicy, SLATarget, SLAWarning
from slas.services import clocks_rebuild
from slas.sweep import sla_sweep
from tests.factories import (
    NINE_TO_FIVE,
    BusinessCalendarFactory,
    CustomerFactory,
    QueueFactory,
    SLAPolicyFactory,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday
FR, NR, RES = "first_response", "next_response", "resolution"
TARGETS = {
    (FR, "normal"): 3600,
    (FR, "high"): 1800,
    (FR, "urgent"): 600,
    (NR, "normal"): 7200,
    (NR, "high"): 3600,
    (RES, "normal"): 8 * 3600,
    (RES, "high"): 4 * 3600,
    (RES, "urgent"): 3600,
}


@pytest.fixture
def policy(client_a):
    return SLAPolicyFactory(client=client_a, name="Standard", targets=TARGETS)


def _open(client, *, at=T0, priority=Priority.NORMAL, channel=Channel.EMAIL, queue=None, customer=None):
    return cases.case_open(
        client=client,
        customer=customer or CustomerFactory(client=client),
        queue=queue or QueueFactory(client=client),
        subject="Help",
        channel=channel,
        priority=priority,
        opened_at=at,
    )


def _reply(case, at, author_kind=AuthorKind.AGENT, channel=Channel.EMAIL):
    cases.interaction_append(
        case=case,
        channel=channel,
        direction=Direction.OUTBOUND,
        author_kind=author_kind,
        body="reply",
        occurred_at=at,
    )


def _customer(case, at, channel=Channel.EMAIL):
    cases.interaction_append(
        case=case,
        channel=channel,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        body="hello",
        occurred_at=at,
    )


def _clock(case, metric, cycle=1):
    return SLAClock.objects.get(case=case, metric=metric, cycle=cycle)


def test_opening_starts_first_response_and_resolution_from_the_policy(client_a, policy):
    case = _open(client_a)
    fr, res = _clock(case, FR), _clock(case, RES)
    assert (fr.target_seconds, fr.started_at, fr.due_at, fr.warn_at) == (
        3600,
        T0,
        T0 + timedelta(hours=1),
        T0 + timedelta(minutes=48),
    )
    assert (res.due_at, res.state) == (T0 + timedelta(hours=8), "running")
    sla = CaseSLA.objects.get(case=case)
    assert (sla.policy, sla.policy_version) == (policy, policy.history.latest().history_id)
    assert fr.policy_version == policy.history.latest().history_id
    assert not SLAClock.objects.filter(case=case, metric=NR).exists()
    assert list(ClockEvent.objects.filter(clock=fr).values_list("kind", flat=True)) == ["started"]


def test_first_matching_policy_in_order_wins_and_conditions_apply(client_a):
    chat = SLAPolicyFactory(
        client=client_a, name="Chat", order=1, channels=["chat"], targets={(FR, "normal"): 60}
    )
    vip = SLAPolicyFactory(
        client=client_a, name="VIP", order=2, segments=["vip"], targets={(FR, "normal"): 120}
    )
    SLAPolicyFactory(client=client_a, name="Inactive", order=0, is_active=False, targets={(FR, "normal"): 1})
    rest = SLAPolicyFactory(client=client_a, name="Rest", order=3, targets={(FR, "normal"): 900})
    queue = QueueFactory(client=client_a)
    billing = QueueFactory(client=client_a)
    by_queue = SLAPolicyFactory(client=client_a, name="Billing", order=0, targets={(FR, "normal"): 30})
    by_queue.queues.add(billing)
    cases_and_policies = [
        (_open(client_a, channel=Channel.CHAT, queue=queue), chat),
        (_open(client_a, customer=CustomerFactory(client=client_a, segment="vip"), queue=queue), vip),
        (_open(client_a, queue=queue), rest),
        (_open(client_a, queue=billing, channel=Channel.CHAT), by_queue),
    ]
    assert [CaseSLA.objects.get(case=case).policy for case, _ in cases_and_policies] == [
        p for _, p in cases_and_policies
    ]


def test_policy_changes_apply_to_the_next_case_opened(client_a, policy):
    _open(client_a)  # the client's policies are now cached
    target = policy.targets.get(metric=FR, priority="normal")
    target.seconds = 120
    target.save()
    assert _clock(_open(client_a), FR).target_seconds == 120
    restricted_to = QueueFactory(client=client_a)
    policy.queues.add(restricted_to)
    assert CaseSLA.objects.get(case=_open(client_a)).policy is None
    assert CaseSLA.objects.get(case=_open(client_a, queue=restricted_to)).policy == policy
    policy.is_active = False
    policy.save()
    assert CaseSLA.objects.get(case=_open(client_a, queue=restricted_to)).policy is None


def test_case_no_policy_matches_says_so_and_has_no_clocks(client_a):
    SLAPolicyFactory(client=client_a, channels=["voice"], targets={(FR, "normal"): 20})
    case = _open(client_a, channel=Channel.EMAIL)
    sla = CaseSLA.objects.get(case=case)
    assert sla.policy is None
    assert sla.unmatched_reason.startswith("No active SLA policy matches channel=email, priority=normal")
    assert not SLAClock.objects.filter(case=case).exists()
    _reply(case, T0 + timedelta(minutes=5))  # still fine without clocks
    assert not SLAClock.objects.filter(case=case).exists()


def test_other_clients_policies_never_apply(client_a, client_b):
    SLAPolicyFactory(client=client_b, targets={(FR, "normal"): 60})
    case = _open(client_a)
    assert CaseSLA.objects.get(case=case).policy is None


def test_bot_reply_does_not_stop_first_response_agent_reply_does(client_a, policy):
    case = _open(client_a)
    _reply(case, T0 + timedelta(seconds=5), author_kind=AuthorKind.BOT)
    assert _clock(case, FR).state == "running"
    _reply(case, T0 + timedelta(minutes=30))
    fr = _clock(case, FR)
    assert (fr.stopped_at, fr.outcome, fr.breached_at) == (T0 + timedelta(minutes=30), "met", None)
    assert not Breach.objects.exists()


def test_late_reply_is_missed_with_one_breach_at_due_time(
    client_a, policy, captured_events, django_capture_on_commit_callbacks
):
    from slas.events import ClocksBreached

    breached = captured_events(ClocksBreached, phase="transaction")
    case = _open(client_a)
    with django_capture_on_commit_callbacks(execute=True):
        _reply(case, T0 + timedelta(hours=2))
    fr = _clock(case, FR)
    assert (fr.outcome, fr.breached_at, fr.warned_at) == (
        "missed",
        T0 + timedelta(hours=1),
        T0 + timedelta(minutes=48),
    )
    breach = Breach.objects.get()
    assert (breach.clock, breach.breached_at, breach.detected_by, breach.metric) == (
        fr,
        T0 + timedelta(hours=1),
        "stop",
        FR,
    )
    assert SLAWarning.objects.get().warned_at == T0 + timedelta(minutes=48)
    assert [(a.clock_id, a.at) for e in breached for a in e.alerts] == [(fr.pk, T0 + timedelta(hours=1))]
    kinds = list(ClockEvent.objects.filter(clock=fr).values_list("kind", flat=True))
    assert kinds == ["started", "warned", "breached", "missed"]


def test_reply_exactly_at_due_is_met(client_a, policy):
    case = _open(client_a)
    _reply(case, T0 + timedelta(hours=1))
    assert _clock(case, FR).outcome == "met"


def test_next_response_cycles(client_a, policy):
    case = _open(client_a)
    _reply(case, T0 + timedelta(minutes=10))
    _customer(case, T0 + timedelta(minutes=20))
    _customer(case, T0 + timedelta(minutes=25))  # still waiting: same cycle
    nr1 = _clock(case, NR, 1)
    assert (nr1.started_at, nr1.due_at) == (T0 + timedelta(minutes=20), T0 + timedelta(minutes=140))
    _reply(case, T0 + timedelta(minutes=50))
    _customer(case, T0 + timedelta(hours=5))
    _reply(case, T0 + timedelta(hours=8))
    nr1, nr2 = _clock(case, NR, 1), _clock(case, NR, 2)
    assert (nr1.outcome, nr2.outcome, nr2.breached_at) == ("met", "missed", T0 + timedelta(hours=7))
    assert SLAClock.objects.filter(case=case, metric=NR).count() == 2


def test_customer_writing_before_first_reply_starts_no_next_response(client_a, policy):
    case = _open(client_a)
    _customer(case, T0 + timedelta(minutes=5))
    assert not SLAClock.objects.filter(case=case, metric=NR).exists()


def test_pending_pauses_resolution_and_due_moves_on_resume(client_a, policy):
    case = _open(client_a)
    _reply(case, T0 + timedelta(minutes=10))
    cases.case_status_set(
        case=case, status=CaseStatus.PENDING, actor=None, occurred_at=T0 + timedelta(hours=1)
    )
    res = _clock(case, RES)
    assert (res.state, res.due_at, res.paused_since) == ("paused", None, T0 + timedelta(hours=1))
    cases.case_status_set(case=case, status=CaseStatus.OPEN, actor=None, occurred_at=T0 + timedelta(hours=4))
    res = _clock(case, RES)
    assert (res.state, res.paused_seconds, res.due_at) == ("running", 3 * 3600, T0 + timedelta(hours=11))
    kinds = list(ClockEvent.objects.filter(clock=res).values_list("kind", flat=True))
    assert kinds == ["started", "paused", "resumed"]


def test_first_response_does_not_pause_by_default(client_a, policy):
    case = _open(client_a)
    cases.case_status_set(
        case=case, status=CaseStatus.ON_HOLD, actor=None, occurred_at=T0 + timedelta(minutes=5)
    )
    assert (_clock(case, FR).state, _clock(case, RES).state) == ("running", "paused")


def test_pause_statuses_are_per_metric_in_the_policy(client_a):
    SLAPolicyFactory(
        client=client_a, targets=TARGETS, pause_statuses={FR: ["pending"], NR: [], RES: ["on_hold"]}
    )
    case = _open(client_a)
    cases.case_status_set(
        case=case, status=CaseStatus.PENDING, actor=None, occurred_at=T0 + timedelta(minutes=5)
    )
    assert (_clock(case, FR).state, _clock(case, RES).state) == ("paused", "running")


def test_resolve_stops_and_reopen_resumes_resolution_without_counting_resolved_time(
    client_a, policy, agent_a
):
    case = _open(client_a)
    _reply(case, T0 + timedelta(minutes=10))
    cases.case_resolve(case=case, actor=None, occurred_at=T0 + timedelta(hours=2))
    res = _clock(case, RES)
    assert (res.outcome, res.stopped_at) == ("met", T0 + timedelta(hours=2))
    cases.case_reopen(case=case, actor=agent_a, reason="not fixed", occurred_at=T0 + timedelta(hours=5))
    res = _clock(case, RES)
    assert (res.state, res.outcome, res.paused_seconds, res.due_at) == (
        "running",
        "",
        3 * 3600,
        T0 + timedelta(hours=11),
    )


def test_resolving_before_any_reply_stops_first_response(client_a, policy):
    case = _open(client_a)
    cases.case_resolve(case=case, actor=None, occurred_at=T0 + timedelta(minutes=30))
    assert (_clock(case, FR).outcome, _clock(case, RES).outcome) == ("met", "met")


def test_priority_change_recomputes_target_from_the_clocks_start(client_a, policy, agent_a):
    case = _open(client_a)
    cases.case_priority_set(
        case=case, priority=Priority.URGENT, actor=agent_a, occurred_at=T0 + timedelta(minutes=5)
    )
    fr, res = _clock(case, FR), _clock(case, RES)
    assert (fr.target_seconds, fr.due_at) == (600, T0 + timedelta(minutes=10))
    assert (res.target_seconds, res.due_at) == (3600, T0 + timedelta(hours=1))
    event = ClockEvent.objects.get(clock=fr, kind="target_changed")
    assert event.detail["old_target_seconds"] == 3600 and event.detail["target_seconds"] == 600


def test_priority_raised_after_the_new_due_breaches_at_the_new_due(client_a, policy, agent_a):
    case = _open(client_a)
    cases.case_priority_set(
        case=case, priority=Priority.URGENT, actor=agent_a, occurred_at=T0 + timedelta(minutes=30)
    )
    assert _clock(case, FR).breached_at is None  # recorded by the sweep (or the stop), at the new due
    assert sla_sweep(now=T0 + timedelta(minutes=31)).breached == 1
    assert Breach.objects.get(metric=FR).breached_at == T0 + timedelta(minutes=10)


def test_business_hours_calendar_moves_due_over_the_weekend(client_a):
    calendar = BusinessCalendarFactory(
        client=client_a, is_24x7=False, spec={"timezone": "America/New_York", "week": NINE_TO_FIVE}
    )
    SLAPolicyFactory(client=client_a, calendar=calendar, targets={(FR, "normal"): 4 * 3600})
    friday_4pm = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)  # 16:00 EST
    case = _open(client_a, at=friday_4pm)
    # 1 h on Friday (16:00-17:00 EST), then 3 h from Monday 09:00: DST began Sunday 8 March, so Monday is
    # EDT (UTC-4) and 12:00 EDT is 16:00 UTC.
    assert _clock(case, FR).due_at == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


def test_historical_sync_gets_the_clocks_it_would_have_had(client_a, policy):
    past = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    case = _open(client_a, at=past)
    _reply(case, past + timedelta(minutes=70))
    fr = _clock(case, FR)
    assert (fr.due_at, fr.outcome, fr.breached_at) == (
        past + timedelta(hours=1),
        "missed",
        past + timedelta(hours=1),
    )


def test_out_of_order_event_rebuilds_the_case(client_a, policy):
    case = _open(client_a)
    _customer(case, T0 + timedelta(hours=3))  # arrives first
    _reply(case, T0 + timedelta(minutes=20))  # happened earlier: synced late
    fr = _clock(case, FR)
    assert (fr.outcome, fr.stopped_at) == ("met", T0 + timedelta(minutes=20))
    nr = _clock(case, NR)  # the customer's later message started a next_response cycle
    assert (nr.started_at, nr.stopped_at, nr.due_at) == (
        T0 + timedelta(hours=3),
        None,
        T0 + timedelta(hours=5),
    )
    assert ClockEvent.objects.filter(case=case, kind="recomputed").exists()


def test_a_late_message_replays_the_case_under_its_own_policy_version(client_a, policy):
    case = _open(client_a)
    version = CaseSLA.objects.get(case=case).policy_version
    target = policy.targets.get(metric=FR, priority="normal")
    target.seconds = 120  # a policy change after the case opened: it reaches the next cases
    target.save()
    _customer(case, T0 + timedelta(hours=3))
    _reply(case, T0 + timedelta(minutes=20))  # synced late: the timeline is replayed
    fr = _clock(case, FR)
    assert (fr.target_seconds, fr.due_at, fr.outcome, fr.policy_version) == (
        3600,
        T0 + timedelta(hours=1),
        "met",
        version,
    )
    assert ClockEvent.objects.filter(clock=fr, kind="recomputed").exists()
    case_sla = CaseSLA.objects.get(case=case)
    assert (case_sla.policy_version, case_sla.snapshot["targets"][f"{FR}:normal"]) == (version, 3600)
    assert case_sla.last_event_at == T0 + timedelta(hours=3)
    assert _clock(_open(client_a), FR).target_seconds == 120


def test_clock_history_explains_a_breach(client_a, policy):
    case = _open(client_a)
    cases.case_status_set(
        case=case, status=CaseStatus.PENDING, actor=None, occurred_at=T0 + timedelta(hours=1)
    )
    cases.case_status_set(case=case, status=CaseStatus.OPEN, actor=None, occurred_at=T0 + timedelta(hours=3))
    sla_sweep(now=T0 + timedelta(hours=11))
    events = [(e.kind, e.at) for e in ClockEvent.objects.filter(clock__metric=RES).order_by("at", "id")]
    assert events == [
        ("started", T0),
        ("paused", T0 + timedelta(hours=1)),
        ("resumed", T0 + timedelta(hours=3)),
        ("warned", T0 + timedelta(hours=8, minutes=24)),
        ("breached", T0 + timedelta(hours=10)),
    ]


def test_rebuild_reproduces_the_live_clocks_exactly(client_a, policy, agent_a):
    case = _open(client_a)
    _reply(case, T0 + timedelta(minutes=70))
    _customer(case, T0 + timedelta(hours=2))
    cases.case_status_set(
        case=case, status=CaseStatus.PENDING, actor=None, occurred_at=T0 + timedelta(hours=2, minutes=5)
    )
    cases.case_priority_set(
        case=case, priority=Priority.HIGH, actor=agent_a, occurred_at=T0 + timedelta(hours=3)
    )
    _customer(case, T0 + timedelta(hours=4))
    _reply(case, T0 + timedelta(hours=4, minutes=30))
    cases.case_resolve(case=case, actor=None, occurred_at=T0 + timedelta(hours=6))
    live = list(
        SLAClock.objects.filter(case=case)
        .order_by("metric", "cycle")
        .values(
            "metric",
            "cycle",
            "target_seconds",
            "due_at",
            "paused_seconds",
            "stopped_at",
            "outcome",
            "breached_at",
        )
    )
    diffs = clocks_rebuild(case_ids=[case.pk], now=T0 + timedelta(days=1), reason="check")
    assert diffs == []
    rebuilt = list(
        SLAClock.objects.filter(case=case)
        .order_by("metric", "cycle")
        .values(
            "metric",
            "cycle",
            "target_seconds",
            "due_at",
            "paused_seconds",
            "stopped_at",
            "outcome",
            "breached_at",
        )
    )
    assert rebuilt == live
    # FR replied at 70 min; NR's target fell to 1 h with the priority raise; resolution paused 1 h 55.
    assert dict(Breach.objects.filter(case=case).values_list("metric", "breached_at")) == {
        FR: T0 + timedelta(hours=1),
        NR: T0 + timedelta(hours=3),
        RES: T0 + timedelta(hours=5, minutes=55),
    }


# --- Standalone clocks ------------------------------------------------------------------------------

ACCEPT = "escalation_acceptance"


def test_standalone_clock_is_swept_stopped_once_and_left_alone_by_repair(client_a, policy):
    from config.errors import ApplicationError
    from slas.services import clock_start, clock_stop

    case = _open(client_a)
    calendar = policy.calendar
    clock = clock_start(
        case=case,
        metric=ACCEPT,
        cycle=1,
        target_seconds=900,
        calendar=calendar,
        started_at=T0 + timedelta(minutes=5),
        reason="escalated to T2",
    )
    assert (clock.due_at, clock.warn_at, clock.policy) == (
        T0 + timedelta(minutes=20),
        T0 + timedelta(minutes=17),
        None,
    )
    assert (
        clock_start(case=case, metric=ACCEPT, cycle=1, target_seconds=60, calendar=calendar, started_at=T0).pk
        == clock.pk
    )
    assert sla_sweep(now=T0 + timedelta(minutes=25)).breached == 1
    assert Breach.objects.get(clock=clock).breached_at == T0 + timedelta(minutes=20)
    clocks_rebuild(case_ids=[case.pk], now=T0 + timedelta(minutes=26), reason="repair")
    clock.refresh_from_db()
    assert (clock.stopped_at, clock.breached_at) == (None, T0 + timedelta(minutes=20))
    stopped = clock_stop(clock=clock, at=T0 + timedelta(minutes=30), reason="accepted")
    assert (stopped.outcome, stopped.stopped_at) == ("missed", T0 + timedelta(minutes=30))
    assert Breach.objects.filter(clock=clock).count() == 1
    assert clock_stop(clock=clock, at=T0 + timedelta(hours=1)).stopped_at == T0 + timedelta(minutes=30)
    with pytest.raises(ApplicationError):
        clock_start(case=case, metric=FR, cycle=9, target_seconds=60, calendar=calendar, started_at=T0)


def test_standalone_clock_met_when_stopped_in_time(client_a, policy):
    from slas.services import clock_start, clock_stop

    case = _open(client_a)
    clock = clock_start(
        case=case, metric=ACCEPT, cycle=1, target_seconds=900, calendar=policy.calendar, started_at=T0
    )
    assert clock_stop(clock=clock, at=T0 + timedelta(minutes=10)).outcome == "met"
    assert not Breach.objects.filter(clock=clock).exists()


def test_standalone_clock_refuses_another_clients_calendar(client_a, client_b, policy):
    from config.errors import ApplicationError
    from slas.services import clock_start

    case = _open(client_a)
    with pytest.raises(ApplicationError, match="another client"):
        clock_start(
            case=case,
            metric=ACCEPT,
            cycle=1,
            target_seconds=60,
            calendar=BusinessCalendarFactory(client=client_b),
            started_at=T0,
        )


def test_a_late_message_on_a_pending_case_reopens_it_after_the_pending_change(client_a, policy):
    """A customer's e-mail dated before the case was set pending arrives after it: the case
    reopens, and its clocks run again (the reopening is not dated before the pending change,
    where a replay in time order would have left the clocks paused on an open case)."""
    case = _open(client_a)
    _reply(case, T0 + timedelta(minutes=30))
    case.refresh_from_db()
    cases.case_status_set(
        case=case, status=CaseStatus.PENDING, actor=None, occurred_at=T0 + timedelta(hours=1)
    )
    case.refresh_from_db()
    _customer(case, T0 + timedelta(minutes=50))  # its Date: before the pending change
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN
    assert CaseSLA.objects.get(case=case).engine_state["status"] == CaseStatus.OPEN
    res = _clock(case, RES)
    assert (res.state, res.paused_since) == ("running", None)
    assert res.due_at == T0 + timedelta(hours=8)  # paused for no time at all
    assert sla_sweep(now=T0 + timedelta(hours=9)).breached >= 1
    res.refresh_from_db()
    assert res.breached_at == T0 + timedelta(hours=8)


def test_a_holiday_added_to_the_calendar_reaches_the_next_case_opened(client_a):
    """Policies are cached per process with their calendar: editing the calendar renews them."""
    from slas.services import calendar_import_spec

    calendar = BusinessCalendarFactory(
        client=client_a, timezone="UTC", is_24x7=False, spec={"timezone": "UTC", "week": NINE_TO_FIVE}
    )
    SLAPolicyFactory(client=client_a, calendar=calendar, targets={(FR, "normal"): 7200})
    friday = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    first = _open(client_a, at=friday)
    assert _clock(first, FR).due_at == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # Monday 10:00
    calendar.refresh_from_db()
    calendar_import_spec(
        calendar=calendar, spec={"timezone": "UTC", "week": NINE_TO_FIVE, "holidays": ["2026-03-09"]}
    )
    second = _open(client_a, at=friday)
    assert _clock(second, FR).due_at == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # Monday is off


def test_a_clock_paused_exactly_at_its_due_time_is_met(client_a):
    """No active second went past the target: like a reply exactly at due, met, never breached
    by the sweep while it waits; one second later it is missed."""
    SLAPolicyFactory(client=client_a, targets={(RES, "normal"): 3600})
    at_due, after_due = _open(client_a), _open(client_a)
    cases.case_status_set(
        case=at_due, status=CaseStatus.PENDING, actor=None, occurred_at=T0 + timedelta(hours=1)
    )
    cases.case_status_set(
        case=after_due, status=CaseStatus.PENDING, actor=None, occurred_at=T0 + timedelta(hours=1, seconds=1)
    )
    assert _clock(at_due, RES).due_at is None  # paused: no due time to breach
    assert sla_sweep(now=T0 + timedelta(hours=2)).breached == 0
    for case in (at_due, after_due):
        case.refresh_from_db()
        cases.case_resolve(case=case, actor=None, occurred_at=T0 + timedelta(hours=3))
    assert (_clock(at_due, RES).outcome, _clock(at_due, RES).breached_at) == ("met", None)
    assert (_clock(after_due, RES).outcome, _clock(after_due, RES).breached_at) == (
        "missed",
        T0 + timedelta(hours=1),
    )
    assert Breach.objects.filter(clock__case=at_due).count() == 0


def test_a_repair_matches_a_moved_case_as_it_was_opened(client_a):
    """Recomputing with no policy change changes nothing, also for a case moved to a queue that
    another policy covers: its breach under the policy it was opened under stays."""
    first_queue, second_queue = QueueFactory(client=client_a), QueueFactory(client=client_a)
    fast = SLAPolicyFactory(client=client_a, order=1, targets={(FR, "normal"): 3600})
    fast.queues.set([first_queue])
    slow = SLAPolicyFactory(client=client_a, order=2, targets={(FR, "normal"): 8 * 3600})
    slow.queues.set([second_queue])
    case = _open(client_a, queue=first_queue)
    _reply(case, T0 + timedelta(minutes=90))  # late under the fast policy: missed
    case.refresh_from_db()
    cases.case_queue_set(case=case, queue=second_queue, actor=None)
    assert clocks_rebuild(case_ids=[case.pk], now=T0 + timedelta(days=1), reason="no-op repair") == []
    assert CaseSLA.objects.get(case=case).policy == fast
    assert (_clock(case, FR).outcome, Breach.objects.get(clock__case=case).voided_at) == ("missed", None)


def test_a_breach_stands_when_the_priority_is_lowered_after_it(client_a):
    """Missed under the priority in force when its due time passed: lowering the priority later
    moves the due time, not the breach; the clock ends missed, with its one breach."""
    SLAPolicyFactory(client=client_a, targets={(FR, "normal"): 3600, (FR, "low"): 8 * 3600})
    case = _open(client_a)
    assert sla_sweep(now=T0 + timedelta(hours=1, minutes=1)).breached == 1
    case.refresh_from_db()
    cases.case_priority_set(
        case=case, priority=Priority.LOW, actor=None, occurred_at=T0 + timedelta(minutes=80)
    )
    _reply(case, T0 + timedelta(minutes=90))
    fr = _clock(case, FR)
    assert (fr.outcome, fr.breached_at, fr.due_at) == (
        "missed",
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=8),
    )
    assert Breach.objects.filter(clock=fr, voided_at__isnull=True).count() == 1


def test_a_replay_records_a_warning_it_finds_and_never_gives_one_twice(client_a, agent_a):
    """Warnings, like breaches, once per clock: one the replay finds is recorded (row and event);
    one given before a target was raised stays given, so the sweep does not give it again."""
    SLAPolicyFactory(client=client_a, targets={(FR, "normal"): 3600})
    synced = _open(client_a)
    _customer(synced, T0 + timedelta(minutes=10))
    synced.refresh_from_db()
    _customer(synced, T0 + timedelta(minutes=5))  # out of order: replayed, long past due
    found = _clock(synced, FR)
    assert found.warned_at == T0 + timedelta(minutes=48)
    assert SLAWarning.objects.filter(clock=found).count() == 1
    assert list(ClockEvent.objects.filter(clock=found, kind="warned").values_list("at", flat=True)) == [
        T0 + timedelta(minutes=48)
    ]
    assert sla_sweep(now=T0 + timedelta(hours=3)).warned == 0

    warned = _open(client_a)
    assert sla_sweep(now=T0 + timedelta(minutes=50)).warned == 1
    policy = SLAPolicy.objects.get(client=client_a)
    SLATarget.objects.filter(policy=policy, metric=FR).update(seconds=4 * 3600)
    clocks_rebuild(case_ids=[warned.pk], now=T0 + timedelta(minutes=55), reason="target raised")
    assert _clock(warned, FR).warned_at == T0 + timedelta(minutes=48)  # given: stays
    assert sla_sweep(now=T0 + timedelta(hours=3, minutes=20)).warned == 0
    assert ClockEvent.objects.filter(clock=_clock(warned, FR), kind="warned").count() == 1
