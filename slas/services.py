"""Every write of the SLA engine.

- `on_case_event`: subscribed (in-transaction) to the case events; keeps the case's clocks in
  step with its lifecycle, in the same transaction as the case change.
- `clocks_rebuild`: replays cases' timelines under the current policies (SLA repair, synced
  history, demo data) and reports what changed.
- `breach_acknowledge`, calendar services.
The sweep lives in `slas.sweep`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import Max, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from cases import events as case_events
from cases import revisions
from cases.choices import AuthorKind, CaseEventKind, Direction
from cases.models import Case, CaseEvent
from config.bulk import row_build, row_update, rows_insert
from config.errors import ApplicationError
from config.events import publish
from config.prepared import prepared_select

from . import engine
from . import events as sla_events
from .business_time import Calendar, CalendarSpecError
from .models import (
    ENGINE_METRICS,
    Breach,
    BusinessCalendar,
    CalendarInterval,
    CaseSLA,
    ClockEvent,
    DetectedBy,
    Holiday,
    SLAClock,
    SLAPolicy,
    SLATarget,
    SLAWarning,
)

# --- Calendars ---------------------------------------------------------------------------------

_compiled: dict[tuple[int, int], Calendar] = {}


def calendar_compiled(calendar: BusinessCalendar) -> Calendar:
    """The compiled business-time calendar, cached per calendar revision."""
    key = (calendar.pk, calendar.revision)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = calendar.compile()
        _compiled[key] = compiled
    return compiled


def _calendar_bump(calendar: BusinessCalendar, reason: str) -> None:
    calendar.revision += 1
    calendar._change_reason = reason
    calendar.save(update_fields=["revision"])


@transaction.atomic
def calendar_import_spec(*, calendar: BusinessCalendar, spec: dict, actor: Any = None) -> BusinessCalendar:
    """Replace the calendar's time zone, week and holidays with `spec` (the exported JSON).
    An invalid spec raises ApplicationError naming the field, and changes nothing."""
    try:
        parsed = Calendar.from_spec(spec)
    except CalendarSpecError as exc:
        raise ApplicationError.for_field(exc.field or "spec", str(exc)) from exc
    normalized = parsed.to_spec()
    calendar.timezone = normalized["timezone"]
    calendar.is_24x7 = normalized.get("week") is None
    calendar.intervals.all().delete()
    calendar.holidays.all().delete()
    intervals = []
    for weekday, key in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun")):
        for start, end in (normalized.get("week") or {}).get(key, []):
            intervals.append(
                CalendarInterval(
                    calendar=calendar,
                    weekday=weekday,
                    start=datetime.strptime(start, "%H:%M").time(),
                    end=datetime.strptime("00:00" if end == "24:00" else end, "%H:%M").time(),
                )
            )
    CalendarInterval.objects.bulk_create(intervals)
    Holiday.objects.bulk_create(
        [Holiday(calendar=calendar, date=date.fromisoformat(day)) for day in normalized.get("holidays", [])]
    )
    calendar.save(update_fields=["timezone", "is_24x7"])
    _calendar_bump(calendar, "imported from JSON spec")
    return calendar


@transaction.atomic
def calendar_generate_holidays(
    *,
    calendar: BusinessCalendar,
    country: str,
    subdivision: str = "",
    years: Sequence[int],
    actor: Any = None,
) -> int:
    """Add the public holidays of `country` (and `subdivision`) for `years` from the `holidays`
    package; dates already present are kept. Returns how many were added."""
    import holidays as holidays_package

    try:
        generated = holidays_package.country_holidays(
            country.upper(), subdiv=subdivision or None, years=list(years)
        )
    except (NotImplementedError, KeyError) as exc:
        raise ApplicationError.for_field(
            "holiday_country", f"No holidays known for {country}/{subdivision}."
        ) from exc
    existing = set(calendar.holidays.values_list("date", flat=True))
    rows = [
        Holiday(calendar=calendar, date=day, name=name[:120])
        for day, name in sorted(generated.items())
        if day not in existing
    ]
    Holiday.objects.bulk_create(rows)
    calendar.holiday_country, calendar.holiday_subdivision = country.upper(), subdivision
    calendar.save(update_fields=["holiday_country", "holiday_subdivision"])
    _calendar_bump(calendar, f"generated {len(rows)} holidays for {country} {subdivision} {list(years)}")
    return len(rows)


def calendar_changed(*, calendar: BusinessCalendar, reason: str) -> None:
    """Mark a calendar edited elsewhere (admin inlines) so compiled copies are refreshed."""
    BusinessCalendar.objects.filter(pk=calendar.pk).update(revision=calendar.revision + 1)
    calendar.revision += 1


# --- Policies ----------------------------------------------------------------------------------


def policy_snapshot_data(policy: SLAPolicy) -> dict:
    """The JSON snapshot of a policy stored on each matched case."""
    return {
        "targets": {f"{t.metric}:{t.priority}": t.seconds for t in policy.targets.all()},
        "pause_statuses": {
            metric: list(statuses) for metric, statuses in (policy.pause_statuses or {}).items()
        },
        "warning_percent": policy.warning_percent,
    }


def policy_snapshot(
    data: dict, calendar: Calendar, *, policy_id: int | None = None, version: int | None = None
) -> engine.PolicySnapshot:
    """The engine's view of a policy from its JSON snapshot (`policy_snapshot_data`), e.g. of a
    proposed change, to replay clocks under it."""
    pauses = dict(engine.DEFAULT_PAUSE_STATUSES)
    pauses.update(
        {metric: frozenset(statuses) for metric, statuses in data.get("pause_statuses", {}).items()}
    )
    return engine.PolicySnapshot(
        policy_id=policy_id,
        version=version,
        calendar=calendar,
        targets={tuple(key.split(":", 1)): seconds for key, seconds in data.get("targets", {}).items()},
        pause_statuses=pauses,
        warning_percent=data.get("warning_percent", 80),
    )


def _snapshot(case_sla: CaseSLA, calendar: Calendar) -> engine.PolicySnapshot:
    return policy_snapshot(
        case_sla.snapshot, calendar, policy_id=case_sla.policy_id, version=case_sla.policy_version
    )


@dataclass(frozen=True)
class PolicyChoice:
    policy: SLAPolicy | None
    version: int | None
    reason: str


def policies_for_client(client_id: int) -> list[SLAPolicy]:
    """Active policies of a client in order, with what matching and snapshots need (4 queries):
    each carries its `current_version` and the ids of the queues it is limited to."""
    policies = list(
        SLAPolicy.objects.filter(client_id=client_id, is_active=True)
        .select_related("calendar")
        .prefetch_related("queues", "targets")
        .order_by("order", "id")
    )
    if policies:
        versions = dict(
            SLAPolicy.history.filter(id__in=[p.pk for p in policies])
            .order_by()
            .values("id")
            .annotate(version=Max("history_id"))
            .values_list("id", "version")
        )
        for policy in policies:
            policy.current_version = versions.get(policy.pk)
            policy.matched_queue_ids = frozenset(q.pk for q in policy.queues.all())
    return policies


# Live matching reads a client's policies from this in-process cache, keyed by the revision of
# the client's policies (queues included), targets and calendars (cases.revisions): one small query per
# case opened instead of four, none when the request read the revision with its API key or
# connector. Policies change through the admin and the governance services, which
# record history; SLA repair always reads them fresh.
POLICIES_REVISION = "sla_policies"  # registered in SlasConfig.ready()
_policies_cache: revisions.RevisionCache[list[SLAPolicy]] = revisions.RevisionCache(POLICIES_REVISION)


def policies_revision_sql(outer: str) -> RawSQL:
    """The revision of a client's policies, targets and business calendars (cases.revisions)
    for the client id at the SQL `outer`. The calendars are in it because a cached policy holds
    its calendar, whose revision keys the compiled calendar: an edited calendar (a holiday
    added) must reach the cases opened after it."""
    return revisions.revision_sql(outer, (SLAPolicy, None), (SLATarget, "policy"), (BusinessCalendar, None))


def policies_for_client_cached(client_id: int) -> list[SLAPolicy]:
    """`policies_for_client`, served from the revision-keyed cache when nothing changed."""
    return _policies_cache.get(client_id, lambda: policies_for_client(client_id))


def policy_match(
    *, policies: Iterable[SLAPolicy], channel: str, priority: str, queue_id: int, segment: str
) -> PolicyChoice:
    """The first policy whose conditions (channel, priority, queue, customer segment) match."""
    for policy in policies:
        if policy.channels and channel not in policy.channels:
            continue
        if policy.priorities and priority not in policy.priorities:
            continue
        queue_ids = getattr(policy, "matched_queue_ids", None)  # set by policies_for_client
        if queue_ids is None:
            queue_ids = {q.pk for q in policy.queues.all()}
        if queue_ids and queue_id not in queue_ids:
            continue
        if policy.segments and segment not in policy.segments:
            continue
        return PolicyChoice(policy, getattr(policy, "current_version", None), f"matched {policy.name}")
    return PolicyChoice(
        None,
        None,
        f"No active SLA policy matches channel={channel}, priority={priority}, queue={queue_id}, "
        f"segment={segment}.",
    )


# --- Persisting engine results -------------------------------------------------------------------

_CLOCK_FIELDS = [
    "target_seconds",
    "due_at",
    "warn_at",
    "paused_since",
    "paused_seconds",
    "pauses",
    "stopped_at",
    "outcome",
    "breached_at",
    "warned_at",
]


def _to_engine(row: SLAClock) -> engine.Clock:
    return engine.Clock(
        metric=row.metric,
        cycle=row.cycle,
        target_seconds=row.target_seconds,
        started_at=row.started_at,
        due_at=row.due_at,
        warn_at=row.warn_at,
        paused_since=row.paused_since,
        paused_seconds=row.paused_seconds,
        stopped_at=row.stopped_at,
        outcome=row.outcome or None,
        breached_at=row.breached_at,
        warned_at=row.warned_at,
        pauses=[
            (datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in row.pauses or []
        ],
    )


def _copy_to_row(clock: engine.Clock, row: SLAClock) -> None:
    for name in _CLOCK_FIELDS:
        value = getattr(clock, name)
        if name == "outcome" and value is None:
            value = ""
        elif name == "pauses":
            value = [[start.isoformat(), end.isoformat()] for start, end in value]
        setattr(row, name, value)


def _engine_state(
    case_sla: CaseSLA, snapshot: engine.PolicySnapshot, rows: list[SLAClock]
) -> engine.CaseClocks:
    state = case_sla.engine_state or {}
    return engine.CaseClocks(
        policy=snapshot,
        priority=state.get("priority", "normal"),
        status=state.get("status", "new"),
        awaiting_agent=state.get("awaiting_agent", False),
        agent_replied=state.get("agent_replied", False),
        clocks=[_to_engine(row) for row in rows],
    )


def _state_json(state: engine.CaseClocks) -> dict:
    return {
        "priority": state.priority,
        "status": state.status,
        "awaiting_agent": state.awaiting_agent,
        "agent_replied": state.agent_replied,
    }


@dataclass
class _Pending:
    """What one persistence round collects to write in bulk."""

    events: list[ClockEvent] = dataclasses.field(default_factory=list)
    breaches: list[Breach] = dataclasses.field(default_factory=list)
    warnings: list[SLAWarning] = dataclasses.field(default_factory=list)
    breached: list[sla_events.ClockAlert] = dataclasses.field(default_factory=list)
    warned: list[sla_events.ClockAlert] = dataclasses.field(default_factory=list)
    met: list[sla_events.ClockAlert] = dataclasses.field(default_factory=list)

    def flush(self) -> None:
        rows_insert(ClockEvent, self.events, ids=False)
        breaches_record(self.breaches)
        SLAWarning.objects.bulk_create(self.warnings, batch_size=2000, ignore_conflicts=True)
        if self.warned:
            publish(sla_events.ClocksWarned(alerts=tuple(self.warned)))
        if self.breached:
            publish(sla_events.ClocksBreached(alerts=tuple(self.breached)))
        if self.met:
            publish(sla_events.ClocksMet(alerts=tuple(self.met)))


def _record_changes(
    pending: _Pending,
    case: Case | _OpenedCase,
    row: SLAClock,
    changes: Iterable[engine.Change],
    detected_by: str,
    reason: str = "",
    priority: str | None = None,
) -> None:
    for change in changes:
        pending.events.append(
            row_build(
                ClockEvent,
                clock=row,
                case_id=case.pk,
                client_id=case.client_id,
                kind=change.kind,
                at=change.at,
                detail=dict(change.detail),
                reason=reason[:300],
            )
        )
        alert = sla_events.ClockAlert(
            clock_id=row.pk,
            case_id=case.pk,
            client_id=case.client_id,
            queue_id=case.queue_id,
            metric=row.metric,
            cycle=row.cycle,
            priority=priority or case.priority,
            channel=case.current_channel,
            at=change.at,
            detected_by=detected_by,
        )
        if change.kind == "breached":
            pending.breaches.append(
                row_build(
                    Breach,
                    clock=row,
                    case_id=case.pk,
                    client_id=case.client_id,
                    metric=row.metric,
                    priority=priority or case.priority,
                    channel=case.current_channel,
                    breached_at=change.at,
                    detected_by=detected_by,
                )
            )
            pending.breached.append(alert)
        elif change.kind == "warned":
            pending.warnings.append(
                row_build(
                    SLAWarning,
                    clock=row,
                    case_id=case.pk,
                    client_id=case.client_id,
                    metric=row.metric,
                    warned_at=change.at,
                    detected_by=detected_by,
                )
            )
            pending.warned.append(alert)
        elif change.kind == "met":
            pending.met.append(alert)


# --- Live: the case event handler ----------------------------------------------------------------


def _engine_event(event: Any) -> engine.EngineEvent | None:
    if isinstance(event, case_events.CaseOpened):
        return engine.EngineEvent(
            engine.OPENED, event.occurred_at, status=event.status, priority=event.priority
        )
    if isinstance(event, case_events.CaseStatusChanged):
        return engine.EngineEvent(engine.STATUS, event.occurred_at, status=event.new_status)
    if isinstance(event, case_events.CasePriorityChanged):
        return engine.EngineEvent(engine.PRIORITY, event.occurred_at, priority=event.new_priority)
    if isinstance(event, case_events.InteractionAppended):
        return _interaction_event(event.direction, event.author_kind, event.occurred_at)
    return None


def _interaction_event(direction: str, author_kind: str, at: datetime) -> engine.EngineEvent | None:
    if direction == Direction.INBOUND and author_kind == AuthorKind.CUSTOMER:
        return engine.EngineEvent(engine.CUSTOMER_MESSAGE, at)
    if direction == Direction.OUTBOUND and author_kind == AuthorKind.AGENT:
        return engine.EngineEvent(engine.AGENT_REPLY, at)
    return None


def on_case_event(event: Any) -> None:
    """Apply one case event to the case's clocks, inside the case change's transaction.

    An event older than the last one applied (a synced historical interaction, a call record
    stamped when the call entered the queue, an e-mail's Date) makes the case's clocks be
    replayed from its whole timeline instead, under the policy version the case applies, so
    order of arrival never matters (`_replay_in_place`)."""
    if isinstance(event, case_events.InteractionAppended) and event.opens_case:
        return  # applied with the opening (`CaseOpened.first_message_at`)
    if isinstance(event, case_events.CaseQueueChanged):
        # Running clocks move with the case; decided ones keep the queue that decided them.
        SLAClock.objects.filter(case_id=event.case_id, stopped_at__isnull=True).update(
            queue_id=event.new_queue_id
        )
        return
    engine_event = _engine_event(event)
    if engine_event is None:
        return
    if isinstance(event, case_events.CaseOpened):
        _open_case_slas([event])
        return
    case_sla = next(iter(_case_sla_of(case_id=event.case_id)), None)
    if case_sla is None or case_sla.policy_id is None:
        return
    if case_sla.last_event_at is not None and engine_event.at < case_sla.last_event_at:
        _replay_in_place(case_sla, now=timezone.now(), reason="event arrived out of order")
        return
    rows = _engine_clocks_locked(case_id=event.case_id)
    snapshot = _snapshot(case_sla, calendar_compiled(case_sla.calendar))
    state = _engine_state(case_sla, snapshot, rows)
    changes = engine.apply(state, engine_event)
    _persist_live(case_sla, state, rows, changes, at=engine_event.at)


@prepared_select
def _case_sla_of(case_id: int) -> QuerySet[CaseSLA]:
    return CaseSLA.objects.select_related("calendar", "case", "policy").filter(case_id=case_id).order_by()[:1]


@prepared_select
def _engine_clocks_locked(case_id: int) -> QuerySet[SLAClock]:
    return (
        SLAClock.objects.select_for_update().filter(case_id=case_id, metric__in=ENGINE_METRICS).order_by("pk")
    )


# --- What the engine wrote, for the caller that changed the case ------------------------------------

_written: ContextVar[dict[int, tuple[CaseSLA, list[SLAClock]]] | None] = ContextVar(
    "accord_sla_written", default=None
)


@contextmanager
def clocks_written() -> Iterator[dict[int, tuple[CaseSLA, list[SLAClock]]]]:
    """Collect, by case id, the SLA state and engine clocks the engine writes inside the block,
    as written, so a caller that has just changed a case (the API's create) can show them
    without reading them back. A case whose clocks were written some other way in the block (a
    replay, a hand-started clock) is left out: read it back."""
    token = _written.set({})
    try:
        yield _written.get()
    finally:
        _written.reset(token)


def _remember(case_sla: CaseSLA, rows: Iterable[SLAClock]) -> None:
    written = _written.get()
    if written is not None:
        written[case_sla.case_id] = (case_sla, sorted(rows, key=lambda row: (row.metric, row.cycle, row.pk)))


def _forget(case_ids: Iterable[int]) -> None:
    written = _written.get()
    if written:
        for case_id in case_ids:
            written.pop(case_id, None)


def on_cases_opened(event: case_events.CasesOpened) -> None:
    """Start the clocks of a batch of cases opened together, in bulk (in its transaction)."""
    _open_case_slas(event.openings)


@dataclass(frozen=True)
class _OpenedCase:
    """What clock rows and alerts read of a case just opened, taken from its `CaseOpened`: the
    case's model instance is not needed (nor built) to start its clocks."""

    pk: int
    client_id: int
    queue_id: int
    priority: str
    origin_channel: str
    current_channel: str

    @classmethod
    def of(cls, opened: case_events.CaseOpened) -> _OpenedCase:
        return cls(
            opened.case_id,
            opened.client_id,
            opened.queue_id,
            opened.priority,
            opened.channel,
            opened.channel,
        )


@dataclass(frozen=True)
class _PolicyStart:
    """A matched policy's snapshot (stored JSON and engine view), built once per policy and
    batch: every case a batch opens under one policy starts from the same one."""

    data: dict
    snapshot: engine.PolicySnapshot


def _open_case_slas(openings: Iterable[case_events.CaseOpened]) -> None:
    """Match each opened case's policy and start its clocks: the policies read once per client,
    the case SLAs, clocks and clock events written in one statement each, whatever the count.
    The events carry what matching and the clocks need: no case is read back."""
    pending = _Pending()
    case_slas: list[CaseSLA] = []
    started: list[tuple[_OpenedCase, engine.CaseClocks, list[SLAClock], list[engine.Change]]] = []
    policies: dict[int, list[SLAPolicy]] = {}
    starts: dict[int, _PolicyStart] = {}
    for opened in openings:
        if opened.client_id not in policies:
            policies[opened.client_id] = policies_for_client_cached(opened.client_id)
        case = _OpenedCase.of(opened)
        choice = policy_match(
            policies=policies[opened.client_id],
            channel=opened.channel,
            priority=opened.priority,
            queue_id=opened.queue_id,
            segment=opened.customer_segment,
        )
        case_sla = row_build(
            CaseSLA,
            case_id=case.pk,
            client_id=case.client_id,
            unmatched_reason="" if choice.policy else choice.reason,
        )
        case_slas.append(case_sla)
        if choice.policy is None:
            continue
        policy = choice.policy
        start = starts.get(policy.pk)
        if start is None:
            data = policy_snapshot_data(policy)
            start = starts[policy.pk] = _PolicyStart(
                data,
                policy_snapshot(
                    data, calendar_compiled(policy.calendar), policy_id=policy.pk, version=choice.version
                ),
            )
        case_sla.policy, case_sla.policy_version = policy, choice.version
        case_sla.calendar = policy.calendar
        case_sla.snapshot = start.data
        state = engine.CaseClocks(policy=start.snapshot)
        changes = engine.apply(state, _engine_event(opened))
        case_sla.last_event_at = opened.occurred_at
        if opened.first_message_at is not None:  # the message that came with the opening
            changes += engine.apply(
                state, engine.EngineEvent(engine.CUSTOMER_MESSAGE, opened.first_message_at)
            )
            case_sla.last_event_at = max(opened.occurred_at, opened.first_message_at)
        case_sla.engine_state = _state_json(state)
        started.append(
            (case, state, [_new_clock_row(case, case_sla, clock) for clock in state.clocks], changes)
        )
    rows_insert(CaseSLA, case_slas)
    rows_insert(SLAClock, [row for _, _, rows, _ in started for row in rows])
    clocks_of = {case.pk: rows for case, _, rows, _ in started}
    for case_sla in case_slas:
        _remember(case_sla, clocks_of.get(case_sla.case_id, []))
    for case, state, rows, changes in started:
        _record_case_changes(pending, case, {(row.metric, row.cycle): row for row in rows}, changes, state)
    pending.flush()


def _new_clock_row(case: Case | _OpenedCase, case_sla: CaseSLA, clock: engine.Clock) -> SLAClock:
    row = row_build(
        SLAClock,
        client_id=case.client_id,
        case_id=case.pk,
        channel=case.origin_channel,
        queue_id=case.queue_id,
        policy_id=case_sla.policy_id,
        policy_version=case_sla.policy_version,
        calendar_id=case_sla.calendar_id,
        warning_percent=case_sla.snapshot.get("warning_percent", 80),
        metric=clock.metric,
        cycle=clock.cycle,
        started_at=clock.started_at,
    )
    _copy_to_row(clock, row)
    return row


def _record_case_changes(
    pending: _Pending,
    case: Case | _OpenedCase,
    by_key: dict[tuple[str, int], SLAClock],
    changes: Iterable[engine.Change],
    state: engine.CaseClocks,
) -> None:
    """Record what a case event changed on the case's clocks (keyed by metric and cycle)."""
    for change in changes:
        _record_changes(
            pending,
            case,
            by_key[(change.metric, change.cycle)],
            [change],
            DetectedBy.STOP,
            priority=state.priority,
        )


def _persist_live(
    case_sla: CaseSLA,
    state: engine.CaseClocks,
    rows: list[SLAClock],
    changes: list[engine.Change],
    *,
    at: datetime,
) -> None:
    case = case_sla.case
    by_key = {(row.metric, row.cycle): row for row in rows}
    pending = _Pending()
    new_rows = []
    for clock in state.clocks:
        row = by_key.get(clock.key)
        if row is None:
            row = _new_clock_row(case, case_sla, clock)
            new_rows.append(row)
            by_key[clock.key] = row
        elif _to_engine(row) != clock:
            _copy_to_row(clock, row)
            row_update(row, [*_CLOCK_FIELDS, "updated_at"])
    # One INSERT for the clocks a case opening (or a new cycle) starts; their ids come back.
    rows_insert(SLAClock, new_rows)
    _record_case_changes(pending, case, by_key, changes, state)
    case_sla.engine_state = _state_json(state)
    case_sla.last_event_at = max(at, case_sla.last_event_at) if case_sla.last_event_at else at
    row_update(case_sla, ["engine_state", "last_event_at", "updated_at"])
    _remember(case_sla, by_key.values())
    pending.flush()


# --- Replay: SLA repair, synced history, demo data ------------------------------------------------


@dataclass(frozen=True)
class ClockDiff:
    """How one clock changed in a rebuild."""

    case_id: int
    metric: str
    cycle: int
    old_due_at: datetime | None
    new_due_at: datetime | None
    old_breached: bool
    new_breached: bool
    created: bool = False
    removed: bool = False

    @property
    def breach_gained(self) -> bool:
        return self.new_breached and not self.old_breached

    @property
    def breach_lost(self) -> bool:
        return self.old_breached and not self.new_breached


def _replay_event(row: CaseEvent) -> engine.EngineEvent | None:
    after = row.after or {}
    if row.kind == CaseEventKind.OPENED:
        return engine.EngineEvent(
            engine.OPENED, row.occurred_at, status=after.get("status", "new"), priority=after.get("priority")
        )
    if row.kind in (
        CaseEventKind.STATUS_CHANGED,
        CaseEventKind.RESOLVED,
        CaseEventKind.REOPENED,
        CaseEventKind.CLOSED,
    ):
        return engine.EngineEvent(engine.STATUS, row.occurred_at, status=after.get("status"))
    if row.kind == CaseEventKind.PRIORITY_CHANGED:
        return engine.EngineEvent(engine.PRIORITY, row.occurred_at, priority=after.get("priority"))
    if row.kind == CaseEventKind.INTERACTION:
        return _interaction_event(after.get("direction", ""), after.get("author_kind", ""), row.occurred_at)
    return None


REPLAY_KINDS = [
    CaseEventKind.OPENED,
    CaseEventKind.STATUS_CHANGED,
    CaseEventKind.RESOLVED,
    CaseEventKind.REOPENED,
    CaseEventKind.CLOSED,
    CaseEventKind.PRIORITY_CHANGED,
    CaseEventKind.INTERACTION,
]


def clocks_rebuild(
    *, case_ids: Sequence[int], now: datetime, reason: str, dry_run: bool = False, batch_size: int = 500
) -> list[ClockDiff]:
    """Replay each case's timeline under the current policies and make its clocks match.

    Returns every clock whose due time or breach state changed (and those created or removed).
    With `dry_run` nothing is written. Clock history is kept: each changed clock gets a
    `recomputed` event with the reason, breaches gained are recorded (detected by replay) and
    breaches lost are voided with the reason, never deleted.
    """
    diffs: list[ClockDiff] = []
    policies_by_client: dict[int, list[SLAPolicy]] = {}
    _forget(case_ids)
    for start in range(0, len(case_ids), batch_size):
        batch = list(case_ids[start : start + batch_size])
        with transaction.atomic():
            diffs += _rebuild_batch(
                batch, now=now, reason=reason, dry_run=dry_run, policies_by_client=policies_by_client
            )
    return diffs


def case_timelines(case_ids: Iterable[int]) -> dict[int, list[engine.EngineEvent]]:
    """Each case's clock-relevant events, in order, as the engine replays them (one query)."""
    timeline: dict[int, list[engine.EngineEvent]] = {pk: [] for pk in case_ids}
    for row in (
        CaseEvent.objects.filter(case_id__in=list(timeline), kind__in=REPLAY_KINDS)
        .order_by("case_id", "occurred_at", "id")
        .only("case_id", "kind", "occurred_at", "after")
    ):
        engine_event = _replay_event(row)
        if engine_event is not None:
            timeline[row.case_id].append(engine_event)
    return timeline


def _replay_in_place(case_sla: CaseSLA, *, now: datetime, reason: str) -> None:
    """Replay one case's timeline under the policy version it already applies, as the live path
    would have had its events come in order: a policy change reaches the clocks of cases opened
    after it, or every case through an explicit recompute (`clocks_rebuild`), never through a
    late message. `case_sla` comes with its case; runs inside the case change's transaction
    without a savepoint of its own (the replay locks the case's clocks as it reads them)."""
    _forget([case_sla.case_id])
    with transaction.atomic(savepoint=False):
        _rebuild_batch([case_sla.case_id], now=now, reason=reason, dry_run=False, kept=case_sla)


def _rebuild_batch(
    case_ids, *, now, reason, dry_run, policies_by_client=None, kept: CaseSLA | None = None
) -> list[ClockDiff]:
    """Replay `case_ids` under their clients' current policies; with `kept`, the one case of
    that SLA state under its own policy version (`_replay_in_place`)."""
    if kept is not None:
        cases = {kept.case_id: kept.case}
        existing_sla = {kept.case_id: kept}
    else:
        cases = {c.pk: c for c in Case.objects.filter(pk__in=case_ids).select_related("customer")}
        existing_sla = {s.case_id: s for s in CaseSLA.objects.filter(case_id__in=cases)}
    timeline = case_timelines(cases)
    openings: dict[int, dict] = {}
    if kept is None:  # matched again: on what the case was opened with
        openings = dict(
            CaseEvent.objects.filter(case_id__in=list(cases), kind=CaseEventKind.OPENED).values_list(
                "case_id", "after"
            )
        )
    clock_rows: dict[int, dict[tuple[str, int], SLAClock]] = {pk: {} for pk in cases}
    clock_query = (
        SLAClock.objects.filter(case_id__in=cases, metric__in=ENGINE_METRICS)
        .select_related("breach")
        .order_by("pk")
    )
    if not dry_run:
        clock_query = clock_query.select_for_update(of=("self",))
    for row in clock_query:
        clock_rows[row.case_id][(row.metric, row.cycle)] = row

    diffs: list[ClockDiff] = []
    pending = _Pending()
    slas_to_create, slas_to_update, clocks_to_create, clocks_to_update = [], [], [], []
    new_clock_changes: list[tuple[SLAClock, list[engine.Change], str]] = []
    breaches_to_void, breaches_to_restore = [], []
    for case_id, case in cases.items():
        case_sla = existing_sla.get(case_id) or CaseSLA(case=case, client_id=case.client_id)
        if kept is None:
            _policy_rematch(
                case_sla, case, timeline[case_id], policies_by_client, openings.get(case_id) or {}
            )
        old_rows = clock_rows[case_id]
        new_clocks: dict[tuple[str, int], tuple[engine.Clock, list[engine.Change]]] = {}
        state = None
        if case_sla.policy_id is not None:
            snapshot = _snapshot(case_sla, calendar_compiled(case_sla.calendar))
            state = engine.CaseClocks(policy=snapshot)
            per_clock: dict[tuple[str, int], list[engine.Change]] = {}
            for engine_event in timeline[case_id]:
                for change in engine.apply(state, engine_event):
                    per_clock.setdefault((change.metric, change.cycle), []).append(change)
            for clock in state.clocks:
                per_clock.setdefault(clock.key, []).extend(engine.assess(clock, now))
                new_clocks[clock.key] = (clock, per_clock.get(clock.key, []))
            case_sla.engine_state = _state_json(state)
            case_sla.last_event_at = timeline[case_id][-1].at if timeline[case_id] else None
        for key in sorted(set(old_rows) | set(new_clocks)):
            old = old_rows.get(key)
            new = new_clocks.get(key)
            old_breached = old is not None and old.breached_at is not None and _breach_live(old)
            new_breached = new is not None and new[0].breached_at is not None
            if (
                old is not None
                and new is not None
                and _to_engine(old) == new[0]
                and old_breached == new_breached
            ):
                continue
            diffs.append(
                ClockDiff(
                    case_id=case_id,
                    metric=key[0],
                    cycle=key[1],
                    old_due_at=old.due_at if old else None,
                    new_due_at=new[0].due_at if new else None,
                    old_breached=old_breached,
                    new_breached=new_breached,
                    created=old is None,
                    removed=new is None,
                )
            )
            if dry_run:
                continue
            if old is None:
                row = _new_clock_row(case, case_sla, new[0])
                clocks_to_create.append(row)
                new_clock_changes.append((row, new[1], case.priority))
            elif new is None:
                old.stopped_at = old.stopped_at or now
                old.outcome = old.outcome or ""
                clocks_to_update.append(old)
                if old_breached:
                    breaches_to_void.append(old.breach)
                pending.events.append(
                    ClockEvent(
                        clock=old,
                        case_id=case_id,
                        client_id=case.client_id,
                        kind="recomputed",
                        at=now,
                        reason=reason[:300],
                        detail={"removed": True},
                    )
                )
            else:
                old_due, old_warned = old.due_at, old.warned_at
                had_breach_row = hasattr(old, "breach")
                _copy_to_row(new[0], old)
                if old_warned is not None and old.warned_at is None:
                    old.warned_at = old_warned  # a warning given stays given (never twice)
                elif old_warned is None and old.warned_at is not None:
                    warned = engine.Change(key[0], key[1], "warned", old.warned_at)
                    _record_changes(pending, case, old, [warned], DetectedBy.REPLAY, reason)
                old.policy_id, old.policy_version = case_sla.policy_id, case_sla.policy_version
                old.calendar_id = case_sla.calendar_id
                clocks_to_update.append(old)
                pending.events.append(
                    ClockEvent(
                        clock=old,
                        case_id=case_id,
                        client_id=case.client_id,
                        kind="recomputed",
                        at=now,
                        reason=reason[:300],
                        detail={
                            "old_due_at": old_due.isoformat() if old_due else None,
                            "due_at": new[0].due_at.isoformat() if new[0].due_at else None,
                            "breached": new_breached,
                        },
                    )
                )
                if new_breached and not old_breached:
                    if had_breach_row:
                        old.breach.breached_at = new[0].breached_at
                        breaches_to_restore.append(old.breach)
                    else:
                        _record_changes(
                            pending,
                            case,
                            old,
                            [engine.Change(key[0], key[1], "breached", new[0].breached_at)],
                            DetectedBy.REPLAY,
                            reason,
                        )
                elif old_breached and not new_breached:
                    breaches_to_void.append(old.breach)
        if not dry_run:
            (slas_to_update if case_sla.pk else slas_to_create).append(case_sla)
    if dry_run:
        return diffs
    rows_insert(CaseSLA, slas_to_create)
    if kept is not None:
        row_update(kept, ["engine_state", "last_event_at", "updated_at"])
    else:
        CaseSLA.objects.bulk_update(
            slas_to_update,
            [
                "policy",
                "policy_version",
                "calendar",
                "snapshot",
                "unmatched_reason",
                "engine_state",
                "last_event_at",
            ],
            batch_size=1000,
        )
    rows_insert(SLAClock, clocks_to_create)
    SLAClock.objects.bulk_update(
        clocks_to_update, [*_CLOCK_FIELDS, "policy", "policy_version", "calendar"], batch_size=1000
    )
    for row, changes, priority in new_clock_changes:
        _record_changes(
            pending, cases[row.case_id], row, changes, DetectedBy.REPLAY, reason, priority=priority
        )
    for breach in breaches_to_void:
        breach.voided_at, breach.void_reason = now, f"recomputed: {reason}"[:300]
    for breach in breaches_to_restore:
        breach.voided_at, breach.void_reason = None, ""
    Breach.objects.bulk_update(
        [*breaches_to_void, *breaches_to_restore], ["voided_at", "void_reason", "breached_at"]
    )
    pending.flush()
    return diffs


def _policy_rematch(
    case_sla: CaseSLA,
    case: Case,
    timeline: list[engine.EngineEvent],
    policies_by_client: dict,
    opening: dict,
) -> None:
    """Point `case_sla` at the policy the client's current policies give the case, matched as
    at its opening (`opening`: its OPENED record's `after`): the queue and segment it had then,
    not where it was moved since (a case moved to another queue keeps the policy it was opened
    under, as live matching does)."""
    if case.client_id not in policies_by_client:
        policies_by_client[case.client_id] = policies_for_client(case.client_id)
    queue_id = opening.get("queue")
    segment = opening.get("segment")
    choice = policy_match(
        policies=policies_by_client[case.client_id],
        channel=opening.get("channel") or case.origin_channel,
        priority=_opening_priority(timeline, case.priority),
        queue_id=queue_id if isinstance(queue_id, int) else case.queue_id,
        segment=segment if isinstance(segment, str) else case.customer.segment,
    )
    case_sla.policy = choice.policy
    case_sla.policy_version = choice.version
    case_sla.calendar = choice.policy.calendar if choice.policy else None
    case_sla.snapshot = policy_snapshot_data(choice.policy) if choice.policy else {}
    case_sla.unmatched_reason = "" if choice.policy else choice.reason


def _opening_priority(events: list[engine.EngineEvent], current: str) -> str:
    for event in events:
        if event.kind == engine.OPENED and event.priority:
            return event.priority
    return current


def _breach_live(row: SLAClock) -> bool:
    try:
        return row.breach.voided_at is None
    except Breach.DoesNotExist:
        return True


# --- Breaches ------------------------------------------------------------------------------------


def breaches_record(breaches: list[Breach]) -> None:
    """Insert one breach per clock. A clock whose earlier breach was voided by a recompute and
    that is breached again gets that row back (the unique constraint keeps it one per clock)."""
    if not breaches:
        return
    Breach.objects.bulk_create(breaches, batch_size=2000, ignore_conflicts=True)
    due = {b.clock_id if b.clock_id else b.clock.pk: b.breached_at for b in breaches}
    for breach in Breach.objects.filter(clock_id__in=due, voided_at__isnull=False):
        breach.voided_at, breach.void_reason, breach.breached_at = None, "", due[breach.clock_id]
        breach.save(update_fields=["voided_at", "void_reason", "breached_at"])


@transaction.atomic
def breach_acknowledge(*, breach: Breach, actor: Any) -> Breach:
    """Mark a breach as seen by `actor` (once; later calls keep the first acknowledgement)."""
    updated = Breach.objects.filter(pk=breach.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=actor
    )
    breach.refresh_from_db()
    if not updated and breach.acknowledged_at is None:
        raise ApplicationError("This breach could not be acknowledged.")
    return breach


# --- Standalone clocks (escalation acceptance and other timed promises) -----------------------


@transaction.atomic
def clock_start(
    *,
    case: Case,
    metric: str,
    cycle: int,
    target_seconds: int,
    calendar: BusinessCalendar,
    started_at: datetime,
    warning_percent: int = 80,
    reason: str = "",
) -> SLAClock:
    """Start a clock that no case event drives (e.g. an escalation's acceptance by its tier).

    The sweep warns and breaches it like any other clock; `clock_stop` stops it. Idempotent for
    one (case, metric, cycle): starting it again returns the existing clock."""
    if metric in ENGINE_METRICS:
        raise ApplicationError.for_field(
            "metric", f"{metric} clocks follow the case; they cannot be started by hand."
        )
    _forget([case.pk])
    if calendar.client_id != case.client_id:
        raise ApplicationError.for_field("calendar", "The calendar belongs to another client.")
    existing = SLAClock.objects.filter(case=case, metric=metric, cycle=cycle).first()
    if existing is not None:
        return existing
    clock = engine.Clock(metric=metric, cycle=cycle, target_seconds=target_seconds, started_at=started_at)
    snapshot = engine.PolicySnapshot(
        policy_id=None,
        version=None,
        calendar=calendar_compiled(calendar),
        targets={},
        warning_percent=warning_percent,
    )
    engine.schedule(clock, snapshot)
    row = SLAClock(
        client_id=case.client_id,
        case=case,
        channel=case.origin_channel,
        queue_id=case.queue_id,
        calendar=calendar,
        metric=metric,
        cycle=cycle,
        started_at=started_at,
        warning_percent=warning_percent,
    )
    _copy_to_row(clock, row)
    row.save()
    ClockEvent.objects.create(
        clock=row,
        case=case,
        client_id=case.client_id,
        kind="started",
        at=started_at,
        detail={"target_seconds": target_seconds, "due_at": clock.due_at.isoformat()},
        reason=reason[:300],
    )
    return row


@transaction.atomic
def clock_stop(*, clock: SLAClock, at: datetime, reason: str = "") -> SLAClock:
    """Stop a standalone clock at `at`: met, or missed with its breach (and warning) recorded
    once. Stopping a stopped clock changes nothing."""
    row = SLAClock.objects.select_for_update().select_related("case", "calendar").get(pk=clock.pk)
    if row.stopped_at is not None:
        return row
    if row.metric in ENGINE_METRICS:
        raise ApplicationError("This clock follows its case and stops with it.")
    snapshot = engine.PolicySnapshot(
        policy_id=None,
        version=None,
        calendar=calendar_compiled(row.calendar),
        targets={},
        warning_percent=row.warning_percent,
    )
    state = engine.CaseClocks(policy=snapshot, clocks=[_to_engine(row)])
    changes = engine.stop(state, state.clocks[0], at, reason or "stopped")
    _copy_to_row(state.clocks[0], row)
    row.save(update_fields=[*_CLOCK_FIELDS, "updated_at"])
    pending = _Pending()
    _record_changes(pending, row.case, row, changes, DetectedBy.STOP, reason)
    pending.flush()
    return row
