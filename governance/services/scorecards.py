"""Monthly scorecards: each contract term in force measured (governance.kpis), settled into
credits, bonuses and earn-backs (governance.credits), stored with the figures they were built
from. Draft scorecards are recomputed on demand; month end freezes them (scheduled); a frozen
scorecard changes only after an explicit reopen with a reason. All of it in history."""

from __future__ import annotations

import calendar
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q

from cases.models import Client
from config.errors import ApplicationError

from .. import credits, kpis
from ..choices import KPI
from ..models import Comparator, Contract, ContractTerm, CreditMode, Scorecard, ScorecardLine, ScorecardStatus
from ._common import now_or, require_governance, save_with_history, text_required


def parse_bands(raw: Any) -> list[credits.Band]:
    """Credit bands from their JSON form, or ValueError saying what is wrong."""
    if not isinstance(raw, list) or not raw:
        raise ValueError('Give a list of bands such as [{"min": 95, "max": 98, "percent": 2}].')
    bands = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or "percent" not in item:
            raise ValueError(f"Band {index} needs a percent.")
        try:
            minimum = Decimal(str(item["min"])) if item.get("min") is not None else None
            maximum = Decimal(str(item["max"])) if item.get("max") is not None else None
            percent = Decimal(str(item["percent"]))
        except (InvalidOperation, TypeError) as exc:
            raise ValueError(f"Band {index}: min, max and percent must be numbers.") from exc
        if percent < 0 or (minimum is not None and maximum is not None and maximum <= minimum):
            raise ValueError(f"Band {index}: the percent cannot be negative and max must be above min.")
        bands.append(credits.Band(minimum, maximum, percent))
    return bands


def month_start(value: date) -> date:
    return value.replace(day=1)


def next_month(value: date) -> date:
    return date(value.year + value.month // 12, value.month % 12 + 1, 1)


def previous_month(value: date) -> date:
    return date(value.year - (value.month == 1), (value.month - 2) % 12 + 1, 1)


def month_bounds(client: Client, period: date) -> tuple[datetime, datetime]:
    """The month in the client's time zone, as aware datetimes ``[start, end)``."""
    tz = zoneinfo.ZoneInfo(client.timezone)
    return datetime.combine(period, time(), tz), datetime.combine(next_month(period), time(), tz)


def term_bounds(client: Client, period: date, term: ContractTerm) -> tuple[datetime, datetime]:
    """The part of the month `term` is in force, in the client's time zone, ``[start, end)``: a
    term that starts or ends within the month is measured over its own days only (a KPI
    retargeted mid-month is not charged twice for the same shortfall)."""
    tz = zoneinfo.ZoneInfo(client.timezone)
    first = max(period, term.effective_from)
    after = next_month(period)
    if term.effective_to is not None:
        after = min(after, term.effective_to + timedelta(days=1))
    return datetime.combine(first, time(), tz), datetime.combine(after, time(), tz)


def terms_in_force(client: Client, period: date) -> list[ContractTerm]:
    last_day = period.replace(day=calendar.monthrange(period.year, period.month)[1])
    return list(
        ContractTerm.objects.filter(client=client, effective_from__lte=last_day)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=period))
        .order_by("kpi", "channel", "pk")
    )


def term_rule(term: ContractTerm) -> credits.TermRule:
    return credits.TermRule(
        key=str(term.pk),
        target=term.target,
        lower_is_better=term.comparator == Comparator.AT_MOST,
        bands=parse_bands(term.credit_bands) if term.credit_mode == CreditMode.BANDS else (),
        credit_per_point=term.credit_per_point_percent,
        credit_cap=term.credit_cap_percent,
        bonus_per_point=term.bonus_per_point_percent,
        bonus_cap=term.bonus_cap_percent,
    )


def _months_back(period: date, months: int) -> date:
    for _ in range(months):
        period = previous_month(period)
    return period


