"""The SLA clock engine: a pure state machine over a case's events. No Django, no ORM.

Each event carries the time it happened, so applying a case's events in order gives the clocks
the case would have had, whether the events arrive live or are replayed from history (synced
cases, SLA repair). The database layer (`slas.services`) loads a `CaseClocks` state, calls
`apply`, and persists the clocks and the returned `Change` records.

Metrics (DESIGN.md, "SLA model"):
- ``first_response`` starts when the case opens and stops at the first public agent reply
  (a bot reply does not count; an answered call is recorded as the agent's reply).
- ``next_response``: each customer message after an agent reply starts a new cycle, stopped
  by the next agent reply.
- ``resolution`` starts at open, pauses in the policy's pause statuses, stops at resolved; a
  reopen resumes it (the time spent resolved is not counted).
Resolving or closing a case stops every clock still running.

Rules of the clock: the due instant is when the clock's active business time (business time
outside its pauses) reaches the target; a clock keeps its closed pause intervals to compute it
exactly, even when a pause or a priority change comes after the target was reached. While
paused, a clock whose target was not yet reached has no due time; on resume `due_at` moves by
the paused business time. A priority change recomputes the target from the clock's own start.
A clock stopped after its due instant is missed and breached at `due_at`; one that passes its
warning instant is warned once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .business_time import Calendar, add, elapsed

FIRST_RESPONSE = "first_response"
NEXT_RESPONSE = "next_response"
RESOLUTION = "resolution"
METRICS = (FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION)
DEFAULT_PAUSE_STATUSES: dict[str, frozenset[str]] = {
    FIRST_RESPONSE: frozenset(),
    NEXT_RESPONSE: frozenset(),
    RESOLUTION: frozenset({"pending", "on_hold"}),
}
FINAL_STATUSES = frozenset({"resolved", "closed"})

# Event kinds
OPENED = "opened"
STATUS = "status"
PRIORITY = "priority"
CUSTOMER_MESSAGE = "customer_message"
AGENT_REPLY = "agent_reply"

MET = "met"
MISSED = "missed"


@dataclass(frozen=True)
class PolicySnapshot:
    """What a case's clocks are computed from: the matched policy at the version matched."""

    policy_id: int | None
    version: int | None
    calendar: Calendar
    targets: Mapping[tuple[str, str], int]
    pause_statuses: Mapping[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_PAUSE_STATUSES))
    warning_percent: int = 80

    def target(self, metric: str, priority: str) -> int | None:
        return self.targets.get((metric, priority))

    def pauses(self, metric: str, status: str) -> bool:
        return status in self.pause_statuses.get(metric, frozenset())


@dataclass(frozen=True)
class EngineEvent:
    """One case event as the engine sees it."""

    kind: str
    at: datetime
    status: str | None = None
    priority: str | None = None


@dataclass
class Clock:
    """One SLA clock of a case: a metric and, for next_response, a cycle."""

    metric: str
    cycle: int
    target_seconds: int
    started_at: datetime
    due_at: datetime | None = None
    warn_at: datetime | None = None
    paused_since: datetime | None = None
    paused_seconds: int = 0
    stopped_at: datetime | None = None
    outcome: str | None = None
    breached_at: datetime | None = None
    warned_at: datetime | None = None
    pauses: list[tuple[datetime, datetime]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int]:
        return (self.metric, self.cycle)

    @property
    def is_stopped(self) -> bool:
        return self.stopped_at is not None

    @property
    def is_paused(self) -> bool:
        return self.paused_since is not None and self.stopped_at is None

    @property
    def is_running(self) -> bool:
        return self.stopped_at is None and self.paused_since is None


@dataclass(frozen=True)
class Change:
    """Something that happened to a clock: started, paused, resumed, target_changed, warned,
    breached, met, missed. `at` is when it happened in case time; `detail` is JSON-ready."""

    metric: str
    cycle: int
    kind: str
    at: datetime
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class CaseClocks:
    """The engine's state for one case."""

    policy: PolicySnapshot
    priority: str = "normal"
    status: str = "new"
    awaiting_agent: bool = False
    agent_replied: bool = False
    clocks: list[Clock] = field(default_factory=list)

    def active(self, metric: str) -> Clock | None:
        """The clock of `metric` that is not stopped (running or paused), if any."""
        for clock in reversed(self.clocks):
            if clock.metric == metric and not clock.is_stopped:
                return clock
        return None

    def latest(self, metric: str) -> Clock | None:
        for clock in reversed(self.clocks):
            if clock.metric == metric:
                return clock
        return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _reach(clock: Clock, seconds: int, calendar: Calendar) -> datetime | None:
    """The instant the clock's active time (outside its pauses) reaches `seconds`; None when
    the clock is paused before reaching it."""
    cursor, remaining = clock.started_at, seconds
    for pause_start, pause_end in clock.pauses:
        active = elapsed(cursor, pause_start, calendar)
        if active >= remaining:
            return add(cursor, remaining, calendar)
        remaining -= active
        cursor = pause_end
    if clock.paused_since is not None:
        # Reached exactly as it paused: not exceeded (no active second past it), so no due time
        # while paused, as for a clock that paused before reaching it.
        if elapsed(cursor, clock.paused_since, calendar) > remaining:
            return add(cursor, remaining, calendar)
        return None
    return add(cursor, remaining, calendar)


