"""Governance fixtures: a client with an SLA policy, tiers and staff, and helpers that reach
breaches the way production does (open cases in the past, then sweep)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases import services as cases
from cases.choices import Channel, Priority, Role
from slas.sweep import sla_sweep
from tests.factories import CustomerFactory, QueueFactory, SLAPolicyFactory, UserFactory
from tests.governance.factories import EscalationTierFactory

# A Monday, 14:00 UTC; all policies here run on 24x7 calendars.
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FR, NR, RES = "first_response", "next_response", "resolution"
TARGETS = {
    (FR, "urgent"): 600,
    (FR, "high"): 1800,
    (FR, "normal"): 3600,
    (FR, "low"): 7200,
    (RES, "urgent"): 4 * 3600,
    (RES, "high"): 8 * 3600,
    (RES, "normal"): 24 * 3600,
    (RES, "low"): 72 * 3600,
}


@pytest.fixture
def policy_a(client_a):
    return SLAPolicyFactory(client=client_a, name="Alpha standard", targets=TARGETS)


@pytest.fixture
def policy_b(client_b):
    return SLAPolicyFactory(client=client_b, name="Beta standard", targets=TARGETS)


@pytest.fixture
def governance_a2(client_a):
    """A second governance user of client A (four eyes)."""
    return UserFactory(username="governance-a2", role=Role.GOVERNANCE, clients=[client_a])


@pytest.fixture
def governance_b(client_b):
    return UserFactory(username="governance-b", role=Role.GOVERNANCE, clients=[client_b])


@pytest.fixture
def t2_owner(client_a):
    return UserFactory(username="t2-owner", role=Role.AGENT, clients=[client_a], email="t2@example.com")


@pytest.fixture
def t3_owner(client_a):
    return UserFactory(username="t3-owner", role=Role.SUPERVISOR, clients=[client_a], email="t3@example.com")


@pytest.fixture
def tiers_a(client_a, policy_a, t2_owner, t3_owner):
    """T1, T2 and T3 of client A on the policy's 24x7 calendar: accept within 15 / 30 / 60 min."""
    return {
        level: EscalationTierFactory(
            client=client_a,
            level=level,
            name=name,
            acceptance_target_seconds=minutes * 60,
            calendar=policy_a.calendar,
            owners=owners,
        )
        for level, name, minutes, owners in (
            (1, "Frontline", 15, []),
            (2, "Specialists", 30, [t2_owner]),
            (3, "Liaison", 60, [t3_owner]),
        )
    }


@pytest.fixture
def tiers_b(client_b, policy_b):
    return {
        level: EscalationTierFactory(
            client=client_b, level=level, name=f"B{level}", calendar=policy_b.calendar
        )
        for level in (1, 2, 3)
    }


@pytest.fixture
def open_at(db):
    """`open_at(client, at=T0, priority=..., channel=..., queue=..., customer=...)` opens a case
    through the lifecycle service with a historical opening time."""

    def _open(
        client, *, at=T0, priority=Priority.NORMAL, channel=Channel.EMAIL, queue=None, customer=None, **kw
    ):
        return cases.case_open(
            client=client,
            customer=customer or CustomerFactory(client=client),
            queue=queue or QueueFactory(client=client),
            subject=kw.pop("subject", "Router keeps restarting"),
            channel=channel,
            priority=priority,
            opened_at=at,
            **kw,
        )

    return _open


def sweep_at(at):
    return sla_sweep(now=at)


def after(**kwargs):
    return T0 + timedelta(**kwargs)


@pytest.fixture
def without_live_tasks():
    """Unsubscribe governance's task-enqueueing handlers for the test: in `transaction=True`
    tests commits are real and the handlers would run the tasks before the test does."""
    from cases import events as case_events
    from config import events as dispatcher
    from governance import handlers
    from slas import events as sla_events

    pairs = [
        (sla_events.ClocksWarned, handlers.on_clocks_warned),
        (sla_events.ClocksBreached, handlers.on_clocks_breached),
        (case_events.CaseOpened, handlers.on_case_trigger),
        (case_events.CaseReopened, handlers.on_case_trigger),
        (case_events.CasePriorityChanged, handlers.on_case_trigger),
        (case_events.CaseSentimentChanged, handlers.on_case_trigger),
        (case_events.InteractionAppended, handlers.on_interaction),
        (case_events.CaseStatusChanged, handlers.on_case_status),
    ]
    for event_type, handler in pairs:
        dispatcher.unsubscribe(event_type, handler, phase=handlers.PHASE)
    yield
    for event_type, handler in pairs:
        dispatcher.subscribe(event_type, handler, phase=handlers.PHASE)
