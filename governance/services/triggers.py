"""Escalation rule evaluation, exactly once per case and trigger occurrence.

An occurrence (an SLA warning or breach of a clock, a reopen, a priority raise, a sentiment
change, a VIP customer's case opening) is evaluated in one transaction that first inserts its
`TriggerEvaluation` row (unique on case, trigger and key). A second delivery of the same
occurrence, or a second worker evaluating it at the same time, fails that insert (on
PostgreSQL it waits for the first transaction, then sees the row) and does nothing. Each rule
that fires records a `RuleFiring` (unique on rule, case and key) and its actions' results.

Live evaluation is driven by tasks enqueued with the SLA and case events (config.tasks)
(`governance.apps`); `governance_catch_up` evaluates what a lost task left behind. Rule actions
call the case services; a refused action (e.g. a case closed meanwhile) is recorded in the
firing's outcome and does not undo the others.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef
from django.db.models.functions import Cast

from cases import services as case_services
from cases.choices import UNRESOLVED_STATUSES, AuthorKind, CaseEventKind, CaseStatus, Direction
from cases.models import Case, CaseEvent, Interaction
from config.errors import ApplicationError
from config.tasks import task_enqueue
from slas.models import Breach, SLAWarning

from ..choices import EscalationTrigger, Trigger
from ..models import (
    BreachReviewItem,
    Escalation,
    EscalationRule,
    RuleFiring,
    SentimentScore,
    TriggerEvaluation,
)
from ..rules import PRIORITY_RANK, CaseFacts, Occurrence, RuleSpec, rules_matching, tier_after
from . import escalations as escalation_services
from ._common import now_or

logger = logging.getLogger(__name__)

SLA_TRIGGERS = (Trigger.SLA_WARNING, Trigger.SLA_BREACH)
CASE_TRIGGERS = (Trigger.VIP_CUSTOMER, Trigger.REOPENED, Trigger.PRIORITY_RAISED, Trigger.NEGATIVE_SENTIMENT)


@dataclass
class EvaluationResult:
    evaluated: int = 0
    already: int = 0
    fired: int = 0
    escalations: int = 0

    def add(self, other: EvaluationResult) -> None:
        self.evaluated += other.evaluated
        self.already += other.already
        self.fired += other.fired
        self.escalations += other.escalations

    def as_dict(self) -> dict:
        return {
            "evaluated": self.evaluated,
            "already": self.already,
            "fired": self.fired,
            "escalations": self.escalations,
        }


def _rule_specs(
    client_ids: Iterable[int], triggers: Sequence[str]
) -> dict[int, list[tuple[RuleSpec, EscalationRule]]]:
    """Active rules of the clients for the triggers, with their matching snapshot."""
    result: dict[int, list[tuple[RuleSpec, EscalationRule]]] = defaultdict(list)
    rules = (
        EscalationRule.objects.filter(client_id__in=set(client_ids), trigger__in=triggers, is_active=True)
        .select_related("move_to_queue")
        .prefetch_related("queues")
        .order_by("order", "id")
    )
    for rule in rules:
        spec = RuleSpec(
            id=rule.pk,
            order=rule.order,
            trigger=rule.trigger,
            channels=frozenset(rule.channels or []),
            priorities=frozenset(rule.priorities or []),
            queue_ids=frozenset(q.pk for q in rule.queues.all()),
            metrics=frozenset(rule.metrics or []),
            sentiment_threshold=rule.sentiment_threshold,
            reopen_count=rule.reopen_count,
            stop_processing=rule.stop_processing,
        )
        result[rule.client_id].append((spec, rule))
    return result


def _claim(case_id: int, client_id: int, occurrence: Occurrence, now: datetime) -> TriggerEvaluation | None:
    """Insert the occurrence's evaluation row; None when someone else already has it."""
    try:
        with transaction.atomic():
            return TriggerEvaluation.objects.create(
                client_id=client_id,
                case_id=case_id,
                trigger=occurrence.trigger,
                trigger_key=occurrence.key,
                evaluated_at=now,
            )
    except IntegrityError:
        return None