def schedule(clock: Clock, policy: PolicySnapshot) -> None:
    """Compute `due_at` and `warn_at` from the clock's start, target and pauses."""
    calendar = policy.calendar
    clock.due_at = _reach(clock, clock.target_seconds, calendar)
    if 0 < policy.warning_percent < 100:
        clock.warn_at = _reach(clock, clock.target_seconds * policy.warning_percent // 100, calendar)
    else:
        clock.warn_at = None


def _close_pause(clock: Clock, since: datetime, at: datetime, calendar: Calendar) -> None:
    clock.pauses.append((since, at))
    clock.paused_seconds += max(0, elapsed(since, at, calendar))


def settle(clock: Clock, at: datetime) -> list[Change]:
    """Record the warning and breach a running clock has crossed by `at` (each at most once)."""
    changes: list[Change] = []
    if clock.is_stopped:
        return changes
    if clock.warn_at is not None and clock.warned_at is None and at > clock.warn_at:
        clock.warned_at = clock.warn_at
        changes.append(
            Change(clock.metric, clock.cycle, "warned", clock.warn_at, {"warn_at": _iso(clock.warn_at)})
        )
    if clock.due_at is not None and clock.breached_at is None and at > clock.due_at:
        clock.breached_at = clock.due_at
        if clock.warned_at is None and clock.warn_at is not None:
            clock.warned_at = clock.warn_at
            changes.append(
                Change(clock.metric, clock.cycle, "warned", clock.warn_at, {"warn_at": _iso(clock.warn_at)})
            )
        changes.append(
            Change(clock.metric, clock.cycle, "breached", clock.due_at, {"due_at": _iso(clock.due_at)})
        )
    return changes


def _start(state: CaseClocks, metric: str, at: datetime, cycle: int = 1) -> list[Change]:
    target = state.policy.target(metric, state.priority)
    if target is None:
        return []
    clock = Clock(metric=metric, cycle=cycle, target_seconds=target, started_at=at)
    state.clocks.append(clock)
    if state.policy.pauses(metric, state.status):
        clock.paused_since = at
        schedule(clock, state.policy)
        return [
            Change(metric, cycle, "started", at, {"target_seconds": target, "paused": True}),
            Change(metric, cycle, "paused", at, {"status": state.status}),
        ]
    schedule(clock, state.policy)
    return [Change(metric, cycle, "started", at, {"target_seconds": target, "due_at": _iso(clock.due_at)})]


def _pause(state: CaseClocks, clock: Clock, at: datetime, reason: str) -> list[Change]:
    changes = settle(clock, at)
    clock.paused_since = at
    schedule(clock, state.policy)
    changes.append(
        Change(clock.metric, clock.cycle, "paused", at, {"status": reason, "due_at": _iso(clock.due_at)})
    )
    return changes


def _resume(state: CaseClocks, clock: Clock, at: datetime, reason: str) -> list[Change]:
    assert clock.paused_since is not None
    _close_pause(clock, clock.paused_since, at, state.policy.calendar)
    clock.paused_since = None
    schedule(clock, state.policy)
    return [
        Change(
            clock.metric,
            clock.cycle,
            "resumed",
            at,
            {"status": reason, "paused_seconds": clock.paused_seconds, "due_at": _iso(clock.due_at)},
        )
    ]


def stop(state: CaseClocks, clock: Clock, at: datetime, reason: str) -> list[Change]:
    """Stop `clock` at `at`: met, or missed (with its warning and breach recorded once); a clock
    breached earlier stays missed. A paused clock's last active instant is its pause's start:
    judged there, not at `at`."""
    changes: list[Change] = []
    last_active = at
    if clock.is_paused:
        last_active = clock.paused_since
        _close_pause(clock, clock.paused_since, at, state.policy.calendar)
        clock.paused_since = None
        schedule(clock, state.policy)
    changes.extend(settle(clock, last_active))
    clock.stopped_at = at
    # A recorded breach stands: a priority lowered after it (a later due time) does not make the
    # target met that was missed under the priority in force then.
    exceeded = clock.due_at is not None and last_active > clock.due_at
    clock.outcome = MISSED if exceeded or clock.breached_at is not None else MET
    changes.append(
        Change(clock.metric, clock.cycle, clock.outcome, at, {"reason": reason, "due_at": _iso(clock.due_at)})
    )
    return changes


def _reopen(state: CaseClocks, clock: Clock, at: datetime) -> list[Change]:
    """Resume a stopped resolution clock: the time spent resolved is not counted."""
    assert clock.stopped_at is not None
    _close_pause(clock, clock.stopped_at, at, state.policy.calendar)
    clock.stopped_at = None
    clock.outcome = None
    # The priority may have changed while the case was resolved: resume under the current one.
    clock.target_seconds = state.policy.target(clock.metric, state.priority) or clock.target_seconds
    if state.policy.pauses(clock.metric, state.status):
        clock.paused_since = at
    schedule(clock, state.policy)
    return [
        Change(
            clock.metric,
            clock.cycle,
            "resumed",
            at,
            {"status": "reopened", "paused_seconds": clock.paused_seconds, "due_at": _iso(clock.due_at)},
        )
    ]


def apply(state: CaseClocks, event: EngineEvent) -> list[Change]:
    """Apply one event to the case's clocks; return what changed, in order."""
    at = event.at
    changes: list[Change] = []
    if event.kind == OPENED:
        state.priority = event.priority or state.priority
        state.status = event.status or state.status
        state.awaiting_agent = True
        changes += _start(state, FIRST_RESPONSE, at)
        changes += _start(state, RESOLUTION, at)
        return changes

    if event.kind == PRIORITY:
        state.priority = event.priority or state.priority
        for clock in state.clocks:
            if clock.is_stopped:
                continue
            target = state.policy.target(clock.metric, state.priority)
            if target is None or target == clock.target_seconds:
                continue
            changes += settle(clock, at)
            old_target, old_due = clock.target_seconds, clock.due_at
            clock.target_seconds = target
            schedule(clock, state.policy)
            changes.append(
                Change(
                    clock.metric,
                    clock.cycle,
                    "target_changed",
                    at,
                    {
                        "priority": state.priority,
                        "old_target_seconds": old_target,
                        "target_seconds": target,
                        "old_due_at": _iso(old_due),
                        "due_at": _iso(clock.due_at),
                    },
                )
            )
        return changes

    if event.kind == STATUS:
        old, new = state.status, event.status or state.status
        state.status = new
        if new in FINAL_STATUSES:
            for clock in state.clocks:
                if not clock.is_stopped:
                    changes += stop(state, clock, at, new)
            return changes
        if old == "resolved":
            resolution = state.latest(RESOLUTION)
            if resolution is not None and resolution.is_stopped:
                changes += _reopen(state, resolution, at)
        for clock in state.clocks:
            if clock.is_stopped:
                continue
            was_paused, pauses_now = clock.is_paused, state.policy.pauses(clock.metric, new)
            if pauses_now and not was_paused:
                changes += _pause(state, clock, at, new)
            elif was_paused and not pauses_now:
                changes += _resume(state, clock, at, new)
        return changes

    if event.kind == CUSTOMER_MESSAGE:
        if state.status in FINAL_STATUSES:
            return changes
        if state.agent_replied and not state.awaiting_agent and state.active(NEXT_RESPONSE) is None:
            previous = state.latest(NEXT_RESPONSE)
            changes += _start(state, NEXT_RESPONSE, at, cycle=(previous.cycle + 1) if previous else 1)
        state.awaiting_agent = True
        return changes

    if event.kind == AGENT_REPLY:
        for metric in (FIRST_RESPONSE, NEXT_RESPONSE):
            clock = state.active(metric)
            if clock is not None:
                changes += stop(state, clock, at, "agent replied")
        state.awaiting_agent = False
        state.agent_replied = True
        return changes

    raise ValueError(f"Unknown engine event kind {event.kind!r}")


def replay(policy: PolicySnapshot, events: list[EngineEvent]) -> tuple[CaseClocks, list[Change]]:
    """The clocks a case has after `events` (in order), from nothing."""
    state = CaseClocks(policy=policy)
    changes: list[Change] = []
    for event in events:
        changes += apply(state, event)
    return state, changes


def assess(clock: Clock, now: datetime) -> list[Change]:
    """What the sweep would record for `clock` at `now` (warning, breach), applied to it."""
    return settle(clock, now)
