"""Reactions to SLA and case events, subscribed in `GovernanceConfig.ready()` with
phase="transaction": each enqueues a django-q2 task with ids through `config.tasks.task_enqueue`,
so the task row joins the publisher's transaction on the ORM broker (one commit, nothing lost
between commit and enqueue) and waits for the commit elsewhere. A handler writes nothing else
(the sweep stays as fast as it was); a lost task is made good by the catch-up task."""

from __future__ import annotations

import logging

from cases import events as case_events
from cases.choices import AuthorKind, CaseStatus, Direction
from config.tasks import task_enqueue
from slas import events as sla_events

from .sentiment import SCORED_CHANNELS

logger = logging.getLogger(__name__)
CHUNK = 500
PHASE = "transaction"  # the phase these handlers are subscribed in


def _clock_ids(event) -> list[int]:
    return sorted({alert.clock_id for alert in event.alerts})


def on_clocks_warned(event: sla_events.ClocksWarned) -> None:
    ids = _clock_ids(event)
    for start in range(0, len(ids), CHUNK):
        task_enqueue("governance.tasks.sla_warnings_evaluate_task", ids[start : start + CHUNK])


def on_clocks_breached(event: sla_events.ClocksBreached) -> None:
    ids = _clock_ids(event)
    for start in range(0, len(ids), CHUNK):
        task_enqueue("governance.tasks.sla_breaches_evaluate_task", ids[start : start + CHUNK])


def on_case_trigger(event: case_events.CaseEventBase) -> None:
    """Reopens, priority raises and sentiment changes may fire rules; so may a VIP's new case."""
    if isinstance(event, case_events.CaseOpened) and not event.customer_is_vip:
        return
    if isinstance(event, case_events.CasePriorityChanged):
        from .rules import PRIORITY_RANK

        if PRIORITY_RANK.get(event.new_priority, 0) <= PRIORITY_RANK.get(event.old_priority, 0):
            return
    task_enqueue("governance.tasks.case_triggers_evaluate_task", event.case_id)


def on_cases_opened(event: case_events.CasesOpened) -> None:
    """A batch of cases opened together: the VIPs' cases may fire rules, as one opened alone."""
    for opened in event.openings:
        on_case_trigger(opened)


def on_interaction(event: case_events.InteractionAppended) -> None:
    if (
        event.direction == Direction.INBOUND
        and event.author_kind == AuthorKind.CUSTOMER
        and event.channel in SCORED_CHANNELS
        and (event.body or "").strip()
    ):
        task_enqueue("governance.tasks.interaction_sentiment_task", event.interaction_id)


def on_case_status(event: case_events.CaseStatusChanged) -> None:
    if event.new_status not in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
        return
    from .models import Escalation

    if Escalation.objects.active().filter(case_id=event.case_id).exists():
        task_enqueue("governance.tasks.escalations_close_task", event.case_id)
