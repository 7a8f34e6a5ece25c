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

Either way the task goes through the process's one broker (`task_send`). django-q2's
`async_task` builds a new broker for each task unless it is given one, and a new Redis broker
is a new client with its own connection pool: with `REDIS_URL` set, every task opened (and
left to the garbage collector) a TCP connection of its own.
"""

from __future__ import annotations

from functools import lru_cache, partial

from django.db import connections, transaction


def task_enqueue(func: str, *args, **kwargs) -> None:
    """Enqueue `func(*args)` (a dotted path) for a worker; see the module doc for when."""
    if _joins_transaction():
        task_send(func, *args, **kwargs)
    else:
        transaction.on_commit(partial(task_send, func, *args, **kwargs), robust=True)


def task_send(func: str, *args, **kwargs):
    """Hand `func(*args)` to the broker now, whatever the transaction (for a task that acts on
    what is committed already); returns the task's id. `kwargs` are `async_task`'s."""
    from django_q.tasks import async_task

    return async_task(func, *args, broker=process_broker(), **kwargs)


def process_broker():
    """This process's django-q2 broker, made once for the broker settings in force (tests change
    them). A Redis broker's client is thread-safe and reconnects after a fork (redis-py checks
    the pid); the ORM broker holds no connection of its own (Django's are per thread)."""
    from django_q.conf import Conf

    return _broker(Conf.BROKER_CLASS, Conf.ORM, repr(Conf.REDIS), Conf.CLUSTER_NAME)


@lru_cache(maxsize=4)
def _broker(broker_class, orm, redis, cluster_name):
    # The arguments are the cache key only: get_broker() reads the same settings from Conf.
    from django_q.brokers import get_broker

    return get_broker()


def _joins_transaction() -> bool:
    from django_q.conf import Conf

    alias = Conf.ORM
    return bool(alias) and not Conf.SYNC and connections[alias].in_atomic_block