def _earned_back(client: Client, period: date, terms: list[ContractTerm], met_now: dict[int, bool]) -> dict:
    """Credits of `earn_back_months` ago given back now: that month owed a credit on the term and
    every month since, this one included, met it. One query for every term's earlier lines."""
    earning = [term for term in terms if term.earn_back_months and met_now.get(term.pk)]
    if not earning:
        return {}
    since = _months_back(period, max(term.earn_back_months for term in earning))
    lines = {
        (line.term_id, line.scorecard.period): line
        for line in ScorecardLine.objects.filter(
            scorecard__client=client,
            term__in=earning,
            scorecard__period__gte=since,
            scorecard__period__lt=period,
        ).select_related("scorecard")
    }
    result: dict[str, Decimal] = {}
    for term in earning:
        owed_month = _months_back(period, term.earn_back_months)
        owed = lines.get((term.pk, owed_month))
        if owed is None or owed.credit <= 0:
            continue
        month = next_month(owed_month)
        between = []
        while month < period:
            between.append(lines.get((term.pk, month)))
            month = next_month(month)
        if all(line is not None and line.met for line in between):
            result[str(term.pk)] = owed.credit
    return result


@dataclass(frozen=True)
class ScorecardDraft:
    measures: dict[int, kpis.Measure]
    settlement: credits.Settlement


def scorecard_measure(
    client: Client, period: date, terms: list[ContractTerm], contract: Contract
) -> ScorecardDraft:
    measures = {}
    for term in terms:
        start, end = term_bounds(client, period, term)
        measures[term.pk] = kpis.contract_measure(
            term.kpi,
            client_ids=[client.pk],
            start=start,
            end=end,
            channel=term.channel or None,
            threshold_seconds=term.threshold_seconds,
        )
    actuals = {
        str(pk): (Decimal(str(m.value)) if m.value is not None else None) for pk, m in measures.items()
    }
    rules = [term_rule(term) for term in terms]
    met_now = {
        term.pk: credits.term_result(rule, actuals[rule.key], contract.monthly_fee).met is True
        for term, rule in zip(terms, rules, strict=True)
    }
    settlement = credits.settle(
        rules,
        actuals,
        fee=contract.monthly_fee,
        credit_cap_percent=contract.credit_cap_percent,
        bonus_cap_percent=contract.bonus_cap_percent,
        earned_back=_earned_back(client, period, terms, met_now),
    )
    return ScorecardDraft(measures=measures, settlement=settlement)


def _score(terms: list[ContractTerm], settlement: credits.Settlement) -> Decimal | None:
    weights = [(term.weight, line.met) for term, line in zip(terms, settlement.lines, strict=True)]
    scored = sum(weight for weight, met in weights if met is not None)
    if not scored:
        return None
    return credits.money(Decimal(100) * sum(weight for weight, met in weights if met) / scored)


def _figures(client: Client, period: date, contract: Contract, terms, draft: ScorecardDraft) -> dict:
    """What the scorecard shows and the monthly business review pack reuses: stored with it."""
    return {
        "client": client.name,
        "period": period.strftime("%Y-%m"),
        "currency": contract.currency,
        "monthly_fee": str(contract.monthly_fee),
        "caps": {
            "credit_percent": str(contract.credit_cap_percent),
            "bonus_percent": str(contract.bonus_cap_percent),
        },
        "lines": [
            {
                "kpi": term.kpi,
                "kpi_label": KPI(term.kpi).label,
                "channel": term.channel,
                "comparator": term.get_comparator_display(),
                "target": str(term.target),
                "weight": term.weight,
                "actual": str(line.actual) if line.actual is not None else None,
                "numerator": draft.measures[term.pk].numerator,
                "denominator": draft.measures[term.pk].denominator,
                "met": line.met,
                "credit": str(line.credit),
                "bonus": str(line.bonus),
                "earned_back": str(line.earned_back),
            }
            for term, line in zip(terms, draft.settlement.lines, strict=True)
        ],
        "totals": {
            "credit": str(draft.settlement.credit),
            "bonus": str(draft.settlement.bonus),
            "earned_back": str(draft.settlement.earned_back),
            "net": str(draft.settlement.net),
        },
    }


def _contract(client: Client) -> Contract:
    contract = Contract.objects.filter(client=client).first()
    if contract is None:
        raise ApplicationError(f"{client} has no contract: add one (with its terms) first.")
    return contract


