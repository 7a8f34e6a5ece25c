"""Service credits and bonuses from contract terms and measured actuals. Pure: no Django, no I/O.

A term is met when the actual is on the right side of the target (``>=`` for most KPIs, ``<=``
for abandonment and handle time). A missed term owes a credit, a share of the monthly fee:
- by bands: the first band whose ``[min, max)`` holds the actual gives the percent (bands are
  written on the actual, e.g. 95-98 → 2 %, below 90 → 10 %);
- or per point of shortfall: ``credit_per_point`` percent for each point (or part of a point)
  the actual misses the target by.
A term's credit is capped by its ``credit_cap`` percent. An exceeded term earns a bonus of
``bonus_per_point`` percent per point above the target (below it for ``<=``), capped by its
``bonus_cap``. Then the scorecard's totals are capped by the contract's caps (the fee at risk,
the bonus pool); when a cap cuts the total, each term keeps its share in proportion.

Earn-back: a credit is waived when the same term is met in each of the ``earn_back_months``
months that follow; the scorecard of the last of those months gives it back (``earned_back``).

A term with no data (no contacts, no clocks...) is neither met nor missed: no credit, no bonus.
Money is Decimal, rounded half-up to cents at each line and each total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Band:
    """Actual in ``[minimum, maximum)`` (None: unbounded) owes ``percent`` of the monthly fee."""

    minimum: Decimal | None
    maximum: Decimal | None
    percent: Decimal

    def holds(self, actual: Decimal) -> bool:
        return (self.minimum is None or actual >= self.minimum) and (
            self.maximum is None or actual < self.maximum
        )


@dataclass(frozen=True)
class TermRule:
    key: str
    target: Decimal
    lower_is_better: bool = False
    bands: Sequence[Band] = ()
    credit_per_point: Decimal = Decimal(0)
    credit_cap: Decimal | None = None
    bonus_per_point: Decimal = Decimal(0)
    bonus_cap: Decimal | None = None


@dataclass(frozen=True)
class TermResult:
    key: str
    actual: Decimal | None
    met: bool | None
    points: Decimal  # shortfall (positive) or excess (negative), in the KPI's own points
    credit_percent: Decimal
    credit: Decimal
    bonus_percent: Decimal
    bonus: Decimal
    earned_back: Decimal = Decimal(0)


@dataclass(frozen=True)
class Settlement:
    lines: list[TermResult] = field(default_factory=list)
    credit: Decimal = Decimal(0)
    bonus: Decimal = Decimal(0)
    earned_back: Decimal = Decimal(0)

    @property
    def net(self) -> Decimal:
        """What the BPO is owed on top of the fee: bonus + earned back - credit."""
        return self.bonus + self.earned_back - self.credit


def shortfall(rule: TermRule, actual: Decimal) -> Decimal:
    """Points the actual misses the target by (negative: points it beats it by)."""
    return actual - rule.target if rule.lower_is_better else rule.target - actual


def _capped(percent: Decimal, cap: Decimal | None) -> Decimal:
    return percent if cap is None else min(percent, cap)


def term_result(rule: TermRule, actual: Decimal | None, fee: Decimal) -> TermResult:
    if actual is None:
        zero = Decimal(0)
        return TermResult(rule.key, None, None, zero, zero, zero, zero, zero)
    points = shortfall(rule, actual)
    credit_percent = bonus_percent = Decimal(0)
    if points > 0:
        if rule.bands:
            credit_percent = next((band.percent for band in rule.bands if band.holds(actual)), Decimal(0))
        else:
            credit_percent = rule.credit_per_point * points
        credit_percent = _capped(credit_percent, rule.credit_cap)
    elif points < 0:
        bonus_percent = _capped(rule.bonus_per_point * -points, rule.bonus_cap)
    return TermResult(
        key=rule.key,
        actual=actual,
        met=points <= 0,
        points=points,
        credit_percent=credit_percent,
        credit=money(fee * credit_percent / HUNDRED),
        bonus_percent=bonus_percent,
        bonus=money(fee * bonus_percent / HUNDRED),
    )


def _scale(lines: list[TermResult], attribute: str, cap: Decimal) -> tuple[list[TermResult], Decimal]:
    """Cut the lines' `attribute` in proportion so that they sum to `cap` (cents kept exact: the
    rounding remainder goes to the largest line)."""
    total = sum((getattr(line, attribute) for line in lines), Decimal(0))
    if total <= cap:
        return lines, total
    scaled = [money(getattr(line, attribute) * cap / total) for line in lines]
    remainder = cap - sum(scaled, Decimal(0))
    if remainder and scaled:
        largest = max(range(len(scaled)), key=lambda index: scaled[index])
        scaled[largest] += remainder
    return [replace(line, **{attribute: amount}) for line, amount in zip(lines, scaled, strict=True)], cap


def settle(
    rules: Sequence[TermRule],
    actuals: dict[str, Decimal | None],
    *,
    fee: Decimal,
    credit_cap_percent: Decimal | None = None,
    bonus_cap_percent: Decimal | None = None,
    earned_back: dict[str, Decimal] | None = None,
) -> Settlement:
    """Every term's result and the capped totals. `earned_back` maps a term key to the credit of
    an earlier month given back on this scorecard (see the module docstring)."""
    lines = [term_result(rule, actuals.get(rule.key), fee) for rule in rules]
    credit = sum((line.credit for line in lines), Decimal(0))
    bonus = sum((line.bonus for line in lines), Decimal(0))
    if credit_cap_percent is not None:
        lines, credit = _scale(lines, "credit", money(fee * credit_cap_percent / HUNDRED))
    if bonus_cap_percent is not None:
        lines, bonus = _scale(lines, "bonus", money(fee * bonus_cap_percent / HUNDRED))
    earned_back = earned_back or {}
    lines = [replace(line, earned_back=money(earned_back.get(line.key, Decimal(0)))) for line in lines]
    return Settlement(
        lines=lines,
        credit=money(credit),
        bonus=money(bonus),
        earned_back=money(sum((line.earned_back for line in lines), Decimal(0))),
    )
