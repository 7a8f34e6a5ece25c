"""Governance demo data, called by `config.demo.seed` after the cases and clocks exist.

Per client: settings, three tiers, a handful of escalation rules. The demo's history (breaches
older than `HISTORY_DAYS`) is recorded as reviewed in weekly closed reviews with root causes
(written in bulk, like the rest of the demo history); recent breaches go through the real
services (rules, escalations, automatic reviews). Then one worked example per client: a review
whose corrective action is tracked to verification, meetings whose agenda shows it, risks, and
a pending SLA policy change, exclusion and dispute for the console's "needs attention" list.
Deterministic for a given data set and `now`.
"""

from __future__ import annotations

import random
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from cases.choices import Role
from cases.models import Client
from slas.models import Breach, BusinessCalendar, SLAPolicy, SLAWarning

from . import services
from .choices import MeetingKind, ReviewKind, ReviewStatus, Trigger
from .models import (
    BreachReview,
    BreachReviewItem,
    EscalationRule,
    EscalationTier,
    GovernanceSettings,
    RootCause,
    TriggerEvaluation,
)

HISTORY_DAYS = 1
FINDINGS = {
    "people-staffing": "Two agents out sick on the late shift; no cover was arranged.",
    "people-skills": "New starters handled billing disputes without the refund training.",
    "process-handoff": "Chats moved to e-mail lost their owner until the next morning.",
    "process-routing": "Contacts in Spanish reached the English queue first.",
    "platform-outage": "The CRM was unavailable for 40 minutes; agents could not look up accounts.",
    "knowledge-outdated": "The article on card limits still showed last year's limits.",
    "demand-spike": "Volume doubled after the client's outage notice went out.",
    "third-party-client": "Refunds waited on the client's finance team approval.",
}


@dataclass
class GovernanceDemoSummary:
    tiers: int = 0
    rules: int = 0
    history_reviews: int = 0
    escalations: int = 0
    reviews: int = 0
    actions: int = 0
    meetings: int = 0
    scorecards: int = 0


def _user(username: str, role: str, clients: list[Client]):
    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": True, "email": f"{username}@demo.local"}
    )
    if not user.has_usable_password():
        user.set_unusable_password()
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=role))
    for client in clients:
        client.staff.add(user)
    return user


def _tiers(client: Client, owners: dict[int, list]) -> list[EscalationTier]:
    calendar = BusinessCalendar.objects.filter(client=client).order_by(
        "-is_24x7", "pk"
    ).first() or BusinessCalendar.objects.create(
        client=client, name=f"{client.name} 24x7", timezone=client.timezone, is_24x7=True
    )
    tiers = []
    for level, name, minutes in (
        (1, "Frontline", 15),
        (2, "Specialists", 30),
        (3, "Supervisors and client liaison", 60),
    ):
        tier = EscalationTier.objects.create(
            client=client, level=level, name=name, acceptance_target_seconds=minutes * 60, calendar=calendar
        )
        tier.owners.set(owners[level])
        tiers.append(tier)
    return tiers


def _rules(client: Client) -> list[EscalationRule]:
    specs = [
        {
            "name": "Urgent or high first response breached → T2",
            "order": 10,
            "trigger": Trigger.SLA_BREACH,
            "priorities": ["urgent", "high"],
            "metrics": ["first_response"],
            "tier_action": "next",
            "notify_owners": True,
        },
        {
            "name": "Resolution breached → T2",
            "order": 20,
            "trigger": Trigger.SLA_BREACH,
            "metrics": ["resolution"],
            "tier_action": "2",
        },
        {
            "name": "Escalation not accepted in time → T3",
            "order": 30,
            "trigger": Trigger.SLA_BREACH,
            "metrics": ["escalation_acceptance"],
            "tier_action": "3",
            "notify_owners": True,
        },
        {
            "name": "High priority at risk → urgent",
            "order": 40,
            "trigger": Trigger.SLA_WARNING,
            "priorities": ["high"],
            "metrics": ["first_response"],
            "raise_priority_to": "urgent",
        },
        {
            "name": "Unhappy customer → T2",
            "order": 50,
            "trigger": Trigger.NEGATIVE_SENTIMENT,
            "sentiment_threshold": -0.4,
            "tier_action": "next",
            "notify_owners": True,
        },
        {
            "name": "VIP customer → high priority",
            "order": 60,
            "trigger": Trigger.VIP_CUSTOMER,
            "raise_priority_to": "high",
        },
        {
            "name": "Reopened twice → T3",
            "order": 70,
            "trigger": Trigger.REOPENED,
            "reopen_count": 2,
            "tier_action": "3",
            "notify_owners": True,
        },
    ]
    return [EscalationRule.objects.create(client=client, **spec) for spec in specs]


