"""Enqueueing django-q2 tasks that act on what the current transaction writes.

`task_enqueue` puts the task where it cannot run before the writes it needs are visible, nor be
lost after they commit:

- the ORM broker on the database being written, outside sync mode: now, inside the transaction.
  The broker's row commits or rolls back with the change that asked for it (an outbox for free:
  no crash between commit and enqueue can lose the task, and a rolled-back change leaves none),
  and the transaction commits once instead of twice (decision 0010);
- otherwise (Redis, sync mode in tests, no transaction open): after commit, as
  `transaction.on_commit(..., robust=True)`; a lost task is made good by the periodic task that
  re-sends what is still pending.
"""

from __future__ import annotations

from functools import partial

from django.db import connections, transaction


def task_enqueue(func: str, *args, **kwargs) -> None:
    """Enqueue `func(*args)` (a dotted path) for a worker; see the module doc for when."""
    from django_q.tasks import async_task

    if _joins_transaction():
        async_task(func, *args, **kwargs)
    else:
        transaction.on_commit(partial(async_task, func, *args, **kwargs), robust=True)


def _joins_transaction() -> bool:
    from django_q.conf import Conf

    alias = Conf.ORM
    return bool(alias) and not Conf.SYNC and connections[alias].in_atomic_block
