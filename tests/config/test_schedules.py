"""Schedules declared in code; the sync plan is pure and the command idempotent."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from config.schedules import SCHEDULES, DeclaredSchedule, ExistingSchedule, plan_sync

SWEEP = DeclaredSchedule(name="sweep", func="slas.tasks.sla_sweep_task", minutes=1)
DIGEST = DeclaredSchedule(name="digest", func="connectors.tasks.digest", minutes=5)


def test_plan_creates_missing_schedules():
    plan = plan_sync((SWEEP, DIGEST), [])
    assert (plan.create, plan.update, plan.delete) == ((SWEEP, DIGEST), (), ())


def test_plan_updates_changed_and_deletes_undeclared_managed_schedules():
    existing = [
        ExistingSchedule(name="accord:sweep", func="slas.tasks.old_name", minutes=1, schedule_type="I"),
        ExistingSchedule(name="accord:gone", func="x.y", minutes=5, schedule_type="I"),
        ExistingSchedule(name="hand-made", func="x.z", minutes=5, schedule_type="I"),
    ]
    plan = plan_sync((SWEEP,), existing)
    assert (plan.create, plan.update, plan.delete) == ((), (SWEEP,), ("accord:gone",))


def test_plan_is_empty_when_in_step():
    existing = [ExistingSchedule(name="accord:sweep", func=SWEEP.func, minutes=1, schedule_type="I")]
    assert plan_sync((SWEEP,), existing).is_empty


def test_every_declared_task_times_out_before_the_cluster_retries(settings):
    for schedule in SCHEDULES:
        assert schedule.timeout < settings.Q_CLUSTER["retry"]


@pytest.mark.django_db
def test_sync_command_is_idempotent_and_leaves_hand_made_schedules():
    Schedule.objects.create(name="hand-made", func="math.floor", schedule_type=Schedule.DAILY)
    call_command("sync_schedules")
    first = sorted(Schedule.objects.values_list("name", "func", "minutes"))
    call_command("sync_schedules")
    assert sorted(Schedule.objects.values_list("name", "func", "minutes")) == first
    assert {name for name, _, _ in first} == {"hand-made", *(s.full_name for s in SCHEDULES)}
