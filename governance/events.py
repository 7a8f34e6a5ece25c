"""Events the governance domain publishes (through `config.events`), e.g. for outbound webhooks
(`escalation.created`). Consumers subscribe in their `AppConfig.ready()`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class EscalationEvent:
    escalation_id: int
    case_id: int
    client_id: int
    occurred_at: datetime


@dataclass(frozen=True)
class EscalationCreated(EscalationEvent):
    from_tier: int
    to_tier: int
    trigger: str


@dataclass(frozen=True)
class EscalationAccepted(EscalationEvent):
    turnaround_seconds: int


@dataclass(frozen=True)
class EscalationClosed(EscalationEvent):
    status: str
