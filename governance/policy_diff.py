"""SLA policy change control, the pure part: the diff between two policy data dicts and the
what-if comparison of clock outcomes. No Django.

Policy data (`governance.services.policy_changes.policy_data`) is JSON:
``{"name", "order", "is_active", "channels", "priorities", "segments", "queues": [ids],
"calendar": id, "warning_percent", "pause_statuses": {metric: [statuses]},
"targets": {"metric:priority": seconds}}`` - the last three in the shape of
`slas.services.policy_snapshot_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

FIELDS = (
    ("name", "Name"),
    ("order", "Order"),
    ("is_active", "Active"),
    ("channels", "Channels"),
    ("priorities", "Priorities"),
    ("segments", "Customer segments"),
    ("queues", "Queues"),
    ("calendar", "Calendar"),
    ("warning_percent", "Warning at % of target"),
    ("pause_statuses", "Pause statuses"),
)
LIST_FIELDS = {"channels", "priorities", "segments", "queues"}

MET, MISSED, RUNNING = "met", "missed", "running"


@dataclass(frozen=True)
class DiffLine:
    field: str
    label: str
    old: object
    new: object

    def as_dict(self) -> dict:
        return {"field": self.field, "label": self.label, "old": self.old, "new": self.new}


def _norm(name: str, value):
    if name in LIST_FIELDS:
        return sorted(value or [])
    if name == "pause_statuses":
        return {metric: sorted(statuses) for metric, statuses in sorted((value or {}).items()) if statuses}
    return value


def policy_diff(base: Mapping, proposed: Mapping) -> list[DiffLine]:
    """Every field and target that differs, in a stable order; targets as ``target
    metric:priority`` lines with None for absent."""
    lines: list[DiffLine] = []
    for name, label in FIELDS:
        old, new = _norm(name, base.get(name)), _norm(name, proposed.get(name))
        if old != new:
            lines.append(DiffLine(name, label, old, new))
    old_targets, new_targets = base.get("targets") or {}, proposed.get("targets") or {}
    for key in sorted(set(old_targets) | set(new_targets)):
        old, new = old_targets.get(key), new_targets.get(key)
        if old != new:
            metric, _, priority = key.partition(":")
            lines.append(
                DiffLine(f"target:{key}", f"Target {metric.replace('_', ' ')} / {priority}", old, new)
            )
    return lines


def whatif_compare(
    current: Mapping[tuple[int, str, int], str], proposed: Mapping[tuple[int, str, int], str]
) -> dict:
    """Compare clock outcomes (met / missed / running) keyed by (case id, metric, cycle): the
    stored ones against the ones replayed under the proposal. Attainment is met / (met + missed)."""
    counts = {
        "clocks": 0,
        "met_to_missed": 0,
        "missed_to_met": 0,
        "still_met": 0,
        "still_missed": 0,
        "undecided": 0,
        "only_current": 0,
        "only_proposed": 0,
    }
    by_metric: dict[str, dict[str, int]] = {}
    for key in sorted(set(current) | set(proposed)):
        metric = key[1]
        row = by_metric.setdefault(metric, {"clocks": 0, "met_to_missed": 0, "missed_to_met": 0})
        old, new = current.get(key), proposed.get(key)
        if old is None:
            counts["only_proposed"] += 1
            continue
        if new is None:
            counts["only_current"] += 1
            continue
        counts["clocks"] += 1
        row["clocks"] += 1
        if RUNNING in (old, new):
            counts["undecided"] += 1
        elif old == MET and new == MISSED:
            counts["met_to_missed"] += 1
            row["met_to_missed"] += 1
        elif old == MISSED and new == MET:
            counts["missed_to_met"] += 1
            row["missed_to_met"] += 1
        elif old == MET:
            counts["still_met"] += 1
        else:
            counts["still_missed"] += 1

    def attainment(outcomes: Mapping) -> float | None:
        met = sum(1 for value in outcomes.values() if value == MET)
        missed = sum(1 for value in outcomes.values() if value == MISSED)
        return round(100 * met / (met + missed), 2) if met + missed else None

    return {
        **counts,
        "attainment_current": attainment(current),
        "attainment_proposed": attainment(proposed),
        "by_metric": by_metric,
    }
