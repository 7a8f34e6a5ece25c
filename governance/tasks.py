"""django-q2 entry points of governance. Each takes ids, calls one service, and is safe to run
twice (exactly-once comes from unique constraints, not from delivery)."""

from __future__ import annotations

from . import services
from .choices import Trigger


def sla_warnings_evaluate_task(clock_ids: list[int]) -> dict:
    """On `sla.warning`: evaluate the warning rules for these clocks."""
    return services.sla_alerts_evaluate(trigger=Trigger.SLA_WARNING, clock_ids=clock_ids).as_dict()


def sla_breaches_evaluate_task(clock_ids: list[int]) -> dict:
    """On `sla.breached`: evaluate the breach rules and put each breach in its automatic review."""
    result = services.sla_alerts_evaluate(trigger=Trigger.SLA_BREACH, clock_ids=clock_ids).as_dict()
    result["reviewed"] = services.breach_reviews_auto_open_for_clocks(clock_ids=clock_ids)
    return result


def case_triggers_evaluate_task(case_id: int) -> dict:
    """On a case's opening (VIP), reopen, priority or sentiment change."""
    return services.case_triggers_evaluate(case_id=case_id).as_dict()


def interaction_sentiment_task(interaction_id: int) -> float | None:
    """On an inbound customer interaction: score it and update the case's rolling sentiment."""
    score = services.interaction_sentiment_score(interaction_id=interaction_id)
    return score.score if score is not None else None


def escalations_close_task(case_id: int) -> int:
    """On a case resolved or closed: close its active escalation."""
    return services.escalations_close_for_case(case_id=case_id, reason="case resolved")


def escalation_notify_task(escalation_id: int) -> int:
    return services.escalation_notify(escalation_id=escalation_id)


def rule_firing_notify_task(firing_id: int) -> int:
    return services.rule_firing_notify(firing_id=firing_id)


def governance_catch_up_task() -> dict:
    """Scheduled (config/schedules.py): evaluate what lost tasks left behind."""
    return services.governance_catch_up().as_dict()


def policy_changes_apply_task() -> int:
    """Scheduled: apply approved SLA policy changes whose effective time has come."""
    return services.policy_changes_apply_due()


def action_reminders_task() -> int:
    """Scheduled: remind owners of corrective actions before and after their due date."""
    return services.action_reminders_send()


def scorecards_freeze_task() -> dict:
    """Scheduled (hourly; acts once a month per client): freeze last month's scorecards."""
    return services.scorecards_freeze_last_month()