def _attempt(outcome: list[dict], action: str, call) -> object | None:
    try:
        result = call()
    except ApplicationError as exc:
        outcome.append({"action": action, "result": f"refused: {exc.message}"})
        return None
    return result


def _fire(
    rule: EscalationRule, case: Case, occurrence: Occurrence, now: datetime, result: EvaluationResult
) -> RuleFiring | None:
    try:
        with transaction.atomic():
            firing = RuleFiring.objects.create(
                client_id=case.client_id,
                rule=rule,
                case=case,
                trigger=occurrence.trigger,
                trigger_key=occurrence.key,
                fired_at=now,
            )
    except IntegrityError:
        return None
    actor = f"rule: {rule.name}"[:120]
    outcome: list[dict] = []
    escalation: Escalation | None = None
    reason = f"{rule.name}: {Trigger(occurrence.trigger).label}" + (
        f" ({occurrence.metric.replace('_', ' ')})" if occurrence.metric else ""
    )
    case.refresh_from_db()
    target = tier_after(rule.tier_action, case.tier)
    moved_with_escalation = False
    if rule.tier_action:
        if target is None:
            outcome.append(
                {"action": "raise_tier", "result": f"skipped: the case is already at T{case.tier}"}
            )
        else:
            escalation = _attempt(
                outcome,
                "raise_tier",
                lambda: escalation_services.escalation_create(
                    case=case,
                    reason=reason,
                    actor=actor,
                    to_tier=target,
                    trigger=EscalationTrigger(occurrence.trigger),
                    rule=rule,
                    move_to_queue=rule.move_to_queue,
                    now=now,
                ),
            )
            if escalation is not None:
                result.escalations += 1
                moved_with_escalation = rule.move_to_queue is not None
                outcome.append(
                    {"action": "raise_tier", "result": f"T{escalation.from_tier}→T{escalation.to_tier}"}
                )
                case.refresh_from_db()
    if rule.move_to_queue_id:
        if moved_with_escalation:
            outcome.append({"action": "move_queue", "result": f"moved to {rule.move_to_queue}"})
        elif case.queue_id == rule.move_to_queue_id:
            outcome.append({"action": "move_queue", "result": "skipped: already in that queue"})
        elif (
            _attempt(
                outcome,
                "move_queue",
                lambda: case_services.case_queue_set(
                    case=case, queue=rule.move_to_queue, actor=actor, reason=reason
                ),
            )
            is not None
        ):
            outcome.append({"action": "move_queue", "result": f"moved to {rule.move_to_queue}"})
    if rule.raise_priority_to:
        case.refresh_from_db()
        if PRIORITY_RANK[rule.raise_priority_to] <= PRIORITY_RANK[case.priority]:
            outcome.append({"action": "raise_priority", "result": f"skipped: already {case.priority}"})
        else:
            old = case.priority
            if (
                _attempt(
                    outcome,
                    "raise_priority",
                    lambda: case_services.case_priority_set(
                        case=case, priority=rule.raise_priority_to, actor=actor, reason=reason
                    ),
                )
                is not None
            ):
                outcome.append({"action": "raise_priority", "result": f"{old}→{rule.raise_priority_to}"})
    if rule.notify_owners:
        if escalation is not None:
            outcome.append({"action": "notify", "result": "with the escalation"})
        else:
            outcome.append({"action": "notify", "result": "owners of the case's tier"})
            firing_id = firing.pk
            task_enqueue("governance.tasks.rule_firing_notify_task", firing_id)
    firing.escalation = escalation
    firing.outcome = outcome
    firing.save(update_fields=["escalation", "outcome"])
    return firing


