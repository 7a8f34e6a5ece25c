"""Events the SLA engine publishes. Each carries a batch (the sweep records thousands at once);
consumers write their outbox rows for the whole batch in one statement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ClockAlert:
    clock_id: int
    case_id: int
    client_id: int
    queue_id: int
    metric: str
    cycle: int
    priority: str
    channel: str
    at: datetime
    detected_by: str


@dataclass(frozen=True)
class ClocksWarned:
    """`sla.warning`: clocks that crossed their warning threshold (at risk)."""

    alerts: tuple[ClockAlert, ...]


@dataclass(frozen=True)
class ClocksBreached:
    """`sla.breached`: clocks that passed their due time; one Breach row each."""

    alerts: tuple[ClockAlert, ...]


@dataclass(frozen=True)
class ClocksMet:
    """`sla.met`: clocks stopped on time."""

    alerts: tuple[ClockAlert, ...]
