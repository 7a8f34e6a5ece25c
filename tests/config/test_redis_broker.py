"""Redis as the django-q2 broker (`REDIS_URL`), against a real Redis: every task of a process
goes over one connection, and a customer's message enqueued there is scored by a real worker."""

from __future__ import annotations

import pytest
import redis
from django.utils import timezone
from django_q.conf import Conf
from django_q.signing import SignedPackage

from cases import services as cases
from cases.choices import Channel
from config.tasks import task_enqueue, task_send
from governance.models import SentimentScore
from tests.factories import CustomerFactory, QueueFactory
from tests.workers import cluster, kill, wait_for

TASK = "math.floor"
ANGRY = "Awful, horrible, useless. I hate this."


@pytest.fixture
def redis_broker(redis_url, monkeypatch):
    """The settings `REDIS_URL` gives (config/settings/base.py), on the test's Redis; its queue
    emptied before and after."""
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", redis_url)
    server = redis.from_url(redis_url)
    queue = f"django_q:{Conf.CLUSTER_NAME}:q"
    server.delete(queue)
    yield server, queue
    server.delete(queue)
    server.close()


def _connections_opened(server) -> int:
    return server.info("stats")["total_connections_received"]


@pytest.mark.django_db
def test_every_task_of_a_process_goes_over_one_connection(redis_broker, django_capture_on_commit_callbacks):
    server, queue = redis_broker
    task_send(TASK, 0.5)  # the process's broker connects once
    before = _connections_opened(server)
    with django_capture_on_commit_callbacks(execute=True):
        for value in range(20):
            task_enqueue(TASK, value + 0.5)
    for value in range(20, 25):
        task_send(TASK, value + 0.5)
    assert _connections_opened(server) - before == 0
    assert server.llen(queue) == 26
    tasks = [SignedPackage.loads(package) for package in server.lrange(queue, 0, -1)]
    expected = [(TASK, (0.5,))] + [(TASK, (value + 0.5,)) for value in range(25)]
    assert [(task["func"], task["args"]) for task in tasks] == expected


@pytest.mark.django_db
def test_a_rolled_back_change_sends_no_task(redis_broker):
    from django.db import transaction

    server, queue = redis_broker
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        task_enqueue(TASK, 1.5)
        1 / 0  # noqa: B018
    assert server.llen(queue) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_message_enqueued_on_redis_is_scored_by_a_real_worker(redis_broker, redis_url, client_a, tmp_path):
    case = cases.case_open(
        client=client_a,
        customer=CustomerFactory(client=client_a),
        queue=QueueFactory(client=client_a),
        subject="Router keeps restarting",
        channel=Channel.CHAT,
    )
    message = cases.interaction_append(
        case=case,
        channel=Channel.CHAT,
        direction="inbound",
        author_kind="customer",
        body=ANGRY,
        occurred_at=timezone.now(),
    ).interaction
    server, queue = redis_broker
    assert server.llen(queue) == 1  # the sentiment task, sent after the commit
    log = tmp_path / "qcluster.log"
    worker = cluster(retry=30, log=log, REDIS_URL=redis_url)
    try:
        score = wait_for(
            lambda: SentimentScore.objects.filter(interaction=message).first(), timeout=60, log=log
        )
    finally:
        kill(worker)
    assert score.score == pytest.approx(-0.9186)
    case.refresh_from_db()
    assert case.sentiment == pytest.approx(-0.9186)
    assert server.llen(queue) == 0
