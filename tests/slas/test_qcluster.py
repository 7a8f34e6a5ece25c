"""The sweep in a real django-q2 cluster (ORM broker, PostgreSQL): a worker killed with SIGKILL
mid-sweep loses nothing and duplicates nothing once the task is re-delivered; and in a running
system a breach is recorded within 90 s of its due time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from cases import services as cases
from cases.choices import Channel
from slas.models import Breach, ClockEvent, SLAClock
from tests.factories import ClientFactory, CustomerFactory, QueueFactory, SLAPolicyFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _cluster(retry: int, log: Path) -> subprocess.Popen:
    """A real `manage.py qcluster` on the test database, its output appended to `log`."""
    from django.conf import settings

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "SECRET_KEY": settings.SECRET_KEY,  # tasks are signed with it
        "Q_WORKERS": "1",
        "Q_TIMEOUT": str(retry - 2),
        "Q_RETRY": str(retry),
        "Q_POLL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _kill(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    process.wait(timeout=30)


def _wait_for(condition, timeout: float, step: float = 0.2, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    output = log.read_text()[-4000:] if log and log.exists() else ""
    raise AssertionError(f"condition not met within {timeout} s\n{output}")


def _due_clocks(count: int, opened_at: datetime):
    client = ClientFactory()
    SLAPolicyFactory(client=client, targets={("first_response", "normal"): 60})
    queue = QueueFactory(client=client)
    for _ in range(count):
        cases.case_open(
            client=client,
            customer=CustomerFactory(client=client),
            queue=queue,
            subject="x",
            channel=Channel.EMAIL,
            opened_at=opened_at,
        )


def test_sigkilled_worker_mid_sweep_leaves_each_breach_exactly_once(monkeypatch, tmp_path):
    from django_q.conf import Conf
    from django_q.tasks import async_task

    _due_clocks(30, datetime.now(UTC) - timedelta(hours=1))
    monkeypatch.setattr(Conf, "SYNC", False)
    async_task("tests.slas.qcluster_tasks.slow_sweep_task", 5, 1.0, sync=False)
    log = tmp_path / "qcluster.log"
    first = _cluster(retry=8, log=log)
    try:
        _wait_for(lambda: Breach.objects.count() >= 10, timeout=60, log=log)
    finally:
        _kill(first)
    recorded_before_kill = Breach.objects.count()
    assert 10 <= recorded_before_kill < 30, "the kill must land in the middle of the sweep"
    second = _cluster(retry=8, log=log)
    try:
        _wait_for(lambda: Breach.objects.count() == 30, timeout=90, log=log)
        time.sleep(1)
    finally:
        _kill(second)
    assert Breach.objects.count() == 30
    assert SLAClock.objects.filter(breached_at__isnull=False).count() == 30
    assert ClockEvent.objects.filter(kind="breached").count() == 30
    assert Breach.objects.values("clock_id").distinct().count() == 30


def test_running_system_records_a_breach_within_90_seconds_of_its_due_time(tmp_path):
    call_command("sync_schedules")
    _due_clocks(1, datetime.now(UTC) - timedelta(seconds=55))  # due in about 5 s
    clock = SLAClock.objects.get()
    cluster = _cluster(retry=60, log=tmp_path / "qcluster.log")
    try:
        breach = _wait_for(
            lambda: Breach.objects.filter(clock=clock).first(),
            timeout=150,
            step=1,
            log=tmp_path / "qcluster.log",
        )
    finally:
        _kill(cluster)
    latency = (breach.detected_at - clock.due_at).total_seconds()
    assert 0 < latency <= 90, latency
