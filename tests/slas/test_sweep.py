"""The breach sweep: exactly once, crash-safe, concurrent-safe, cost independent of open cases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from cases import services as cases
from cases.choices import Channel, Priority
from slas import sweep as sweep_module
from slas.events import ClocksBreached, ClocksWarned
from slas.models import Breach, ClockEvent, SLAClock, SLAWarning
from slas.sweep import sla_sweep
from slas.tasks import sla_sweep_task
from tests.factories import ClientFactory, CustomerFactory, QueueFactory, SLAPolicyFactory

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FR, RES = "first_response", "resolution"


def _setup(count: int, *, client=None, at=T0):
    client = client or ClientFactory()
    SLAPolicyFactory(client=client, targets={(FR, "normal"): 3600, (RES, "normal"): 8 * 3600})
    queue = QueueFactory(client=client)
    return [
        cases.case_open(
            client=client,
            customer=CustomerFactory(client=client),
            queue=queue,
            subject="x",
            channel=Channel.EMAIL,
            priority=Priority.NORMAL,
            opened_at=at,
        )
        for _ in range(count)
    ]


@pytest.mark.django_db
def test_sweep_records_each_warning_and_breach_once(captured_events):
    opened = _setup(3)
    warned = captured_events(ClocksWarned, phase="transaction")
    breached = captured_events(ClocksBreached, phase="transaction")
    assert sla_sweep(now=T0 + timedelta(minutes=30)).as_dict() == {"warned": 0, "breached": 0}
    assert sla_sweep(now=T0 + timedelta(minutes=50)).as_dict() == {"warned": 3, "breached": 0}
    assert sla_sweep(now=T0 + timedelta(minutes=61)).as_dict() == {"warned": 0, "breached": 3}
    assert sla_sweep(now=T0 + timedelta(minutes=62)).as_dict() == {"warned": 0, "breached": 0}
    assert Breach.objects.count() == 3
    assert set(Breach.objects.values_list("breached_at", "detected_by", "metric")) == {
        (T0 + timedelta(hours=1), "sweep", FR)
    }
    assert SLAWarning.objects.count() == 3
    assert sorted(a.case_id for e in breached for a in e.alerts) == sorted(c.pk for c in opened)
    assert sum(len(e.alerts) for e in warned) == 3


@pytest.mark.django_db
def test_warning_and_breach_found_together_are_both_recorded():
    _setup(1)
    assert sla_sweep(now=T0 + timedelta(hours=2)).as_dict() == {"warned": 1, "breached": 1}
    clock = SLAClock.objects.get(metric=FR)
    assert (clock.warned_at, clock.breached_at) == (T0 + timedelta(minutes=48), T0 + timedelta(hours=1))
    kinds = list(ClockEvent.objects.filter(clock=clock).order_by("at", "id").values_list("kind", flat=True))
    assert kinds == ["started", "warned", "breached"]


@pytest.mark.django_db
def test_stopped_and_paused_clocks_are_not_swept():
    case = _setup(1)[0]
    cases.interaction_append(
        case=case,
        channel=Channel.EMAIL,
        direction="outbound",
        author_kind="agent",
        occurred_at=T0 + timedelta(minutes=5),
    )
    cases.case_status_set(case=case, status="pending", actor=None, occurred_at=T0 + timedelta(minutes=6))
    assert sla_sweep(now=T0 + timedelta(days=3)).as_dict() == {"warned": 0, "breached": 0}
    assert not Breach.objects.exists()


@pytest.mark.django_db
def test_a_breach_recorded_at_stop_is_not_recorded_again_by_the_sweep():
    case = _setup(1)[0]
    cases.interaction_append(
        case=case,
        channel=Channel.EMAIL,
        direction="outbound",
        author_kind="agent",
        occurred_at=T0 + timedelta(hours=2),
    )
    assert sla_sweep(now=T0 + timedelta(hours=3)).breached == 0
    assert Breach.objects.get().detected_by == "stop"


@pytest.mark.django_db
def test_a_crash_midway_loses_nothing_and_duplicates_nothing(monkeypatch):
    _setup(4)
    real_publish = sweep_module.publish

    def crash_after_writing_breaches(event):
        if isinstance(event, ClocksBreached):
            raise RuntimeError("worker died after writing the breach rows, before commit")
        real_publish(event)

    monkeypatch.setattr(sweep_module, "publish", crash_after_writing_breaches)
    with pytest.raises(RuntimeError):
        sla_sweep(now=T0 + timedelta(hours=2))
    # The warning batch had committed; the breach batch rolled back whole.
    assert (Breach.objects.count(), SLAWarning.objects.count()) == (0, 4)
    assert not SLAClock.objects.filter(breached_at__isnull=False).exists()
    assert not ClockEvent.objects.filter(kind="breached").exists()
    monkeypatch.setattr(sweep_module, "publish", real_publish)
    assert sla_sweep(now=T0 + timedelta(hours=2)).as_dict() == {"warned": 0, "breached": 4}
    assert sla_sweep(now=T0 + timedelta(hours=2)).as_dict() == {"warned": 0, "breached": 0}
    assert (Breach.objects.count(), SLAWarning.objects.count()) == (4, 4)
    assert ClockEvent.objects.filter(kind="warned").count() == 4
    assert ClockEvent.objects.filter(kind="breached").count() == 4


@pytest.mark.django_db
def test_batches_cover_everything_due():
    _setup(7)
    assert sla_sweep(now=T0 + timedelta(hours=2), batch_size=3).as_dict() == {"warned": 7, "breached": 7}
    assert Breach.objects.count() == 7


@pytest.mark.django_db
def test_task_and_command_are_safe_to_run_twice(capsys, settings):
    _setup(2, at=datetime.now(UTC) - timedelta(hours=2))
    assert sla_sweep_task() == {"warned": 2, "breached": 2}
    assert sla_sweep_task() == {"warned": 0, "breached": 0}
    call_command("sla_sweep")
    assert "0 warnings, 0 breaches" in capsys.readouterr().out
    assert Breach.objects.count() == 2


@pytest.mark.django_db
def test_sweep_cost_does_not_grow_with_due_clocks():
    from django.test.utils import CaptureQueriesContext

    _setup(2)
    with CaptureQueriesContext(connection) as two:
        assert sla_sweep(now=T0 + timedelta(hours=2)).breached == 2
    sla_sweep(now=T0 + timedelta(hours=9))  # their resolution clocks, out of the way
    _setup(20, at=T0 + timedelta(days=1))
    with CaptureQueriesContext(connection) as twenty:
        assert sla_sweep(now=T0 + timedelta(days=1, hours=2)).breached == 20
    assert len(twenty) == len(two)


@pytest.mark.django_db
def test_sweep_with_nothing_due_is_two_index_lookups():
    """The warning lookup, then the breach lookup (on PostgreSQL the one-statement claim, which
    finds nothing to lock and so writes nothing)."""
    from django.test.utils import CaptureQueriesContext

    _setup(5)
    with CaptureQueriesContext(connection) as captured:
        sla_sweep(now=T0 + timedelta(minutes=1))
    statements = [q["sql"].strip() for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 2 and statements[0].startswith("SELECT")
    assert statements[1].startswith("WITH due AS" if connection.vendor == "postgresql" else "SELECT")
    assert not Breach.objects.exists() and not ClockEvent.objects.filter(kind="breached").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_record_each_breach_exactly_once():
    _setup(60)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(sla_sweep(now=T0 + timedelta(hours=2), batch_size=7))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.breached for r in results) == 60
    assert sum(r.warned for r in results) == 60
    assert Breach.objects.count() == 60 and SLAWarning.objects.count() == 60
    assert ClockEvent.objects.filter(kind="breached").count() == 60
