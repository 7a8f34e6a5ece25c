"""Real django-q2 workers for the tests that need one: `manage.py qcluster` on the test
database, in its own process group, its output appended to a log the failures quote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def cluster(retry: int, log: Path, **env: str) -> subprocess.Popen:
    """A real `manage.py qcluster` on the test database (PostgreSQL), with `env` added (e.g.
    REDIS_URL for the Redis broker)."""
    from django.conf import settings

    db = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "SECRET_KEY": settings.SECRET_KEY,  # tasks are signed with it
        "Q_WORKERS": "1",
        "Q_TIMEOUT": str(retry - 2),
        "Q_RETRY": str(retry),
        "Q_POLL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=environment,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def kill(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    process.wait(timeout=30)


def wait_for(condition, timeout: float, step: float = 0.2, log: Path | None = None):
    """`condition()`'s first truthy value within `timeout` seconds, else an AssertionError with
    the end of `log`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    output = log.read_text()[-4000:] if log and log.exists() else ""
    raise AssertionError(f"condition not met within {timeout} s\n{output}")
