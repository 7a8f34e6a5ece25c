"""Rule matching and tier selection (pure)."""

from __future__ import annotations

import pytest

from governance.rules import (
    CaseFacts,
    Occurrence,
    RuleSpec,
    TierSpec,
    rules_matching,
    tier_after,
    tier_choose,
)

CASE = CaseFacts(channel="chat", priority="high", queue_id=7, is_vip=False)


def rule(id=1, trigger="sla_breach", **kwargs):
    return RuleSpec(id=id, order=kwargs.pop("order", 100), trigger=trigger, **kwargs)


@pytest.mark.parametrize(
    ("spec", "occurrence", "case", "fires"),
    [
        (rule(), Occurrence("sla_breach", "1", metric="first_response"), CASE, True),
        (
            rule(metrics=frozenset({"resolution"})),
            Occurrence("sla_breach", "1", metric="first_response"),
            CASE,
            False,
        ),
        (rule(trigger="sla_warning"), Occurrence("sla_breach", "1", metric="first_response"), CASE, False),
        (rule(channels=frozenset({"email"})), Occurrence("sla_breach", "1"), CASE, False),
        (rule(channels=frozenset({"chat", "email"})), Occurrence("sla_breach", "1"), CASE, True),
        (rule(priorities=frozenset({"urgent"})), Occurrence("sla_breach", "1"), CASE, False),
        (rule(queue_ids=frozenset({8})), Occurrence("sla_breach", "1"), CASE, False),
        (rule(queue_ids=frozenset({7})), Occurrence("sla_breach", "1"), CASE, True),
        # negative sentiment fires when the rolling sentiment crosses below the threshold
        (
            rule(trigger="negative_sentiment", sentiment_threshold=-0.5),
            Occurrence("negative_sentiment", "e1", sentiment_before=None, sentiment_after=-0.6),
            CASE,
            True,
        ),
        (
            rule(trigger="negative_sentiment", sentiment_threshold=-0.5),
            Occurrence("negative_sentiment", "e2", sentiment_before=-0.1, sentiment_after=-0.5),
            CASE,
            False,
        ),
        (
            rule(trigger="negative_sentiment", sentiment_threshold=-0.5),
            Occurrence("negative_sentiment", "e3", sentiment_before=-0.7, sentiment_after=-0.8),
            CASE,
            False,
        ),
        (rule(trigger="vip_customer"), Occurrence("vip_customer", "opened"), CASE, False),
        (
            rule(trigger="vip_customer"),
            Occurrence("vip_customer", "opened"),
            CaseFacts("chat", "high", 7, is_vip=True),
            True,
        ),
        (rule(trigger="reopened", reopen_count=2), Occurrence("reopened", "1", reopen_count=1), CASE, False),
        (rule(trigger="reopened", reopen_count=2), Occurrence("reopened", "2", reopen_count=2), CASE, True),
        (rule(trigger="reopened", reopen_count=2), Occurrence("reopened", "3", reopen_count=3), CASE, True),
        (
            rule(trigger="priority_raised"),
            Occurrence("priority_raised", "e", priority_before="normal", priority_after="high"),
            CASE,
            True,
        ),
        (
            rule(trigger="priority_raised"),
            Occurrence("priority_raised", "e", priority_before="urgent", priority_after="high"),
            CASE,
            False,
        ),
    ],
)
def test_rule_fires_on_its_trigger_and_conditions_only(spec, occurrence, case, fires):
    assert (rules_matching([spec], case, occurrence) == [spec]) is fires


def test_rules_fire_in_order_and_stop_processing_ends_the_list():
    first, second, third = rule(1, order=30), rule(2, order=10, stop_processing=False), rule(3, order=20)
    occurrence = Occurrence("sla_breach", "1")
    assert [r.id for r in rules_matching([first, second, third], CASE, occurrence)] == [2, 3, 1]
    stopper = rule(3, order=20, stop_processing=True)
    assert [r.id for r in rules_matching([first, second, stopper], CASE, occurrence)] == [2, 3]


@pytest.mark.parametrize(
    ("action", "current", "expected"),
    [
        ("", 1, None),
        ("next", 1, 2),
        ("next", 2, 3),
        ("next", 3, None),
        ("2", 1, 2),
        ("2", 2, None),
        ("3", 2, 3),
    ],
)
def test_tier_after(action, current, expected):
    assert tier_after(action, current) == expected


def test_tier_choose_prefers_the_queue_specific_tier():
    general, billing, other_level = TierSpec(5, 2), TierSpec(9, 2, frozenset({7})), TierSpec(1, 3)
    assert tier_choose([general, billing, other_level], level=2, queue_id=7) == billing
    assert tier_choose([general, billing, other_level], level=2, queue_id=8) == general
    assert tier_choose([billing], level=2, queue_id=8) is None
    assert tier_choose([general, billing], level=3, queue_id=7) is None
