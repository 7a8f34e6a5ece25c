"""Workspace fixtures: a client with a 24x7 SLA policy and escalation tiers, agents and supervisors
on its queue, and `make_case` to open cases through the lifecycle service at a past time (so
their clocks are running, at risk or breached as of now)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases import services as cases
from cases.choices import Channel, Priority, Role
from tests.factories import CustomerFactory, QueueFactory, SLAPolicyFactory, UserFactory
from tests.governance.factories import EscalationTierFactory

FR, NR, RES = "first_response", "next_response", "resolution"
# Seconds: first response 10 min (urgent) .. 2 h (low); resolution 4 h .. 3 days.
TARGETS = {
    (FR, "urgent"): 600,
    (FR, "high"): 1800,
    (FR, "normal"): 3600,
    (FR, "low"): 7200,
    (NR, "urgent"): 600,
    (NR, "high"): 1800,
    (NR, "normal"): 3600,
    (NR, "low"): 7200,
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
def tiers_a(client_a, policy_a):
    """T2 and T3 tiers of client A serving every queue, on the policy's 24x7 calendar."""
    return {
        level: EscalationTierFactory(
            client=client_a,
            level=level,
            name=name,
            acceptance_target_seconds=1800,
            calendar=policy_a.calendar,
        )
        for level, name in ((2, "Specialists"), (3, "Liaison"))
    }


@pytest.fixture
def worker_a(agent_a, queue_a):
    """agent_a, working queue_a."""
    queue_a.agents.add(agent_a)
    return agent_a


@pytest.fixture
def colleague_a(client_a, queue_a):
    """A second agent of client A on queue_a."""
    user = UserFactory(
        username="colleague-a", first_name="Cleo", last_name="Colleague", role=Role.AGENT, clients=[client_a]
    )
    queue_a.agents.add(user)
    return user


@pytest.fixture
def lead_a(supervisor_a, queue_a):
    """supervisor_a, supervising queue_a."""
    queue_a.supervisors.add(supervisor_a)
    return supervisor_a


@pytest.fixture
def other_queue_a(client_a):
    return QueueFactory(client=client_a, name="Billing A", slug="billing-a")


@pytest.fixture
def make_case(client_a, queue_a, policy_a):
    """`make_case(ago=timedelta(...), priority=..., channel=..., queue=..., assignee=..., client=...)`
    opens a case through the lifecycle service `ago` before now."""

    def _make(
        *,
        ago: timedelta = timedelta(0),
        priority: str = Priority.NORMAL,
        channel: str = Channel.EMAIL,
        queue=None,
        customer=None,
        client=None,
        subject: str | None = None,
        assignee=None,
    ):
        client = client or client_a
        queue = queue or (queue_a if client == client_a else QueueFactory(client=client))
        return cases.case_open(
            client=client,
            customer=customer or CustomerFactory(client=client),
            queue=queue,
            subject=subject or f"{priority} {channel} case opened {int(ago.total_seconds())} s ago",
            channel=channel,
            priority=priority,
            opened_at=timezone.now() - ago,
            assignee=assignee,
        )

    return _make


@pytest.fixture
def htmx():
    """Headers of an htmx request targeting `target` (an element id)."""

    def _headers(target: str = "case-page") -> dict[str, str]:
        return {"HX-Request": "true", "HX-Target": target}

    return _headers
