"""The sweep in a real django-q2 cluster (ORM broker, PostgreSQL): a worker killed with SIGKILL
mid-sweep loses nothing and duplicates nothing once the task is re-delivered; and in a running
system a breach is recorded within 90 s of its due time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from cases import services as cases
from cases.choices import Channel
from slas.models import Breach, ClockEvent, SLAClock
from tests.factories import ClientFactory, CustomerFactory, QueueFactory, SLAPolicyFactory
from tests.workers import cluster, kill, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


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
    first = cluster(retry=8, log=log)
    try:
        wait_for(lambda: Breach.objects.count() >= 10, timeout=60, log=log)
    finally:
        kill(first)
    recorded_before_kill = Breach.objects.count()
    assert 10 <= recorded_before_kill < 30, "the kill must land in the middle of the sweep"
    second = cluster(retry=8, log=log)
    try:
        wait_for(lambda: Breach.objects.count() == 30, timeout=90, log=log)
        time.sleep(1)
    finally:
        kill(second)
    assert Breach.objects.count() == 30
    assert SLAClock.objects.filter(breached_at__isnull=False).count() == 30
    assert ClockEvent.objects.filter(kind="breached").count() == 30
    assert Breach.objects.values("clock_id").distinct().count() == 30


def test_running_system_records_a_breach_within_90_seconds_of_its_due_time(tmp_path):
    call_command("sync_schedules")
    _due_clocks(1, datetime.now(UTC) - timedelta(seconds=55))  # due in about 5 s
    clock = SLAClock.objects.get()
    worker = cluster(retry=60, log=tmp_path / "qcluster.log")
    try:
        breach = wait_for(
            lambda: Breach.objects.filter(clock=clock).first(),
            timeout=150,
            step=1,
            log=tmp_path / "qcluster.log",
        )
    finally:
        kill(worker)
    latency = (breach.detected_at - clock.due_at).total_seconds()
    assert 0 < latency <= 90, latency