def _evaluate(
    *,
    case_id: int,
    client_id: int,
    occurrence: Occurrence,
    rules: list[tuple[RuleSpec, EscalationRule]],
    now: datetime,
    clock_running: bool | None = None,
) -> EvaluationResult:
    result = EvaluationResult()
    with transaction.atomic():
        evaluation = _claim(case_id, client_id, occurrence, now)
        if evaluation is None:
            result.already += 1
            return result
        result.evaluated += 1
        if not rules:
            evaluation.note = "no active rule for this trigger"
            evaluation.save(update_fields=["note"])
            return result
        case = Case.objects.select_related("customer").get(pk=case_id)
        if case.status not in UNRESOLVED_STATUSES:
            evaluation.note = f"case {case.status}: no action"
            evaluation.save(update_fields=["note"])
            return result
        if clock_running is False and occurrence.trigger == Trigger.SLA_WARNING:
            evaluation.note = "clock stopped before the warning was evaluated"
            evaluation.save(update_fields=["note"])
            return result
        facts = CaseFacts(
            channel=case.current_channel,
            priority=case.priority,
            queue_id=case.queue_id,
            is_vip=case.customer.is_vip,
        )
        by_id = {spec.id: rule for spec, rule in rules}
        fired = 0
        for spec in rules_matching([spec for spec, _ in rules], facts, occurrence):
            if _fire(by_id[spec.id], case, occurrence, now, result) is not None:
                fired += 1
        result.fired += fired
        evaluation.rules_fired = fired
        evaluation.note = "" if fired else "no rule matched"
        evaluation.save(update_fields=["rules_fired", "note"])
    return result


