"""`config.tasks.task_enqueue`: on the ORM broker the task row joins the transaction (commits or
rolls back with the change); with another broker, or in sync mode, it waits for the commit."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_q.conf import Conf
from django_q.models import OrmQ

from config.tasks import task_enqueue

TASK = "math.floor"


class Rollback(Exception):
    pass


@pytest.fixture
def orm_broker(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")


@pytest.mark.django_db(transaction=True)
def test_orm_broker_task_commits_with_the_transaction(orm_broker):
    with transaction.atomic():
        task_enqueue(TASK, 1.5)
        assert OrmQ.objects.count() == 1  # written now, in the transaction
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_orm_broker_task_rolls_back_with_the_transaction(orm_broker):
    with pytest.raises(Rollback), transaction.atomic():
        task_enqueue(TASK, 1.5)
        raise Rollback
    assert OrmQ.objects.count() == 0


@pytest.mark.django_db
def test_another_broker_waits_for_the_commit(monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)  # e.g. Redis
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        task_enqueue(TASK, 1.5)
        assert sent == []
    assert len(callbacks) == 1
    assert sent == [(TASK, 1.5)]


@pytest.mark.django_db
def test_sync_mode_runs_the_task_after_the_commit(monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        task_enqueue(TASK, 2.5)
        assert sent == []
    assert sent == [(TASK, 2.5)]
