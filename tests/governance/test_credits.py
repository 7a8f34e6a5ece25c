"""Service credits and bonuses (governance.credits), figures computed by hand."""

from __future__ import annotations

from decimal import Decimal as D

from governance.credits import Band, TermRule, settle, term_result

FEE = D("10000.00")
BANDS = (Band(D(95), D(98), D(2)), Band(D(90), D(95), D(5)), Band(None, D(90), D(10)))


def test_per_point_credit_is_shortfall_times_rate_then_capped():
    rule = TermRule("sl", target=D(80), credit_per_point=D(1))
    assert term_result(rule, D("75.5"), FEE).credit == D("450.00")  # 4.5 points x 1 % of 10,000
    capped = TermRule("sl", target=D(80), credit_per_point=D(1), credit_cap=D(3))
    result = term_result(capped, D("75.5"), FEE)
    assert (result.met, result.credit_percent, result.credit) == (False, D(3), D("300.00"))


def test_bands_are_read_on_the_actual_with_inclusive_minimum():
    rule = TermRule("fr", target=D(98), bands=BANDS)
    assert term_result(rule, D(98), FEE).credit == 0 and term_result(rule, D(98), FEE).met
    assert term_result(rule, D("97.99"), FEE).credit == D("200.00")
    assert term_result(rule, D(95), FEE).credit == D("200.00")
    assert term_result(rule, D("94.99"), FEE).credit == D("500.00")
    assert term_result(rule, D("89.99"), FEE).credit == D("1000.00")


def test_lower_is_better_terms_miss_above_the_target():
    rule = TermRule("ab", target=D(5), lower_is_better=True, credit_per_point=D("1.5"), bonus_per_point=D(1))
    missed = term_result(rule, D(7), FEE)
    assert (missed.met, missed.points, missed.credit) == (False, D(2), D("300.00"))
    beaten = term_result(rule, D(4), FEE)
    assert (beaten.met, beaten.bonus) == (True, D("100.00"))


def test_bonus_per_point_above_target_is_capped():
    rule = TermRule("cs", target=D(80), bonus_per_point=D("0.5"), bonus_cap=D(2))
    result = term_result(rule, D(90), FEE)
    assert (result.bonus_percent, result.bonus, result.credit) == (D(2), D("200.00"), 0)


def test_no_data_is_neither_met_nor_missed():
    result = term_result(TermRule("x", target=D(80), credit_per_point=D(5)), None, FEE)
    assert (result.met, result.credit, result.bonus) == (None, 0, 0)


def test_contract_caps_cut_totals_in_proportion_to_the_cent():
    rules = [
        TermRule("a", target=D(80), credit_per_point=D(1)),
        TermRule("b", target=D(80), credit_per_point=D(1)),
        TermRule("c", target=D(80), bonus_per_point=D(1)),
    ]
    settlement = settle(
        rules,
        {"a": D(75), "b": D(77), "c": D(90)},
        fee=FEE,
        credit_cap_percent=D(5),
        bonus_cap_percent=D(4),
    )
    # credits 500 + 300 = 800 over the 500 cap -> 312.50 and 187.50; bonus 1,000 over 400 -> 400
    assert [line.credit for line in settlement.lines] == [D("312.50"), D("187.50"), 0]
    assert (settlement.credit, settlement.bonus) == (D("500.00"), D("400.00"))
    assert settlement.net == D("-100.00")


def test_rounding_remainder_goes_to_the_largest_line():
    rules = [TermRule(k, target=D(80), credit_per_point=D(1)) for k in "abc"]
    settlement = settle(rules, {"a": D(79), "b": D(79), "c": D(79)}, fee=FEE, credit_cap_percent=D(1))
    assert sum(line.credit for line in settlement.lines) == settlement.credit == D("100.00")


def test_earned_back_credit_is_added_to_the_net():
    rules = [TermRule("a", target=D(80), credit_per_point=D(1))]
    settlement = settle(rules, {"a": D(85)}, fee=FEE, earned_back={"a": D("250")})
    assert (settlement.earned_back, settlement.net) == (D("250.00"), D("250.00"))
