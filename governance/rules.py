"""Escalation rule matching and tier selection: plain functions over dataclasses, no Django.

`governance.services.triggers` loads the client's rules and the case once, builds these
snapshots, asks `rules_matching`, then applies the actions of each rule returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SLA_WARNING = "sla_warning"
SLA_BREACH = "sla_breach"
NEGATIVE_SENTIMENT = "negative_sentiment"
VIP_CUSTOMER = "vip_customer"
REOPENED = "reopened"
PRIORITY_RAISED = "priority_raised"

PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


@dataclass(frozen=True)
class RuleSpec:
    """What matching needs of an `EscalationRule`."""

    id: int
    order: int
    trigger: str
    channels: frozenset[str] = frozenset()
    priorities: frozenset[str] = frozenset()
    queue_ids: frozenset[int] = frozenset()
    metrics: frozenset[str] = frozenset()
    sentiment_threshold: float = -0.5
    reopen_count: int = 2
    stop_processing: bool = False


@dataclass(frozen=True)
class CaseFacts:
    """The case as the rule sees it, at evaluation time."""

    channel: str
    priority: str
    queue_id: int
    is_vip: bool = False


@dataclass(frozen=True)
class Occurrence:
    """One trigger occurrence: what happened and its exactly-once key."""

    trigger: str
    key: str
    metric: str = ""
    sentiment_before: float | None = None
    sentiment_after: float | None = None
    reopen_count: int = 0
    priority_before: str = ""
    priority_after: str = ""
    extra: dict = field(default_factory=dict, compare=False)


def _conditions_hold(rule: RuleSpec, case: CaseFacts) -> bool:
    if rule.channels and case.channel not in rule.channels:
        return False
    if rule.priorities and case.priority not in rule.priorities:
        return False
    return not (rule.queue_ids and case.queue_id not in rule.queue_ids)


def _trigger_holds(rule: RuleSpec, case: CaseFacts, occurrence: Occurrence) -> bool:
    trigger = occurrence.trigger
    if trigger in (SLA_WARNING, SLA_BREACH):
        return not rule.metrics or occurrence.metric in rule.metrics
    if trigger == NEGATIVE_SENTIMENT:
        after, before = occurrence.sentiment_after, occurrence.sentiment_before
        if after is None or after >= rule.sentiment_threshold:
            return False
        # Fire when the rolling sentiment crosses below the threshold, not on every message below.
        return before is None or before >= rule.sentiment_threshold
    if trigger == VIP_CUSTOMER:
        return case.is_vip
    if trigger == REOPENED:
        return occurrence.reopen_count >= rule.reopen_count
    if trigger == PRIORITY_RAISED:
        before = PRIORITY_RANK.get(occurrence.priority_before, -1)
        after = PRIORITY_RANK.get(occurrence.priority_after, -1)
        return before >= 0 and after > before
    return False


def rules_matching(rules: Iterable[RuleSpec], case: CaseFacts, occurrence: Occurrence) -> list[RuleSpec]:
    """The rules that fire for `occurrence` on `case`, in order; a rule with `stop_processing`
    that fires ends the list."""
    fired: list[RuleSpec] = []
    for rule in sorted(rules, key=lambda r: (r.order, r.id)):
        if rule.trigger != occurrence.trigger:
            continue
        if _conditions_hold(rule, case) and _trigger_holds(rule, case, occurrence):
            fired.append(rule)
            if rule.stop_processing:
                break
    return fired


def tier_after(tier_action: str, current: int) -> int | None:
    """The tier a rule's tier action raises a case at `current` to, or None when it does not
    raise it (no tier action, or the case is already there or above)."""
    if not tier_action:
        return None
    target = current + 1 if tier_action == "next" else int(tier_action)
    if target > 3 or target <= current:
        return None
    return target


@dataclass(frozen=True)
class TierSpec:
    id: int
    level: int
    queue_ids: frozenset[int] = frozenset()


def tier_choose(tiers: Sequence[TierSpec], *, level: int, queue_id: int) -> TierSpec | None:
    """The active tier of `level` for a case in `queue_id`: one that lists the queue first, else
    one that lists no queue (serves all); the lowest id among equals."""
    candidates = [t for t in tiers if t.level == level]
    specific = sorted((t for t in candidates if queue_id in t.queue_ids), key=lambda t: t.id)
    if specific:
        return specific[0]
    general = sorted((t for t in candidates if not t.queue_ids), key=lambda t: t.id)
    return general[0] if general else None
