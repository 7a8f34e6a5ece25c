"""Turn rows into what the templates show: clock badges with their live state, timeline entries.
No queries here: callers pass rows already fetched (and the names they refer to)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cases.choices import AuthorKind, CaseEventKind, CaseStatus, Channel, DeliveryStatus, Direction, Priority
from slas.models import Metric

METRIC_SHORT = {
    Metric.FIRST_RESPONSE: "First response",
    Metric.NEXT_RESPONSE: "Next response",
    Metric.RESOLUTION: "Resolution",
    Metric.ESCALATION_ACCEPTANCE: "Escalation acceptance",
}
STATE_LABELS = {
    "running": "Running",
    "at_risk": "At risk",
    "breached": "Breached",
    "paused": "Paused",
    "met": "Met",
    "missed": "Missed",
    "stopped": "Stopped",
}


def duration_text(seconds: float) -> str:
    """`2d 3h`, `3h 05m`, `4m 09s`, `12s` (the same format as workspace.js)."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def clock_state(clock, now: datetime) -> str:
    """The clock's state as of `now`: the stored one, moved on by time the sweep has not seen yet
    (a running clock past its warning time is at risk, past its due time breached)."""
    if clock.stopped_at is not None:
        return clock.outcome or "stopped"
    if clock.paused_since is not None:
        return "paused"
    if clock.breached_at is not None or (clock.due_at is not None and clock.due_at <= now):
        return "breached"
    if clock.warned_at is not None or (clock.warn_at is not None and clock.warn_at <= now):
        return "at_risk"
    return "running"


@dataclass(frozen=True)
class ClockView:
    metric: str
    label: str
    state: str
    state_label: str
    due_at: datetime | None
    warn_at: datetime | None
    stopped_at: datetime | None
    target_seconds: int
    remaining_text: str
    is_live: bool  # counts down in the page

    @property
    def css_state(self) -> str:
        return self.state.replace("_", "-")


def clock_view(clock, now: datetime) -> ClockView:
    state = clock_state(clock, now)
    label = METRIC_SHORT.get(clock.metric, clock.metric)
    if clock.metric == Metric.NEXT_RESPONSE or (
        clock.metric == Metric.ESCALATION_ACCEPTANCE and clock.cycle > 1
    ):
        label = f"{label} #{clock.cycle}"
    is_live = clock.stopped_at is None and clock.paused_since is None and clock.due_at is not None
    if is_live:
        left = (clock.due_at - now).total_seconds()
        remaining = f"{duration_text(left)} left" if left > 0 else f"{duration_text(left)} overdue"
    elif state == "paused":
        remaining = "paused"
    elif clock.stopped_at is not None:
        taken = (clock.stopped_at - clock.started_at).total_seconds()
        remaining = f"stopped after {duration_text(taken)}"
    else:
        remaining = ""
    return ClockView(
        metric=clock.metric,
        label=label,
        state=state,
        state_label=STATE_LABELS.get(state, state),
        due_at=clock.due_at,
        warn_at=clock.warn_at,
        stopped_at=clock.stopped_at,
        target_seconds=clock.target_seconds,
        remaining_text=remaining,
        is_live=is_live,
    )


METRIC_ORDER = {metric: index for index, metric in enumerate(METRIC_SHORT)}


def clock_views(clocks, now: datetime) -> list[ClockView]:
    """Badges of `clocks`: live ones first, each group in metric order (latest cycle first)."""
    ordered = sorted(
        clocks, key=lambda c: (c.stopped_at is not None, METRIC_ORDER.get(c.metric, 99), -c.cycle)
    )
    return [clock_view(clock, now) for clock in ordered]


def sentiment_label(value: float | None) -> str:
    if value is None:
        return "not scored"
    if value <= -0.05:
        return "negative"
    if value >= 0.05:
        return "positive"
    return "neutral"


# --- Timeline ----------------------------------------------------------------------------------


@dataclass
class TimelineItem:
    """One entry of the unified timeline: an interaction (message, call, note) or a case event."""

    id: int
    # message | call | note | handoff | status | priority | assignment | queue | tier | opened | other
    kind: str
    occurred_at: datetime
    who: str
    title: str
    detail: str = ""
    reason: str = ""
    interaction: Any = None
    call: dict = field(default_factory=dict)
    css: str = ""
    # The files that came with the message: name, size, and the kept file's id (None: too large
    # to keep, listed only).
    files: list[dict] = field(default_factory=list)


def _label(choices, value) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def _who(event) -> str:
    if event.actor is not None:
        return event.actor.get_full_name() or event.actor.get_username()
    return event.actor_label or "system"


def _call_facts(metadata: dict) -> dict:
    facts: dict[str, Any] = {}
    for key in ("wait_seconds", "talk_seconds"):
        value = metadata.get(key)
        if isinstance(value, int | float) and value >= 0:
            facts[key.removesuffix("_seconds")] = duration_text(value)
    if metadata.get("abandoned"):
        facts["outcome"] = "abandoned"
    elif metadata.get("answered") or metadata.get("call_answered"):
        facts["outcome"] = "answered"
    url = str(metadata.get("recording_url") or "")
    if url.startswith(("https://", "http://")):
        facts["recording_url"] = url  # only web links: never javascript: or data:
    return facts


def _files(interaction, kept: list) -> list[dict]:
    by_position = {row.position: row for row in kept}
    listed = (interaction.metadata or {}).get("attachments") or []
    return [
        {
            "name": str(item.get("filename") or f"attachment {position + 1}"),
            "size": item.get("size") or 0,
            "id": by_position[position].pk if position in by_position else None,
        }
        for position, item in enumerate(listed)
        if isinstance(item, dict)
    ]


