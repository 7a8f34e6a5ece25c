"""Inbound connector endpoints, mounted at /api/v1/connectors/."""

urlpatterns: list = []
