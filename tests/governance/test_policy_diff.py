"""Policy diff and what-if comparison (pure)."""

from __future__ import annotations

from governance.policy_diff import policy_diff, whatif_compare

BASE = {
    "name": "E-mail",
    "order": 10,
    "is_active": True,
    "channels": ["email"],
    "priorities": [],
    "segments": [],
    "queues": [3, 1],
    "calendar": 4,
    "warning_percent": 80,
    "pause_statuses": {"resolution": ["pending", "on_hold"], "first_response": []},
    "targets": {"first_response:normal": 3600, "resolution:normal": 86400},
}


def test_diff_lists_changed_fields_and_targets_only():
    proposed = {
        **BASE,
        "queues": [1, 3],
        "warning_percent": 75,
        "pause_statuses": {"resolution": ["on_hold", "pending"]},
        "targets": {"first_response:normal": 1800, "first_response:urgent": 600},
    }
    assert [line.as_dict() for line in policy_diff(BASE, proposed)] == [
        {"field": "warning_percent", "label": "Warning at % of target", "old": 80, "new": 75},
        {
            "field": "target:first_response:normal",
            "label": "Target first response / normal",
            "old": 3600,
            "new": 1800,
        },
        {
            "field": "target:first_response:urgent",
            "label": "Target first response / urgent",
            "old": None,
            "new": 600,
        },
        {
            "field": "target:resolution:normal",
            "label": "Target resolution / normal",
            "old": 86400,
            "new": None,
        },
    ]
    assert policy_diff(BASE, dict(BASE)) == []


def test_whatif_counts_each_kind_of_change():
    current = {
        (1, "first_response", 1): "met",
        (1, "resolution", 1): "met",
        (2, "first_response", 1): "missed",
        (3, "first_response", 1): "missed",
        (4, "resolution", 1): "running",
        (5, "next_response", 1): "met",
    }
    proposed = {
        (1, "first_response", 1): "missed",
        (1, "resolution", 1): "met",
        (2, "first_response", 1): "met",
        (3, "first_response", 1): "missed",
        (4, "resolution", 1): "missed",
        (6, "first_response", 1): "met",
    }
    result = whatif_compare(current, proposed)
    assert result == {
        "clocks": 5,
        "met_to_missed": 1,
        "missed_to_met": 1,
        "still_met": 1,
        "still_missed": 1,
        "undecided": 1,
        "only_current": 1,
        "only_proposed": 1,
        "attainment_current": 60.0,  # met 3 of (3 met + 2 missed)
        "attainment_proposed": 50.0,  # met 3 of (3 met + 3 missed)
        "by_metric": {
            "first_response": {"clocks": 3, "met_to_missed": 1, "missed_to_met": 1},
            "next_response": {"clocks": 0, "met_to_missed": 0, "missed_to_met": 0},
            "resolution": {"clocks": 2, "met_to_missed": 0, "missed_to_met": 0},
        },
    }
