"""The context summary an escalation carries, so the next tier need not ask the customer again.
Plain text built from a snapshot of the case and its timeline; no Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

MESSAGE_CHARS = 280


@dataclass(frozen=True)
class Message:
    at: datetime
    channel: str
    author: str  # "customer", "agent", "bot", "note"
    body: str


@dataclass(frozen=True)
class ClockLine:
    metric: str
    state: str  # "met", "missed", "breached", "at risk", "running", "paused"
    due_at: datetime | None


@dataclass(frozen=True)
class PastEscalation:
    at: datetime
    from_tier: int
    to_tier: int
    trigger: str
    reason: str
    status: str


@dataclass(frozen=True)
class SummaryFacts:
    subject: str
    customer: str
    is_vip: bool
    segment: str
    language: str
    priority: str
    status: str
    tier: int
    queue: str
    origin_channel: str
    current_channel: str
    opened_at: datetime
    now: datetime
    reopen_count: int
    sentiment: float | None
    channel_path: list[tuple[datetime, str, str]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    clocks: list[ClockLine] = field(default_factory=list)
    escalations: list[PastEscalation] = field(default_factory=list)
    interaction_count: int = 0


def _age(seconds: float) -> str:
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _clip(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _sentiment_label(value: float | None) -> str:
    if value is None:
        return "not scored"
    mood = "negative" if value <= -0.05 else "positive" if value >= 0.05 else "neutral"
    return f"{value:+.2f} ({mood})"


def render_context_summary(facts: SummaryFacts, *, last_customer: int = 3, last_agent: int = 2) -> str:
    """A few lines: who, what, how long, which channels, SLA state, what the customer said last,
    what the agents answered and noted, and earlier escalations."""
    lines = [
        f"Case: {facts.subject}",
        f"Customer: {facts.customer}"
        + (" (VIP)" if facts.is_vip else "")
        + f", segment {facts.segment}, language {facts.language}",
        f"Priority {facts.priority}, status {facts.status}, tier T{facts.tier}, queue {facts.queue}",
        f"Open for {_age((facts.now - facts.opened_at).total_seconds())} "
        f"(since {facts.opened_at:%Y-%m-%d %H:%M} UTC), {facts.interaction_count} interactions"
        + (f", reopened {facts.reopen_count} times" if facts.reopen_count else ""),
        f"Sentiment: {_sentiment_label(facts.sentiment)}",
    ]
    path = [facts.origin_channel] + [new for _, _, new in facts.channel_path]
    if len(path) > 1:
        lines.append("Channels: " + " → ".join(path))
    else:
        lines.append(f"Channel: {facts.current_channel}")
    if facts.clocks:
        lines.append(
            "SLA: "
            + "; ".join(
                f"{c.metric.replace('_', ' ')} {c.state}"
                + (f" (due {c.due_at:%Y-%m-%d %H:%M} UTC)" if c.due_at and c.state != "met" else "")
                for c in facts.clocks
            )
        )
    customer = [m for m in facts.messages if m.author == "customer"][-last_customer:]
    if customer:
        lines.append("Customer said:")
        lines += [f"  - {m.at:%m-%d %H:%M} {m.channel}: {_clip(m.body)}" for m in customer]
    agent = [m for m in facts.messages if m.author == "agent"][-last_agent:]
    if agent:
        lines.append("Agents answered:")
        lines += [f"  - {m.at:%m-%d %H:%M} {m.channel}: {_clip(m.body)}" for m in agent]
    notes = [m for m in facts.messages if m.author == "note"][-last_agent:]
    if notes:
        lines.append("Internal notes:")
        lines += [f"  - {m.at:%m-%d %H:%M}: {_clip(m.body)}" for m in notes]
    if facts.escalations:
        lines.append("Earlier escalations:")
        lines += [
            f"  - {e.at:%m-%d %H:%M} T{e.from_tier}→T{e.to_tier} ({e.trigger}, {e.status}): {_clip(e.reason)}"
            for e in facts.escalations
        ]
    return "\n".join(lines)
