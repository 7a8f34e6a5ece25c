"""A task for the real-worker tests: the production sweep task, with a pause after each batch so
that a test can kill the worker in the middle of it."""

import time


def slow_sweep_task(batch_size: int, pause_seconds: float) -> dict:
    from django.conf import settings

    from slas import sweep
    from slas.tasks import sla_sweep_task

    settings.ACCORD_SWEEP_BATCH_SIZE = batch_size
    original = sweep._breach_batch

    def breach_batch_then_pause(now, limit):
        result = original(now, limit)
        time.sleep(pause_seconds)
        return result

    sweep._breach_batch = breach_batch_then_pause
    return sla_sweep_task()
