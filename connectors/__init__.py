"""Connectors: per-client channel connectors, inbound adapters, identity resolution, idempotent
ingestion, outbound replies, outbound webhooks and SLA alert e-mails. Imports cases (services,
selectors, events) and slas (events only); never governance.

- `views.inbound_events`: POST /api/v1/connectors/<slug>/events (HMAC-signed, see `signing`);
- `adapters/`: one pure module per channel, native payload -> `InboundMessage`;
- `services`: connectors and secrets, ingestion (`inbound_receive`), replay, outbound replies;
- `routing`: pure routing-rule matching; `webhooks`: subscriptions, outbox, signed sending;
- `alerts`: SLA alert outbox and digests; `imap`: IMAP polling; `tasks`: django-q2 entry points.
"""