def _interaction_item(event, kept: list) -> TimelineItem:
    interaction = event.interaction
    author = interaction.author
    if author is not None:
        who = author.get_full_name() or author.get_username()
    elif interaction.author_kind == AuthorKind.CUSTOMER:
        who = "Customer"
    else:
        who = event.actor_label or _label(AuthorKind, interaction.author_kind)
    channel = _label(Channel, interaction.channel)
    if interaction.direction == Direction.NOTE:
        kind, title = "note", "Internal note"
    elif interaction.channel == Channel.VOICE:
        kind = "call"
        title = "Inbound call" if interaction.direction == Direction.INBOUND else "Call (agent)"
    else:
        kind = "message"
        title = f"{channel} {'from customer' if interaction.direction == Direction.INBOUND else 'reply'}"
        if interaction.author_kind == AuthorKind.BOT:
            title = f"{channel} bot message"
    metadata = interaction.metadata or {}
    detail = ""
    if metadata.get("automatic") and interaction.author_kind == AuthorKind.SYSTEM:  # out of office...
        title, detail = f"Automatic {channel.lower()} reply", f"Sent by a program: {metadata['automatic']}"
    elif interaction.delivery_status == DeliveryStatus.FAILED and metadata.get("delivery_detail"):
        detail = f"Not delivered: {metadata['delivery_detail']}"
    return TimelineItem(
        id=event.pk,
        kind=kind,
        occurred_at=event.occurred_at,
        who=who,
        title=title,
        detail=detail,
        interaction=interaction,
        call=_call_facts(interaction.metadata or {}) if interaction.channel == Channel.VOICE else {},
        css=f"item--{kind} item--{interaction.direction}",
        files=_files(interaction, kept),
    )


def timeline_item(
    event,
    *,
    user_names: dict[int, str],
    queue_names: dict[int, str],
    attachments: dict[int, list] | None = None,
) -> TimelineItem:
    """One case event as a timeline entry. `user_names` / `queue_names` resolve the ids that
    assignment and queue events carry, `attachments` the files kept with interactions, by
    interaction id (each fetched once for the page)."""
    if event.kind == CaseEventKind.INTERACTION and event.interaction is not None:
        return _interaction_item(event, (attachments or {}).get(event.interaction_id, []))
    before, after = event.before or {}, event.after or {}
    kind, title, detail = "other", _label(CaseEventKind, event.kind), ""
    if event.kind == CaseEventKind.OPENED:
        kind = "opened"
        title = f"Case opened on {_label(Channel, after.get('channel', ''))}"
        detail = f"Priority {_label(Priority, after.get('priority', ''))}"
    elif event.kind == CaseEventKind.CHANNEL_HANDOFF:
        kind = "handoff"
        title = "Channel handoff"
        detail = f"{_label(Channel, before.get('channel', ''))} → {_label(Channel, after.get('channel', ''))}"
    elif event.kind in (
        CaseEventKind.STATUS_CHANGED,
        CaseEventKind.RESOLVED,
        CaseEventKind.REOPENED,
        CaseEventKind.CLOSED,
    ):
        kind = "status"
        detail = (
            f"{_label(CaseStatus, before.get('status', ''))} → {_label(CaseStatus, after.get('status', ''))}"
        )
    elif event.kind == CaseEventKind.PRIORITY_CHANGED:
        kind = "priority"
        detail = (
            f"{_label(Priority, before.get('priority', ''))} → {_label(Priority, after.get('priority', ''))}"
        )
    elif event.kind == CaseEventKind.ASSIGNED:
        kind = "assignment"
        old, new = before.get("assignee"), after.get("assignee")
        detail = f"{user_names.get(old, 'unassigned') if old else 'unassigned'} → " + (
            user_names.get(new, f"user {new}") if new else "unassigned"
        )
    elif event.kind == CaseEventKind.QUEUE_CHANGED:
        kind = "queue"
        detail = f"{queue_names.get(before.get('queue'), '?')} → {queue_names.get(after.get('queue'), '?')}"
    elif event.kind == CaseEventKind.TIER_CHANGED:
        kind = "tier"
        title = "Escalated" if (after.get("tier") or 0) > (before.get("tier") or 0) else "Tier lowered"
        detail = f"T{before.get('tier', '?')} → T{after.get('tier', '?')}"
    elif event.kind == CaseEventKind.CUSTOMER_MERGED:
        kind = "other"
        detail = "Customer records merged"
    elif event.kind == CaseEventKind.UPDATED:
        detail = "; ".join(f"{key}: {before.get(key, '')} → {value}" for key, value in after.items())
    elif event.kind == CaseEventKind.SURVEY:
        kind = "other"
        detail = ", ".join(f"{k.upper()} {v}" for k, v in after.items() if v is not None)
    return TimelineItem(
        id=event.pk,
        kind=kind,
        occurred_at=event.occurred_at,
        who=_who(event),
        title=title,
        detail=detail,
        reason=event.reason,
        css=f"item--{kind}",
    )


def referenced_ids(events) -> tuple[set[int], set[int]]:
    """User ids and queue ids that assignment and queue events refer to."""
    users, queues = set(), set()
    for event in events:
        if event.kind == CaseEventKind.ASSIGNED:
            for side in (event.before or {}, event.after or {}):
                if isinstance(side.get("assignee"), int):
                    users.add(side["assignee"])
        elif event.kind == CaseEventKind.QUEUE_CHANGED:
            for side in (event.before or {}, event.after or {}):
                if isinstance(side.get("queue"), int):
                    queues.add(side["queue"])
    return users, queues
