"""Events the case domain publishes (through `config.events`) after each lifecycle change.

Each carries its own `occurred_at`, so a consumer (the SLA engine) computes from the time the
thing happened, not the time it was recorded: synced history gets the clocks it would have had.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CaseEventBase:
    case_id: int
    client_id: int
    occurred_at: datetime


@dataclass(frozen=True)
class CaseOpened(CaseEventBase):
    priority: str
    channel: str
    queue_id: int
    status: str
    customer_segment: str
    customer_is_vip: bool = False
    # The customer's inbound message that came with the opening (`case_open_with_message`), so
    # the SLA engine applies both at once; its InteractionAppended says `opens_case`.
    first_message_at: datetime | None = None


@dataclass(frozen=True)
class CasesOpened:
    """Cases of one client opened together (bulk sync): one event for the batch, so the SLA
    engine, webhooks and governance handle it in bulk. Each opening is the `CaseOpened` opening
    that case alone would publish."""

    client_id: int
    openings: tuple[CaseOpened, ...]


@dataclass(frozen=True)
class CaseStatusChanged(CaseEventBase):
    old_status: str
    new_status: str


@dataclass(frozen=True)
class CasePriorityChanged(CaseEventBase):
    old_priority: str
    new_priority: str


@dataclass(frozen=True)
class CaseAssigned(CaseEventBase):
    old_assignee_id: int | None
    new_assignee_id: int | None


@dataclass(frozen=True)
class CaseQueueChanged(CaseEventBase):
    old_queue_id: int
    new_queue_id: int


@dataclass(frozen=True)
class CaseTierChanged(CaseEventBase):
    old_tier: int
    new_tier: int


@dataclass(frozen=True)
class InteractionAppended(CaseEventBase):
    interaction_id: int
    channel: str
    direction: str
    author_kind: str
    body: str
    opens_case: bool = False


@dataclass(frozen=True)
class CaseReopened(CaseEventBase):
    reopen_count: int


@dataclass(frozen=True)
class CaseSentimentChanged(CaseEventBase):
    sentiment: float


@dataclass(frozen=True)
class CustomersMerged:
    client_id: int
    survivor_id: int
    merged_id: int
    moved_case_ids: tuple[int, ...]
    occurred_at: datetime
