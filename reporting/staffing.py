"""The staffing view: per hour of the day, the contacts that arrived, their handle time, the
agents Erlang C says the contract's service level needs, and the service level achieved."""

from __future__ import annotations

import csv
import zoneinfo
from datetime import datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from cases.choices import Channel
from cases.models import Client
from governance.choices import KPI
from governance.kpis import contacts_by_hour
from governance.models import ContractTerm

from . import erlang
from .access import reporting_client_ids
from .forms import ClientPeriodForm

DEFAULT_THRESHOLD, DEFAULT_TARGET, DEFAULT_AHT = 20, Decimal(80), 180
MAX_DAYS = 92


class StaffingForm(ClientPeriodForm):
    max_days = MAX_DAYS
    channel = forms.ChoiceField(
        choices=[(Channel.VOICE, "Voice"), (Channel.CHAT, "Chat")], initial=Channel.VOICE
    )
    field_order = ["client", "channel", "start", "end"]


def service_level_goal(client: Client, channel: str, day) -> tuple[int, Decimal, str]:
    """The contract's service level term for the channel (threshold, target %), or 80/20."""
    term = (
        ContractTerm.objects.filter(client=client, kpi=KPI.SERVICE_LEVEL, effective_from__lte=day)
        .filter(channel__in=[channel, ""])
        .exclude(effective_to__lt=day)
        .order_by("-channel", "-effective_from")
        .first()
    )
    if term is None:
        return DEFAULT_THRESHOLD, DEFAULT_TARGET, "default 80 % in 20 s (no contract term)"
    return term.threshold_seconds or DEFAULT_THRESHOLD, term.target, f"contract: {term}"


def staffing_rows(client: Client, channel: str, start_day, end_day) -> tuple[list[dict], dict]:
    tz = zoneinfo.ZoneInfo(client.timezone)
    start = datetime.combine(start_day, time(), tz)
    end = datetime.combine(end_day + timedelta(days=1), time(), tz)
    days = (end_day - start_day).days + 1
    threshold, target, source = service_level_goal(client, channel, end_day)
    rows = []
    for hour in contacts_by_hour(
        client_ids=[client.pk], start=start, end=end, channel=channel, threshold_seconds=threshold, tz=tz
    ):
        arrivals = hour["offered"] / days
        aht = hour["talk_total"] / hour["talk_count"] if hour["talk_count"] else None
        counted = hour["offered"] - hour["abandoned_short"]
        rows.append(
            {
                "hour": hour["hour"],
                "offered": hour["offered"],
                "arrivals_per_hour": round(arrivals, 2),
                "aht_seconds": round(aht) if aht is not None else None,
                "agents_needed": erlang.agents_needed(
                    arrivals=arrivals,
                    aht_seconds=aht or DEFAULT_AHT,
                    interval_seconds=3600,
                    threshold_seconds=threshold,
                    target=float(target) / 100,
                ),
                "service_level_achieved": round(100 * hour["answered_within"] / counted, 1)
                if counted
                else None,
                "abandoned": hour["abandoned"],
            }
        )
    goal = {"threshold": threshold, "target": target, "source": source, "days": days}
    return rows, goal


CSV_COLUMNS = (
    "hour",
    "offered",
    "arrivals_per_hour",
    "aht_seconds",
    "agents_needed",
    "service_level_achieved",
    "abandoned",
)


@login_required
@require_GET
def staffing_page(request: HttpRequest) -> HttpResponse:
    client_ids = reporting_client_ids(request.user)
    today = timezone.localdate()
    data = request.GET if "client" in request.GET else None
    initial = {
        "start": today - timedelta(days=28),
        "end": today - timedelta(days=1),
        "channel": Channel.VOICE,
    }
    form = StaffingForm(data, initial=initial, client_ids=client_ids)
    rows, goal = [], None
    if form.is_bound and form.is_valid():
        rows, goal = staffing_rows(
            form.cleaned_data["client"],
            form.cleaned_data["channel"],
            form.cleaned_data["start"],
            form.cleaned_data["end"],
        )
        if request.GET.get("format") == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="staffing.csv"'
            writer = csv.writer(response)
            writer.writerow(CSV_COLUMNS)
            for row in rows:
                writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
            return response
    status = 400 if form.is_bound and not form.is_valid() else 200
    peak = max((row["agents_needed"] for row in rows), default=0)
    return render(
        request,
        "reporting/staffing.html",
        {"form": form, "rows": rows, "goal": goal, "peak": peak, "query": request.GET.urlencode()},
        status=status,
    )