@transaction.atomic
def scorecard_compute(
    *, client: Client, period: date, actor: Any = None, now: datetime | None = None
) -> Scorecard:
    """Build or rebuild `client`'s draft scorecard for the month of `period`. A frozen scorecard
    is refused (reopen it first)."""
    now = now_or(now)
    period = month_start(period)
    contract = _contract(client)
    existing = Scorecard.objects.select_for_update().filter(client=client, period=period).first()
    if existing is not None and existing.status == ScorecardStatus.FROZEN:
        raise ApplicationError(
            f"The {period:%Y-%m} scorecard is frozen; reopen it (with a reason) to recompute."
        )
    terms = terms_in_force(client, period)
    if not terms:
        raise ApplicationError(f"{client} has no contract term in force in {period:%Y-%m}.")
    draft = scorecard_measure(client, period, terms, contract)
    scorecard = existing or Scorecard(client=client, period=period)
    scorecard.monthly_fee, scorecard.currency = contract.monthly_fee, contract.currency
    scorecard.credit_total = draft.settlement.credit
    scorecard.bonus_total = draft.settlement.bonus
    scorecard.earned_back_total = draft.settlement.earned_back
    scorecard.score_percent = _score(terms, draft.settlement)
    scorecard.data = _figures(client, period, contract, terms, draft)
    scorecard.computed_at = now
    save_with_history(scorecard, "computed" if existing is None else "recomputed", actor)
    scorecard.lines.all().delete()
    ScorecardLine.objects.bulk_create(
        [
            ScorecardLine(
                scorecard=scorecard,
                term=term,
                position=position,
                kpi=term.kpi,
                channel=term.channel,
                comparator=term.comparator,
                target=term.target,
                weight=term.weight,
                actual=line.actual,
                numerator=draft.measures[term.pk].numerator,
                denominator=draft.measures[term.pk].denominator,
                met=line.met,
                credit_percent=line.credit_percent,
                credit=line.credit,
                bonus_percent=line.bonus_percent,
                bonus=line.bonus,
                earned_back=line.earned_back,
            )
            for position, (term, line) in enumerate(zip(terms, draft.settlement.lines, strict=True))
        ]
    )
    return scorecard


@transaction.atomic
def scorecard_freeze(*, scorecard: Scorecard, actor: Any = None, now: datetime | None = None) -> Scorecard:
    """Recompute a draft scorecard one last time and freeze it. Freezing a frozen one changes
    nothing (the monthly task may run twice)."""
    now = now_or(now)
    scorecard = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
    if scorecard.status == ScorecardStatus.FROZEN:
        return scorecard
    if actor is not None:
        require_governance(actor, scorecard.client_id, "freeze a scorecard")
    scorecard = scorecard_compute(client=scorecard.client, period=scorecard.period, actor=actor, now=now)
    from ..packs import mbr_pack_data

    scorecard.data = {
        **scorecard.data,
        "pack": mbr_pack_data(client=scorecard.client, period=scorecard.period),
    }
    scorecard.status = ScorecardStatus.FROZEN
    scorecard.frozen_at = now
    scorecard.frozen_by = actor if actor is not None and hasattr(actor, "pk") else None
    save_with_history(scorecard, "frozen", actor)
    return scorecard


@transaction.atomic
def scorecard_reopen(*, scorecard: Scorecard, actor: Any, reason: str) -> Scorecard:
    """Back to draft so it can be recomputed (a late exclusion, an upheld dispute): governance
    role, with the reason in history."""
    reason = text_required(reason, "reason", "Say why the frozen scorecard is reopened.")
    require_governance(actor, scorecard.client_id, "reopen a scorecard")
    scorecard = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
    if scorecard.status != ScorecardStatus.FROZEN:
        raise ApplicationError("Only a frozen scorecard can be reopened.")
    scorecard.status = ScorecardStatus.DRAFT
    scorecard.frozen_at = None
    scorecard.frozen_by = None
    save_with_history(scorecard, f"reopened: {reason}", actor)
    return scorecard


def scorecards_freeze_last_month(*, now: datetime | None = None) -> dict:
    """The monthly task: compute and freeze last month's scorecard of every active client with a
    contract and terms in force. Idempotent: frozen scorecards are left as they are."""
    now = now_or(now)
    frozen = skipped = 0
    for client in Client.objects.filter(is_active=True, contract__isnull=False).order_by("pk"):
        local_today = now.astimezone(zoneinfo.ZoneInfo(client.timezone)).date()
        period = previous_month(month_start(local_today))
        if not terms_in_force(client, period):
            skipped += 1
            continue
        scorecard = Scorecard.objects.filter(client=client, period=period).first()
        if scorecard is not None and scorecard.status == ScorecardStatus.FROZEN:
            skipped += 1
            continue
        if scorecard is None:
            scorecard = scorecard_compute(client=client, period=period, now=now)
        scorecard_freeze(scorecard=scorecard, now=now)
        frozen += 1
    return {"frozen": frozen, "skipped": skipped}