def _history(client: Client, now: datetime, owner, rng: random.Random) -> int:
    """Weekly closed reviews (per queue) for the breaches before the governance history, and
    their evaluations recorded, so the live services start from a clean slate."""
    cutoff = now - timedelta(days=HISTORY_DAYS)
    tz = zoneinfo.ZoneInfo(client.timezone)
    breaches = list(
        Breach.objects.filter(client=client, breached_at__lt=cutoff, voided_at__isnull=True)
        .values_list("pk", "clock_id", "case_id", "case__queue_id", "case__queue__name", "breached_at")
        .order_by("breached_at", "pk")
    )
    warnings = list(
        SLAWarning.objects.filter(client=client, warned_at__lt=cutoff).values_list("clock_id", "case_id")
    )
    TriggerEvaluation.objects.bulk_create(
        [
            TriggerEvaluation(
                client=client,
                case_id=case_id,
                trigger=Trigger.SLA_BREACH,
                trigger_key=str(clock_id),
                evaluated_at=now,
                note="demo history, before governance",
            )
            for _, clock_id, case_id, *_ in breaches
        ]
        + [
            TriggerEvaluation(
                client=client,
                case_id=case_id,
                trigger=Trigger.SLA_WARNING,
                trigger_key=str(clock_id),
                evaluated_at=now,
                note="demo history, before governance",
            )
            for clock_id, case_id in warnings
        ],
        batch_size=2000,
        ignore_conflicts=True,
    )
    causes = {c.code: c for c in RootCause.objects.filter(code__in=FINDINGS)}
    codes = sorted(causes)
    groups: dict[tuple[int, str, str], list[tuple[int, datetime]]] = defaultdict(list)
    for pk, _clock, _case, queue_id, queue_name, breached_at in breaches:
        year, week, _ = breached_at.astimezone(tz).isocalendar()
        groups[(queue_id, queue_name, f"{year}-W{week:02d}")].append((pk, breached_at))
    reviews, items = [], []
    for (queue_id, queue_name, week), rows in sorted(groups.items()):
        code = rng.choice(codes)
        last = max(at for _, at in rows)
        closed_at = min(last + timedelta(days=3), cutoff)
        review = BreachReview(
            client=client,
            queue_id=queue_id,
            title=f"Weekly review of {queue_name} breaches, {week}",
            kind=ReviewKind.MANUAL,
            owner=owner,
            due_on=(last + timedelta(days=5)).date(),
            root_cause=causes[code],
            findings=FINDINGS[code],
            status=ReviewStatus.CLOSED,
            opened_at=min(at for _, at in rows),
            closed_at=closed_at,
            closed_by=owner,
            created_by=owner,
        )
        reviews.append((review, rows))
    BreachReview.objects.bulk_create([r for r, _ in reviews], batch_size=1000)
    for review, rows in reviews:
        items += [
            BreachReviewItem(
                client=client, review=review, breach_id=pk, added_at=review.opened_at, added_by=owner
            )
            for pk, _ in rows
        ]
    BreachReviewItem.objects.bulk_create(items, batch_size=2000)
    return len(reviews)


@transaction.atomic
def seed_governance(clients: list[Client], now: datetime) -> GovernanceDemoSummary:
    """Load the governance demo data for `clients` (see the module docstring)."""
    rng = random.Random(11)
    summary = GovernanceDemoSummary()
    lead = _user("governance", Role.GOVERNANCE, clients)
    analyst = _user("demo-analyst", Role.GOVERNANCE, clients)
    supervisor = _user("supervisor", Role.SUPERVISOR, clients)
    for client in clients:
        GovernanceSettings.objects.create(client=client, default_review_owner=lead)
        summary.tiers += len(_tiers(client, {1: [supervisor], 2: [supervisor], 3: [lead]}))
        summary.rules += len(_rules(client))
        summary.history_reviews += _history(client, now, lead, rng)

    # Recent breaches and warnings go through the live services: rules, escalations, reviews.
    cutoff = now - timedelta(days=HISTORY_DAYS)
    client_ids = [c.pk for c in clients]
    warned = list(
        SLAWarning.objects.filter(client_id__in=client_ids, warned_at__gte=cutoff).values_list(
            "clock_id", flat=True
        )
    )
    breached = list(
        Breach.objects.filter(
            client_id__in=client_ids, breached_at__gte=cutoff, voided_at__isnull=True
        ).values_list("clock_id", flat=True)
    )
    services.sla_alerts_evaluate(trigger=Trigger.SLA_WARNING, clock_ids=warned, now=now)
    summary.escalations += services.sla_alerts_evaluate(
        trigger=Trigger.SLA_BREACH, clock_ids=breached, now=now
    ).escalations
    summary.reviews += services.breach_reviews_auto_open_for_clocks(clock_ids=breached, now=now)

    for client in clients:
        _worked_example(client, now, lead=lead, analyst=analyst, supervisor=supervisor, summary=summary)
        summary.scorecards += _contract(client, now, lead)
    return summary


