"""The pure clock engine against a brute-force reference that walks the case minute by minute.

The reference knows nothing of business_time or the engine: a minute counts toward a clock when
its local wall time is inside a working interval of a non-holiday date (zoneinfo) and the case
is in a status that does not pause the clock. The due instant is the end of the minute at which
the count reaches the target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slas import engine
from slas.business_time import Calendar

FR, NR, RES = engine.FIRST_RESPONSE, engine.NEXT_RESPONSE, engine.RESOLUTION
MINUTE = timedelta(minutes=1)

CALENDARS = {
    "24x7-utc": {"timezone": "UTC"},
    "ny-9-17-holidays": {
        "timezone": "America/New_York",
        "week": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-03-09", "2026-11-02"],
    },
    "sydney-lunch": {
        "timezone": "Australia/Sydney",
        "week": {
            d: [["08:00", "12:00"], ["13:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")
        },
    },
    "london-night-shift": {
        "timezone": "Europe/London",
        "week": {
            "mon": [["00:00", "06:00"], ["22:00", "24:00"]],
            "tue": [["00:00", "06:00"], ["22:00", "24:00"]],
            "wed": [["00:00", "06:00"], ["22:00", "24:00"]],
            "thu": [["00:00", "06:00"], ["22:00", "24:00"]],
            "fri": [["00:00", "06:00"], ["22:00", "24:00"]],
            "sat": [["00:00", "06:00"]],
            "sun": [["01:00", "03:00"]],
        },
        "holidays": ["2026-10-26"],
    },
}
# Starts a little before DST changes in each zone (and one plain week).
STARTS = [
    datetime(2026, 3, 6, 20, 0, tzinfo=UTC),  # before US spring forward (8 March)
    datetime(2026, 10, 31, 12, 0, tzinfo=UTC),  # before US fall back (1 Nov), London changed 25 Oct
    datetime(2026, 4, 3, 22, 0, tzinfo=UTC),  # before Sydney's April change (5 April)
    datetime(2026, 3, 28, 18, 0, tzinfo=UTC),  # before London's spring forward (29 March)
    datetime(2026, 6, 10, 7, 30, tzinfo=UTC),
]
TARGETS = {
    (FR, "normal"): 90 * 60,
    (FR, "urgent"): 30 * 60,
    (NR, "normal"): 120 * 60,
    (NR, "urgent"): 45 * 60,
    (RES, "normal"): 16 * 3600,
    (RES, "urgent"): 4 * 3600,
}
PAUSES = {FR: frozenset(), NR: frozenset(), RES: frozenset({"pending", "on_hold"})}
NEXT_STATUSES = {
    "new": ["open", "pending", "on_hold", "resolved"],
    "open": ["pending", "on_hold", "resolved"],
    "pending": ["open", "on_hold", "resolved"],
    "on_hold": ["open", "pending", "resolved"],
    "resolved": ["open", "closed"],
    "closed": [],
}


# --- the reference ---------------------------------------------------------------------------------


@cache
def working_minute(spec_name: str, instant: datetime) -> bool:
    spec = CALENDARS[spec_name]
    local = instant.astimezone(ZoneInfo(spec["timezone"]))
    if local.date().isoformat() in spec.get("holidays", []):
        return False
    if "week" not in spec:
        return True
    key = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    wall = local.strftime("%H:%M")
    return any(start <= wall < end for start, end in spec["week"].get(key, []))


@dataclass
class RefClock:
    metric: str
    cycle: int
    started_at: datetime
    stopped_at: datetime | None = None
    count: int = 0  # active working minutes so far
    priority_at_stop: str | None = None
    exceeded: bool = False  # breached under a priority in force before (a breach stands)
    paused_since: datetime | None = None  # the start of its current pause


def reference(spec_name: str, events: list[engine.EngineEvent], horizon_days: int = 8) -> dict:
    """Per (metric, cycle): (due_at if running or stopped, outcome if stopped)."""
    by_minute: dict[datetime, list[engine.EngineEvent]] = {}
    for event in events:
        by_minute.setdefault(event.at, []).append(event)
    start, end = events[0].at, events[-1].at + timedelta(days=horizon_days)
    status, priority = "new", "normal"
    awaiting_agent, agent_replied = False, False
    clocks: list[RefClock] = []
    # Minutes at which each clock's count crossed k (k = 1..): we keep "reached" instants per target.
    reached: dict[tuple[str, int], dict[int, datetime]] = {}
    t = start
    while t < end:
        for event in by_minute.get(t, []):
            if event.kind == engine.OPENED:
                priority = event.priority
                clocks += [RefClock(FR, 1, t), RefClock(RES, 1, t)]
                awaiting_agent = True
            elif event.kind == engine.PRIORITY:
                for clock in clocks:  # past its due time under the old priority: breached
                    old_minutes = TARGETS[(clock.metric, priority)] // 60
                    old_due = reached.get((clock.metric, clock.cycle), {}).get(old_minutes)
                    running = clock.paused_since is None or clock.count > old_minutes
                    if clock.stopped_at is None and old_due is not None and t > old_due and running:
                        clock.exceeded = True
                priority = event.priority
            elif event.kind == engine.STATUS:
                old, status = status, event.status
                if status in ("resolved", "closed"):
                    for clock in clocks:
                        if clock.stopped_at is None:
                            clock.stopped_at, clock.priority_at_stop = t, priority
                if old == "resolved" and status == "open":
                    for clock in clocks:
                        if clock.metric == RES:
                            clock.stopped_at = clock.priority_at_stop = clock.paused_since = None
                for clock in clocks:  # a running clock's pause starts and ends with the status
                    if clock.stopped_at is None:
                        paused = status in PAUSES[clock.metric]
                        if paused and clock.paused_since is None:
                            clock.paused_since = t
                        elif not paused:
                            clock.paused_since = None
            elif event.kind == engine.CUSTOMER_MESSAGE:
                if status not in ("resolved", "closed"):
                    running_nr = [c for c in clocks if c.metric == NR and c.stopped_at is None]
                    if agent_replied and not awaiting_agent and not running_nr:
                        cycles = [c.cycle for c in clocks if c.metric == NR]
                        clocks.append(RefClock(NR, max(cycles, default=0) + 1, t))
                    awaiting_agent = True
            elif event.kind == engine.AGENT_REPLY:
                for clock in clocks:
                    if clock.metric in (FR, NR) and clock.stopped_at is None:
                        clock.stopped_at, clock.priority_at_stop = t, priority
                awaiting_agent, agent_replied = False, True
        if t > events[-1].at and all(c.stopped_at is not None for c in clocks):
            break
        if working_minute(spec_name, t):
            for clock in clocks:
                if clock.stopped_at is None and status not in PAUSES[clock.metric]:
                    clock.count += 1
                    reached.setdefault((clock.metric, clock.cycle), {})[clock.count] = t + MINUTE
        t += MINUTE
    result = {}
    for clock in clocks:
        target_minutes = TARGETS[(clock.metric, clock.priority_at_stop or priority)] // 60
        due = reached.get((clock.metric, clock.cycle), {}).get(target_minutes)
        outcome = None
        if clock.stopped_at is not None:
            # Missed when its active time went past the target in force: at its stop, or earlier
            # under a priority since lowered (a breach stands).
            last_active = clock.paused_since or clock.stopped_at
            late = due is not None and last_active > due
            outcome = "missed" if clock.exceeded or late else "met"
        result[(clock.metric, clock.cycle)] = (due, outcome)
    return result


# --- event streams -------------------------------------------------------------------------------


@st.composite
def case_streams(draw):
    spec_name = draw(st.sampled_from(sorted(CALENDARS)))
    start = draw(st.sampled_from(STARTS))
    events = [engine.EngineEvent(engine.OPENED, start, status="new", priority="normal")]
    status, t = "new", start
    for _ in range(draw(st.integers(0, 8))):
        t = t + timedelta(minutes=draw(st.integers(1, 600)))
        choice = draw(st.sampled_from(["status", "priority", "customer", "agent", "agent"]))
        if choice == "status" and NEXT_STATUSES[status]:
            status = draw(st.sampled_from(NEXT_STATUSES[status]))
            events.append(engine.EngineEvent(engine.STATUS, t, status=status))
        elif choice == "priority" and status != "closed":
            events.append(
                engine.EngineEvent(engine.PRIORITY, t, priority=draw(st.sampled_from(["normal", "urgent"])))
            )
        elif choice == "customer":
            events.append(engine.EngineEvent(engine.CUSTOMER_MESSAGE, t))
        elif choice == "agent" and status not in ("resolved", "closed"):
            events.append(engine.EngineEvent(engine.AGENT_REPLY, t))
    return spec_name, events


def _policy(spec_name: str) -> engine.PolicySnapshot:
    return engine.PolicySnapshot(
        policy_id=1,
        version=1,
        calendar=Calendar.from_spec(CALENDARS[spec_name]),
        targets=TARGETS,
        pause_statuses=PAUSES,
        warning_percent=80,
    )


@settings(max_examples=150, deadline=None)
@given(case_streams())
def test_engine_agrees_with_the_minute_by_minute_reference(stream):
    spec_name, events = stream
    state, _ = engine.replay(_policy(spec_name), events)
    expected = reference(spec_name, events)
    got = {clock.key: clock for clock in state.clocks}
    assert set(got) == set(expected)
    for key, (due, outcome) in expected.items():
        clock = got[key]
        assert clock.outcome == outcome, key
        if due is not None:  # reached within the reference's horizon
            assert clock.due_at == due, key
        elif clock.is_paused:  # paused before reaching its target: no due time
            assert clock.due_at is None, key


@settings(max_examples=100, deadline=None)
@given(case_streams())
def test_breach_and_warning_are_recorded_at_most_once(stream):
    spec_name, events = stream
    state, changes = engine.replay(_policy(spec_name), events)
    for clock in state.clocks:
        changes += engine.assess(clock, events[-1].at + timedelta(days=60))
    for kind in ("breached", "warned"):
        keys = [(c.metric, c.cycle) for c in changes if c.kind == kind]
        assert len(keys) == len(set(keys))
    for change in changes:
        if change.kind == "breached":
            clock = next(c for c in state.clocks if c.key == (change.metric, change.cycle))
            assert change.at == clock.breached_at


# --- table cases -------------------------------------------------------------------------------------


def _event(kind, at, **kwargs):
    return engine.EngineEvent(kind, at, **kwargs)


def test_a_pause_across_a_weekend_and_holiday_counts_no_time():
    # Friday 6 March 16:00 EST; pending until Tuesday 10 March 10:00 EDT (Monday is a holiday).
    opened = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)
    events = [
        _event(engine.OPENED, opened, status="new", priority="normal"),
        _event(engine.STATUS, opened + timedelta(minutes=30), status="pending"),
        _event(engine.STATUS, datetime(2026, 3, 10, 14, 0, tzinfo=UTC), status="open"),
    ]
    state, changes = engine.replay(_policy("ny-9-17-holidays"), events)
    resolution = state.latest(RES)
    # 30 min worked Friday; paused 30 min Friday + 1 h Tuesday (business time only); 15.5 h left from 10:00
    # Tuesday: 7 h Tuesday, 8 h Wednesday, 30 min Thursday -> Thursday 12 March 09:30 EDT.
    assert resolution.paused_seconds == 90 * 60
    assert resolution.due_at == datetime(2026, 3, 12, 13, 30, tzinfo=UTC)
    assert [c.kind for c in changes if c.metric == RES] == ["started", "paused", "resumed"]


def test_zero_target_is_due_at_the_first_working_instant():
    policy = engine.PolicySnapshot(
        policy_id=1,
        version=1,
        calendar=Calendar.from_spec(CALENDARS["ny-9-17-holidays"]),
        targets={(FR, "normal"): 0},
    )
    saturday = datetime(2026, 6, 13, 15, 0, tzinfo=UTC)
    state, _ = engine.replay(policy, [_event(engine.OPENED, saturday, status="new", priority="normal")])
    assert state.latest(FR).due_at == datetime(2026, 6, 15, 13, 0, tzinfo=UTC)


def test_case_opened_in_a_pause_status_starts_paused():
    state, changes = engine.replay(
        _policy("24x7-utc"),
        [
            _event(engine.OPENED, STARTS[-1], status="on_hold", priority="normal"),
        ],
    )
    assert state.latest(RES).is_paused and state.latest(FR).is_running
    assert [(c.metric, c.kind) for c in changes] == [(FR, "started"), (RES, "started"), (RES, "paused")]


def test_unknown_event_kind_is_refused():
    state = engine.CaseClocks(policy=_policy("24x7-utc"))
    with pytest.raises(ValueError, match="Unknown engine event"):
        engine.apply(state, _event("teleport", STARTS[0]))


def test_no_target_for_a_metric_means_no_clock():
    policy = engine.PolicySnapshot(
        policy_id=1, version=1, calendar=Calendar.always(), targets={(RES, "normal"): 60}
    )
    state, _ = engine.replay(policy, [_event(engine.OPENED, STARTS[0], status="new", priority="normal")])
    assert [c.metric for c in state.clocks] == [RES]


def test_reference_dates_are_what_the_tests_assume():
    assert date(2026, 3, 8).weekday() == 6 and date(2026, 3, 9).weekday() == 0