def _record_without_rules(rows: list[tuple[int, int, Occurrence]], now: datetime) -> int:
    """Clients without an active rule for the trigger: record the evaluations in one statement."""
    if not rows:
        return 0
    TriggerEvaluation.objects.bulk_create(
        [
            TriggerEvaluation(
                client_id=client_id,
                case_id=case_id,
                trigger=occurrence.trigger,
                trigger_key=occurrence.key,
                evaluated_at=now,
                note="no active rule for this trigger",
            )
            for case_id, client_id, occurrence in rows
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    return len(rows)


# --- SLA triggers ----------------------------------------------------------------------------------


def sla_alerts_evaluate(
    *, trigger: str, clock_ids: Sequence[int], now: datetime | None = None
) -> EvaluationResult:
    """Evaluate the SLA warnings (or breaches) of `clock_ids` against the clients' rules, each
    exactly once. Clocks without a committed warning (breach) row, and voided breaches, are
    ignored. Safe to run twice and from two workers at once."""
    if trigger not in SLA_TRIGGERS:
        raise ValueError(f"{trigger} is not an SLA trigger")
    now = now_or(now)
    result = EvaluationResult()
    model = Breach if trigger == Trigger.SLA_BREACH else SLAWarning
    rows = model.objects.filter(clock_id__in=list(clock_ids))
    if model is Breach:
        rows = rows.filter(voided_at__isnull=True)
    candidates = list(
        rows.order_by("clock_id").values_list(
            "clock_id", "case_id", "client_id", "metric", "clock__stopped_at"
        )
    )
    if not candidates:
        return result
    done = set(
        TriggerEvaluation.objects.filter(
            trigger=trigger,
            case_id__in={c[1] for c in candidates},
            trigger_key__in=[str(c[0]) for c in candidates],
        ).values_list("case_id", "trigger_key")
    )
    rules = _rule_specs({c[2] for c in candidates}, [trigger])
    without_rules = []
    for clock_id, case_id, client_id, metric, stopped_at in candidates:
        occurrence = Occurrence(trigger=trigger, key=str(clock_id), metric=metric)
        if (case_id, occurrence.key) in done:
            result.already += 1
            continue
        if not rules.get(client_id):
            without_rules.append((case_id, client_id, occurrence))
            continue
        result.add(
            _evaluate(
                case_id=case_id,
                client_id=client_id,
                occurrence=occurrence,
                rules=rules[client_id],
                now=now,
                clock_running=stopped_at is None,
            )
        )
    result.evaluated += _record_without_rules(without_rules, now)
    return result


# --- Case triggers ---------------------------------------------------------------------------------


def _case_occurrences(case_id: int, since: datetime | None) -> list[tuple[CaseEvent, Occurrence]]:
    """The case's trigger occurrences from its timeline, in order."""
    events = CaseEvent.objects.filter(
        case_id=case_id,
        kind__in=[
            CaseEventKind.OPENED,
            CaseEventKind.REOPENED,
            CaseEventKind.PRIORITY_CHANGED,
            CaseEventKind.SENTIMENT,
        ],
    ).order_by("occurred_at", "id")
    occurrences: list[tuple[CaseEvent, Occurrence]] = []
    reopens = 0
    for event in events.only("id", "kind", "before", "after", "occurred_at", "recorded_at"):
        if event.kind == CaseEventKind.REOPENED:
            reopens += 1
        if since is not None and event.recorded_at < since:
            continue
        before, after = event.before or {}, event.after or {}
        if event.kind == CaseEventKind.OPENED:
            occurrences.append((event, Occurrence(trigger=Trigger.VIP_CUSTOMER, key="opened")))
        elif event.kind == CaseEventKind.REOPENED:
            occurrences.append(
                (event, Occurrence(trigger=Trigger.REOPENED, key=str(reopens), reopen_count=reopens))
            )
        elif event.kind == CaseEventKind.PRIORITY_CHANGED:
            occurrences.append(
                (
                    event,
                    Occurrence(
                        trigger=Trigger.PRIORITY_RAISED,
                        key=f"event:{event.pk}",
                        priority_before=before.get("priority", ""),
                        priority_after=after.get("priority", ""),
                    ),
                )
            )
        else:
            occurrences.append(
                (
                    event,
                    Occurrence(
                        trigger=Trigger.NEGATIVE_SENTIMENT,
                        key=f"event:{event.pk}",
                        sentiment_before=before.get("sentiment"),
                        sentiment_after=after.get("sentiment"),
                    ),
                )
            )
    return occurrences


def case_triggers_evaluate(
    *, case_id: int, now: datetime | None = None, lookback: timedelta | None = None
) -> EvaluationResult:
    """Evaluate the case's trigger occurrences (VIP opening, reopens, priority changes, sentiment
    changes) recorded within `lookback` (default `ACCORD_GOVERNANCE_LOOKBACK_HOURS`) that have no
    evaluation yet, in timeline order. Safe to run twice and concurrently."""
    now = now_or(now)
    lookback = (
        lookback if lookback is not None else timedelta(hours=settings.ACCORD_GOVERNANCE_LOOKBACK_HOURS)
    )
    result = EvaluationResult()
    case = Case.objects.filter(pk=case_id).values("client_id", "status").first()
    if case is None:
        return result
    occurrences = _case_occurrences(case_id, now - lookback)
    if not occurrences:
        return result
    done = set(
        TriggerEvaluation.objects.filter(case_id=case_id, trigger__in=CASE_TRIGGERS).values_list(
            "trigger", "trigger_key"
        )
    )
    client_id = case["client_id"]
    rules = _rule_specs([client_id], CASE_TRIGGERS).get(client_id, [])
    without_rules = []
    for _event, occurrence in occurrences:
        if (occurrence.trigger, occurrence.key) in done:
            result.already += 1
            continue
        applicable = [(spec, rule) for spec, rule in rules if spec.trigger == occurrence.trigger]
        if not applicable:
            without_rules.append((case_id, client_id, occurrence))
            continue
        result.add(
            _evaluate(case_id=case_id, client_id=client_id, occurrence=occurrence, rules=applicable, now=now)
        )
    result.evaluated += _record_without_rules(without_rules, now)
    return result


# --- Catch-up ----------------------------------------------------------------------------------------


@dataclass
class CatchUpResult:
    warnings: int = 0
    breaches: int = 0
    reviews: int = 0
    cases: int = 0
    sentiment: int = 0
    escalations_closed: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def governance_catch_up(*, now: datetime | None = None, limit: int | None = None) -> CatchUpResult:
    """Evaluate what live tasks left behind within the lookback window: warnings and breaches
    without an evaluation, breaches without a review, case trigger occurrences of unresolved
    cases without an evaluation, inbound customer messages without a sentiment score, and active
    escalations of resolved cases. Set-based anti-joins find the work; at most `limit` items of
    each kind per run (the next run takes the rest)."""
    from . import reviews as review_services
    from . import sentiment as sentiment_services

    now = now_or(now)
    limit = limit or settings.ACCORD_GOVERNANCE_CATCH_UP_LIMIT
    since = now - timedelta(hours=settings.ACCORD_GOVERNANCE_LOOKBACK_HOURS)
    result = CatchUpResult()

    for trigger, model in ((Trigger.SLA_WARNING, SLAWarning), (Trigger.SLA_BREACH, Breach)):
        evaluated = TriggerEvaluation.objects.filter(
            case_id=OuterRef("case_id"),
            trigger=trigger,
            trigger_key=Cast(OuterRef("clock_id"), output_field=CharField()),
        )
        pending = model.objects.filter(detected_at__gte=since).exclude(Exists(evaluated))
        if model is Breach:
            pending = pending.filter(voided_at__isnull=True)
        clock_ids = list(pending.order_by("clock_id").values_list("clock_id", flat=True)[:limit])
        if clock_ids:
            outcome = sla_alerts_evaluate(trigger=trigger, clock_ids=clock_ids, now=now)
            if trigger == Trigger.SLA_WARNING:
                result.warnings += outcome.evaluated
            else:
                result.breaches += outcome.evaluated

    unreviewed = (
        Breach.objects.filter(detected_at__gte=since, voided_at__isnull=True)
        .exclude(Exists(BreachReviewItem.objects.filter(breach_id=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    breach_ids = list(unreviewed)
    if breach_ids:
        result.reviews += review_services.breach_reviews_auto_open(breach_ids=breach_ids, now=now)

    case_kinds = [CaseEventKind.REOPENED, CaseEventKind.PRIORITY_CHANGED, CaseEventKind.SENTIMENT]
    pending_cases = (
        CaseEvent.objects.filter(
            recorded_at__gte=since, kind__in=case_kinds, case__status__in=UNRESOLVED_STATUSES
        )
        .exclude(
            Exists(
                TriggerEvaluation.objects.filter(
                    case_id=OuterRef("case_id"),
                    trigger__in=CASE_TRIGGERS,
                    evaluated_at__gte=OuterRef("recorded_at"),
                )
            )
        )
        .order_by("case_id")
        .values_list("case_id", flat=True)
        .distinct()[:limit]
    )
    vip_cases = (
        CaseEvent.objects.filter(
            recorded_at__gte=since,
            kind=CaseEventKind.OPENED,
            case__status__in=UNRESOLVED_STATUSES,
            case__customer__is_vip=True,
        )
        .exclude(
            Exists(
                TriggerEvaluation.objects.filter(
                    case_id=OuterRef("case_id"), trigger=Trigger.VIP_CUSTOMER, trigger_key="opened"
                )
            )
        )
        .values_list("case_id", flat=True)[:limit]
    )
    for case_id in sorted(set(pending_cases) | set(vip_cases)):
        outcome = case_triggers_evaluate(case_id=case_id, now=now)
        result.cases += 1 if outcome.evaluated else 0

    unscored = (
        Interaction.objects.filter(
            created_at__gte=since,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            case__status__in=UNRESOLVED_STATUSES,
        )
        .exclude(Exists(SentimentScore.objects.filter(interaction_id=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for interaction_id in list(unscored):
        if sentiment_services.interaction_sentiment_score(interaction_id=interaction_id, now=now) is not None:
            result.sentiment += 1

    finished = (
        Escalation.objects.active()
        .filter(case__status__in=[CaseStatus.RESOLVED, CaseStatus.CLOSED])
        .values_list("case_id", flat=True)
        .distinct()[:limit]
    )
    for case_id in list(finished):
        result.escalations_closed += escalation_services.escalations_close_for_case(
            case_id=case_id, reason="case resolved", at=now
        )
    return result
