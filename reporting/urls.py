"""Reporting pages: the governance dashboard, scorecards, the monthly business review pack, staffing."""

from django.urls import path  # noqa: F401

app_name = "reporting"

urlpatterns: list = []
