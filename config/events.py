"""A small in-process event dispatcher.

Services publish frozen dataclass events; apps subscribe in their `AppConfig.ready()`, so the
direction cases -> slas -> governance stays visible in one place per app.

Two phases:
- ``"transaction"``: the handler runs immediately, inside the publisher's transaction. Use it
  for state that must commit or roll back with the change (SLA clocks follow the case; outbox
  rows for webhooks and alerts are written with the breach).
- ``"commit"``: the handler runs after the transaction commits (``transaction.on_commit``,
  robust: one failing handler is logged and does not stop the others). Use it for side effects
  outside the database. A django-q2 task goes through `config.tasks.task_enqueue` from a
  transaction-phase handler instead: on the ORM broker it joins the transaction (decision 0010).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from django.db import transaction

logger = logging.getLogger(__name__)

Phase = Literal["transaction", "commit"]
Handler = Callable[[Any], None]

_handlers: dict[Phase, dict[type, list[Handler]]] = {
    "transaction": defaultdict(list),
    "commit": defaultdict(list),
}


def subscribe(event_type: type, handler: Handler, *, phase: Phase = "commit") -> None:
    """Register `handler` for events of `event_type` (idempotent: registering twice is a no-op)."""
    handlers = _handlers[phase][event_type]
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(event_type: type, handler: Handler, *, phase: Phase = "commit") -> None:
    """Remove a registered handler (tests use it to clean up)."""
    handlers = _handlers[phase][event_type]
    if handler in handlers:
        handlers.remove(handler)


def publish(event: Any) -> None:
    """Deliver `event` to its in-transaction handlers now and to its commit handlers on commit."""
    for handler in list(_handlers["transaction"].get(type(event), ())):
        handler(event)
    for handler in list(_handlers["commit"].get(type(event), ())):
        transaction.on_commit(partial(handler, event), robust=True)


def subscribers(event_type: type, *, phase: Phase) -> list[Handler]:
    """The handlers registered for `event_type` in `phase` (for tests and introspection)."""
    return list(_handlers[phase].get(event_type, ()))
