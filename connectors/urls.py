"""Inbound connector endpoints, mounted at /api/v1/connectors/."""

from django.urls import path

from . import views

app_name = "connectors"

urlpatterns = [
    path("<slug:slug>/events", views.inbound_events, name="inbound-events"),
]
