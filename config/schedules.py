"""Scheduled tasks, declared in code and synced into django-q2 by `manage.py sync_schedules`.

`plan_sync` is pure: given what is declared and what the database holds, it says what to create,
update and delete. Only schedules whose name starts with `PREFIX` are managed, so schedules
that someone added by hand in admin are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "accord:"


@dataclass(frozen=True)
class DeclaredSchedule:
    name: str
    func: str
    minutes: int
    # Seconds a run may take before django-q2 kills it; always below the cluster's `retry`.
    timeout: int = 55

    @property
    def full_name(self) -> str:
        return f"{PREFIX}{self.name}"


SCHEDULES: tuple[DeclaredSchedule, ...] = (
    DeclaredSchedule(name="sla-sweep", func="slas.tasks.sla_sweep_task", minutes=1),
    DeclaredSchedule(name="api-idempotency-purge", func="cases.api.tasks.idempotency_purge_task", minutes=60),
    # Governance: apply approved SLA policy changes when due; catch up rule evaluation, automatic
    # reviews and sentiment that a lost task left behind; corrective-action reminders.
    DeclaredSchedule(
        name="governance-policy-changes", func="governance.tasks.policy_changes_apply_task", minutes=1
    ),
    DeclaredSchedule(name="governance-catch-up", func="governance.tasks.governance_catch_up_task", minutes=5),
    DeclaredSchedule(
        name="governance-action-reminders", func="governance.tasks.action_reminders_task", minutes=60
    ),
    # Month end: last month's scorecards are computed and frozen (idempotent, so hourly is safe
    # and catches up after downtime; each client's month ends in its own time zone).
    DeclaredSchedule(
        name="governance-scorecards-freeze",
        func="governance.tasks.scorecards_freeze_task",
        minutes=60,
        timeout=50,
    ),
    DeclaredSchedule(name="connectors-imap-poll", func="connectors.tasks.imap_poll_task", minutes=1),
    DeclaredSchedule(name="connectors-outbox-resend", func="connectors.tasks.outbox_resend_task", minutes=1),
    DeclaredSchedule(name="connectors-alert-digest", func="connectors.tasks.alert_digest_task", minutes=1),
    DeclaredSchedule(name="connectors-retention", func="connectors.tasks.retention_task", minutes=60),
)


@dataclass(frozen=True)
class ExistingSchedule:
    name: str
    func: str
    minutes: int | None
    schedule_type: str


@dataclass(frozen=True)
class SyncPlan:
    create: tuple[DeclaredSchedule, ...]
    update: tuple[DeclaredSchedule, ...]
    delete: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def plan_sync(declared: tuple[DeclaredSchedule, ...], existing: list[ExistingSchedule]) -> SyncPlan:
    """What to change so that the managed schedules in the database equal `declared`."""
    current = {row.name: row for row in existing if row.name.startswith(PREFIX)}
    wanted = {schedule.full_name: schedule for schedule in declared}
    create = tuple(s for name, s in wanted.items() if name not in current)
    update = tuple(
        s
        for name, s in wanted.items()
        if name in current
        and (current[name].func, current[name].minutes, current[name].schedule_type)
        != (s.func, s.minutes, "I")
    )
    delete = tuple(sorted(name for name in current if name not in wanted))
    return SyncPlan(create=create, update=update, delete=delete)
