"""Reporting pages: scorecards and staffing (each with its CSV)."""

from django.urls import path

from . import scorecards, staffing

app_name = "reporting"

urlpatterns = [
    path("staffing/", staffing.staffing_page, name="staffing"),
    path(
        "scorecards/<slug:client_slug>/<str:period>/",
        scorecards.scorecard_page,
        name="scorecard",
    ),
]