def _contract(client: Client, now: datetime, lead) -> int:
    """A contract with five terms; last month's scorecard frozen (with its review pack) and this
    month's draft computed."""
    from decimal import Decimal as D

    from .choices import KPI
    from .models import Contract, ContractTerm
    from .services.scorecards import month_start, previous_month

    contract = Contract.objects.create(
        client=client, reference=f"MSA-{client.slug.upper()}", monthly_fee=D(85000)
    )
    since = previous_month(previous_month(month_start(now.date())))
    terms = [
        {
            "kpi": KPI.SERVICE_LEVEL,
            "channel": "voice",
            "threshold_seconds": 20,
            "target": D(80),
            "credit_per_point_percent": D("0.5"),
            "credit_cap_percent": D(5),
        },
        {
            "kpi": KPI.ABANDONMENT_RATE,
            "channel": "voice",
            "comparator": "lte",
            "target": D(5),
            "credit_per_point_percent": D("0.5"),
            "credit_cap_percent": D(3),
        },
        {
            "kpi": KPI.SLA_FIRST_RESPONSE,
            "target": D(90),
            "credit_mode": "bands",
            "credit_bands": [
                {"min": 85, "max": 90, "percent": 2},
                {"min": 80, "max": 85, "percent": 4},
                {"max": 80, "percent": 8},
            ],
            "earn_back_months": 2,
        },
        {
            "kpi": KPI.SLA_RESOLUTION,
            "target": D(85),
            "credit_per_point_percent": D(1),
            "credit_cap_percent": D(4),
        },
        {"kpi": KPI.CSAT, "target": D(75), "bonus_per_point_percent": D("0.5"), "bonus_cap_percent": D(2)},
    ]
    for term in terms:
        ContractTerm.objects.create(contract=contract, client=client, effective_from=since, **term)
    last_month = services.scorecard_compute(
        client=client, period=previous_month(month_start(now.date())), now=now
    )
    services.scorecard_freeze(scorecard=last_month, now=now)
    services.scorecard_compute(client=client, period=month_start(now.date()), now=now)
    return 2


