"""Scheduled entry points: declared, safe to run twice, and the command that runs them now."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from config.schedules import SCHEDULES
from governance import tasks


def test_governance_schedules_are_declared_with_their_tasks():
    declared = {s.name: s for s in SCHEDULES if s.func.startswith("governance.")}
    assert {name: (s.func, s.minutes) for name, s in declared.items()} == {
        "governance-policy-changes": ("governance.tasks.policy_changes_apply_task", 1),
        "governance-catch-up": ("governance.tasks.governance_catch_up_task", 5),
        "governance-action-reminders": ("governance.tasks.action_reminders_task", 60),
        "governance-scorecards-freeze": ("governance.tasks.scorecards_freeze_task", 60),
    }
    for schedule in declared.values():
        assert callable(getattr(tasks, schedule.func.rsplit(".", 1)[1]))


@pytest.mark.django_db
def test_scheduled_tasks_run_twice_without_doing_anything_twice():
    for _ in range(2):
        assert tasks.policy_changes_apply_task() == 0
        assert tasks.action_reminders_task() == 0
        assert tasks.scorecards_freeze_task() == {"frozen": 0, "skipped": 0}
        assert tasks.governance_catch_up_task() == {
            "warnings": 0,
            "breaches": 0,
            "reviews": 0,
            "cases": 0,
            "sentiment": 0,
            "escalations_closed": 0,
        }


@pytest.mark.django_db
def test_governance_run_command():
    out = StringIO()
    call_command("governance_run", stdout=out)
    assert out.getvalue().splitlines()[0] == "policy changes applied: 0"
    assert "reminders sent: 0" in out.getvalue()
