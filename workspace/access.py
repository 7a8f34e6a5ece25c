"""Who may do what in the workspace.

A `Seat` is read once per request: the user's roles (auth groups), the clients they serve and the
queues they work or supervise. The predicates below decide every page, partial and action; the
views call them before any service, and the services check again what they own (the client, the
lifecycle, the version).

- Seeing a case: any case of a client the user serves (another client's case is a 404).
- Working a case (reply, note, status, priority, escalate, resolve, reopen): superusers; a
  supervisor on the queues they supervise; anyone with the agent or supervisor role on a case
  assigned to them, or on an unassigned case of a queue they work.
- Picking up (assign to me): an unassigned case of a queue the user works or supervises.
- Reassigning to someone else: supervisors on the queues they supervise, and superusers.
- Governance users see cases read-only; client-system accounts have no workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q

from cases.access import client_ids_for_user
from cases.choices import UNRESOLVED_STATUSES, CaseStatus, Role
from cases.models import Case, Queue

WORKSPACE_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.GOVERNANCE})


@dataclass(frozen=True)
class Seat:
    """The user's place in the contact centre, read once per request."""

    user: Any
    roles: frozenset[str]
    client_ids: frozenset[int]
    agent_queue_ids: frozenset[int]
    supervised_queue_ids: frozenset[int]

    @property
    def is_superuser(self) -> bool:
        return bool(self.user.is_superuser)

    @property
    def may_enter(self) -> bool:
        """May use the workspace at all (client-system accounts and role-less users may not)."""
        return self.is_superuser or bool(self.roles & WORKSPACE_ROLES)

    @property
    def can_work(self) -> bool:
        return self.is_superuser or Role.AGENT in self.roles or Role.SUPERVISOR in self.roles

    @property
    def is_supervisor(self) -> bool:
        return self.is_superuser or Role.SUPERVISOR in self.roles

    @property
    def is_governance(self) -> bool:
        return self.is_superuser or Role.GOVERNANCE in self.roles

    @property
    def work_queue_ids(self) -> frozenset[int]:
        """Queues whose unassigned cases are the user's work."""
        return self.agent_queue_ids | self.supervised_queue_ids


def seat_for(user) -> Seat:
    """The seat of `user`: three queries (roles, clients, queue memberships)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Seat(user, frozenset(), frozenset(), frozenset(), frozenset())
    roles = frozenset(user.groups.values_list("name", flat=True))
    client_ids = frozenset(client_ids_for_user(user))
    queues = Queue.objects.filter(client_id__in=client_ids, is_active=True)
    if user.is_superuser:
        ids = frozenset(queues.values_list("pk", flat=True))
        return Seat(user, roles, client_ids, ids, ids)
    through_agents, through_supervisors = Queue.agents.through, Queue.supervisors.through
    rows = (
        queues.annotate(
            as_agent=Exists(through_agents.objects.filter(queue_id=OuterRef("pk"), user_id=user.pk)),
            as_supervisor=Exists(
                through_supervisors.objects.filter(queue_id=OuterRef("pk"), user_id=user.pk)
            ),
        )
        .filter(Q(as_agent=True) | Q(as_supervisor=True))
        .values_list("pk", "as_agent", "as_supervisor")
    )
    agent_ids, supervised_ids = set(), set()
    works = Role.AGENT in roles or Role.SUPERVISOR in roles
    for pk, as_agent, as_supervisor in rows:
        if as_agent and works:
            agent_ids.add(pk)
        if as_supervisor and Role.SUPERVISOR in roles:
            supervised_ids.add(pk)
    return Seat(user, roles, client_ids, frozenset(agent_ids), frozenset(supervised_ids))


def may_view(seat: Seat, case: Case) -> bool:
    return seat.may_enter and case.client_id in seat.client_ids


def supervises(seat: Seat, case: Case) -> bool:
    return seat.is_superuser or (Role.SUPERVISOR in seat.roles and case.queue_id in seat.supervised_queue_ids)


def may_work(seat: Seat, case: Case) -> bool:
    """May change the case (reply, note, status, priority, escalate, resolve, reopen)."""
    if not (may_view(seat, case) and seat.can_work):
        return False
    if supervises(seat, case) or case.assignee_id == seat.user.pk:
        return True
    return case.assignee_id is None and case.queue_id in seat.agent_queue_ids


def may_pick_up(seat: Seat, case: Case) -> bool:
    """May assign the case to themself."""
    if not (may_view(seat, case) and seat.can_work) or case.status not in UNRESOLVED_STATUSES:
        return False
    if case.assignee_id == seat.user.pk:
        return False
    if supervises(seat, case):
        return True
    return case.assignee_id is None and case.queue_id in seat.work_queue_ids


def may_reassign(seat: Seat, case: Case) -> bool:
    """May assign the case to someone else (or unassign it)."""
    return may_view(seat, case) and case.status != CaseStatus.CLOSED and supervises(seat, case)
