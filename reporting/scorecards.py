"""The scorecard page: a client's month against its contract terms, with credits and bonuses;
CSV of its lines; governance staff compute a draft from here."""

from __future__ import annotations

import csv
from datetime import date, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from config.errors import ApplicationError
from governance import services
from governance.models import Scorecard

from .access import can_manage_scorecards, client_or_404
from .forms import FIRST_YEAR, LAST_YEAR

CSV_COLUMNS = (
    "kpi",
    "channel",
    "comparator",
    "target",
    "weight",
    "actual",
    "numerator",
    "denominator",
    "met",
    "credit",
    "bonus",
    "earned_back",
)


def parse_period(text: str) -> date:
    try:
        period = datetime.strptime(text, "%Y-%m").date()
    except ValueError as exc:
        raise Http404("Give the month as YYYY-MM.") from exc
    if not FIRST_YEAR <= period.year <= LAST_YEAR:
        raise Http404(f"Give a month from {FIRST_YEAR} to {LAST_YEAR}.")
    return period


def scorecard_csv(scorecard: Scorecard) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"scorecard-{scorecard.client.slug}-{scorecard.period:%Y-%m}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for line in scorecard.data.get("lines", []):
        writer.writerow([line.get(column) if line.get(column) is not None else "" for column in CSV_COLUMNS])
    totals = scorecard.data.get("totals", {})
    writer.writerow(
        [
            "total",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            totals.get("credit"),
            totals.get("bonus"),
            totals.get("earned_back"),
        ]
    )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def scorecard_page(request: HttpRequest, client_slug: str, period: str) -> HttpResponse:
    client = client_or_404(request.user, client_slug)
    month = parse_period(period)
    if request.method == "POST":
        if not can_manage_scorecards(request.user):
            return HttpResponse("Only governance staff compute scorecards.", status=403)
        try:
            services.scorecard_compute(client=client, period=month, actor=request.user)
            messages.success(request, "Scorecard computed.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("reporting:scorecard", client_slug=client.slug, period=period)
    scorecard = (
        Scorecard.objects.filter(client=client, period=month).select_related("client", "frozen_by").first()
    )
    if scorecard is not None and request.GET.get("format") == "csv":
        return scorecard_csv(scorecard)
    if scorecard is None and request.GET.get("format") == "csv":
        raise Http404("No scorecard for this month yet.")
    return render(
        request,
        "reporting/scorecard.html",
        {
            "client": client,
            "month": month,
            "period": period,
            "scorecard": scorecard,
            "figures": scorecard.data if scorecard else None,
            "can_manage": can_manage_scorecards(request.user),
        },
    )
