"""Reporting pages: the governance dashboard, scorecards and staffing (each table with its CSV)."""

from django.urls import path

from . import dashboard, mbr, scorecards, staffing

app_name = "reporting"

urlpatterns = [
    path("", dashboard.dashboard_page, name="dashboard"),
    path("staffing/", staffing.staffing_page, name="staffing"),
    path(
        "scorecards/<slug:client_slug>/<str:period>/",
        scorecards.scorecard_page,
        name="scorecard",
    ),
    path("mbr/<slug:client_slug>/<str:period>/", mbr.mbr_pack_page, name="mbr-pack"),
]
