"""django-q2 entry points of the connectors app: ids in, one service, safe to run twice."""

from __future__ import annotations

import dataclasses

from . import alerts, imap, retention, services, webhooks


def reply_deliver_task(interaction_id: int) -> str:
    return services.reply_deliver(interaction_id=interaction_id)


def inbound_events_replay_task(event_ids: list[int]) -> dict:
    """Queued from the admin for a large selection of failed inbound events."""
    summary = services.inbound_events_replay(event_ids=event_ids)
    return {"replayed": summary.replayed, "failed": len(summary.failed), "skipped": summary.skipped}


def webhook_send_task(delivery_ids: list[int]) -> dict:
    return webhooks.webhooks_send(delivery_ids=delivery_ids)


def outbox_resend_task() -> dict:
    """Scheduled every minute: webhook retries that are due and outbox rows whose task was
    lost; replies still queued long after they were written."""
    outcomes = webhooks.webhooks_send_due()
    return {"webhooks": outcomes, "replies_requeued": services.replies_resend_stale()}


def imap_poll_task() -> dict:
    """Scheduled every minute: read new mail of every active IMAP e-mail connector."""
    return imap.imap_poll_all()


def alert_digest_task() -> int:
    """Scheduled every minute: one digest e-mail per supervisor with pending SLA alerts."""
    return alerts.alert_digests_send()


def retention_task() -> dict:
    """Scheduled hourly: processed raw payloads and the ended webhook log past their retention."""
    return dataclasses.asdict(retention.retention_apply())
