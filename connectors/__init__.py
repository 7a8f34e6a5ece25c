"""Connectors: per-client channel connectors, inbound adapters, identity resolution, idempotent
ingestion, outbound webhooks and alert notifications. Imports cases (and slas events)."""
