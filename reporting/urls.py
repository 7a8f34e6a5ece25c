"""Reporting pages: scorecards (and their CSV)."""

from django.urls import path

from . import scorecards

app_name = "reporting"

urlpatterns = [
    path(
        "scorecards/<slug:client_slug>/<str:period>/",
        scorecards.scorecard_page,
        name="scorecard",
    ),
]