def _worked_example(client, now, *, lead, analyst, supervisor, summary: GovernanceDemoSummary) -> None:
    """A review → action → verification → agenda story, and items waiting for a decision."""
    review = (
        BreachReview.objects.filter(client=client, status=ReviewStatus.CLOSED, root_cause__isnull=False)
        .order_by("-closed_at", "pk")
        .first()
    )
    if review is not None:
        action = services.corrective_action_raise(
            review=review,
            title=f"Fix: {review.root_cause.name.lower()} in {review.queue or 'the queue'}",
            description="Agreed at the weekly review.",
            owner=supervisor,
            due_on=(now + timedelta(days=7)).date(),
            actor=lead,
            now=now - timedelta(days=1),
        )
        services.corrective_action_start(action=action, actor=supervisor, now=now - timedelta(hours=20))
        services.corrective_action_complete(action=action, actor=supervisor, now=now - timedelta(hours=6))
        services.corrective_action_verify(
            action=action,
            actor=lead,
            notes="Checked the last two days: no new breach with this cause in the queue.",
            now=now - timedelta(hours=2),
        )
        summary.actions += 1
    open_review = (
        BreachReview.objects.filter(client=client).exclude(status=ReviewStatus.CLOSED).order_by("pk").first()
    )
    if open_review is not None:
        services.breach_review_start(review=open_review, actor=lead)
        services.corrective_action_raise(
            review=open_review,
            title="Add a late-shift cover rota",
            owner=supervisor,
            due_on=(now + timedelta(days=3)).date(),
            actor=lead,
            now=now,
        )
        summary.actions += 1
    last_week = services.meeting_schedule(
        client=client,
        kind=MeetingKind.WEEKLY_REVIEW,
        scheduled_for=now - timedelta(days=7),
        title="Weekly service review",
        chair=lead,
        attendees=[lead, supervisor],
        actor=lead,
        now=now - timedelta(days=7),
    )
    services.meeting_record(
        meeting=last_week,
        actor=lead,
        minutes="Reviewed last week's breaches; late-shift staffing is the main driver.",
        decisions="Supervisors to propose a cover rota.",
        held_at=now - timedelta(days=7),
    )
    services.meeting_schedule(
        client=client,
        kind=MeetingKind.WEEKLY_REVIEW,
        scheduled_for=now + timedelta(hours=2),
        title="Weekly service review",
        chair=lead,
        attendees=[lead, supervisor],
        actor=lead,
        now=now,
    )
    business_review = services.meeting_schedule(
        client=client,
        kind=MeetingKind.MONTHLY_BUSINESS_REVIEW,
        scheduled_for=now - timedelta(days=20),
        title="Monthly business review",
        chair=lead,
        attendees=[lead],
        actor=lead,
        now=now - timedelta(days=20),
    )
    services.meeting_record(
        meeting=business_review,
        actor=lead,
        minutes="Scorecard and attainment reviewed with the client.",
        held_at=now - timedelta(days=20),
    )
    services.meeting_rate(
        meeting=business_review,
        actor=lead,
        rating="amber",
        notes="E-mail first response below target two weeks.",
    )
    summary.meetings += 3
    services.risk_raise(
        client=client,
        title="Seasonal peak exceeds staffing plan",
        likelihood=4,
        impact=4,
        owner=supervisor,
        review_on=now.date(),
        mitigation="Hire temporary agents; cross-train the chat team on e-mail.",
        actor=lead,
        now=now,
    )
    services.risk_raise(
        client=client,
        title="Telephony provider contract renewal",
        likelihood=2,
        impact=5,
        owner=lead,
        review_on=(now + timedelta(days=14)).date(),
        actor=lead,
        now=now,
    )
    policies = list(SLAPolicy.objects.filter(client=client, is_active=True).order_by("order", "pk"))
    policy = next((p for p in policies if "email" in (p.channels or [])), policies[0] if policies else None)
    if policy is not None:
        proposed = services.policy_data(policy)
        proposed["targets"] = {
            key: (max(60, seconds * 3 // 4) if key.startswith("first_response") else seconds)
            for key, seconds in proposed["targets"].items()
        }
        services.policy_change_propose(
            policy=policy,
            proposed=proposed,
            reason="The client asks for first responses 25% faster from next month.",
            effective_at=now + timedelta(days=7),
            actor=analyst,
            now=now,
        )
    services.exclusion_propose(
        client=client,
        scope="interval",
        reason_kind="client_outage",
        reason="The client's order system was down; agents could not act on orders.",
        evidence="Client incident INC-4821, status page screenshot in the shared drive.",
        starts_at=now - timedelta(days=1, hours=3),
        ends_at=now - timedelta(days=1, hours=1),
        actor=analyst,
        now=now,
    )
    breach = (
        Breach.objects.filter(client=client, voided_at__isnull=True).order_by("-breached_at", "pk").first()
    )
    if breach is not None:
        services.dispute_raise(
            breach=breach,
            actor=supervisor,
            grounds="The customer asked us to wait for their documents; the case should have been pending.",
            now=now,
        )


def governance_wipe() -> None:
    """Delete every governance row (not the root-cause taxonomy), children first: for tests that
    wipe the demo data set and load it again."""
    from .models import (
        ActionReminder,
        BreachDispute,
        Contract,
        ContractTerm,
        CorrectiveAction,
        Escalation,
        Exclusion,
        GovernanceMeeting,
        Risk,
        RuleFiring,
        Scorecard,
        ScorecardLine,
        SentimentScore,
        SLAPolicyChange,
    )

    for model in (
        ScorecardLine,
        Scorecard,
        ContractTerm,
        Contract,
        ActionReminder,
        CorrectiveAction,
        BreachReviewItem,
        BreachReview,
        RuleFiring,
        TriggerEvaluation,
        SentimentScore,
        Escalation,
        EscalationRule,
        EscalationTier,
        GovernanceMeeting,
        Risk,
        Exclusion,
        BreachDispute,
        SLAPolicyChange,
        GovernanceSettings,
    ):
        model.objects.all().delete()
