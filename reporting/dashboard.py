"""The governance dashboard: a period and client(s); attainment by channel against target, the
daily trend, the channel x hour-of-week heatmap, contract KPIs, breach ageing, top root causes
and overdue corrective actions. The clock panels (by channel, trend, heatmap, attainment tiles)
fold one query of decided clocks per metric, channel and hour; every other panel is one query;
each table is also a CSV (`?panel=<name>&format=csv`)."""

from __future__ import annotations

import csv
import zoneinfo
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from cases.models import Client
from governance import dashboard, metrics
from governance.choices import KPI
from governance.kpis import contract_measure, service_level_by_interval, service_level_by_time_of_day
from governance.models import ContractTerm

from . import charts
from .access import reporting_client_ids
from .forms import ClientPeriodForm

MAX_DAYS = 366
SERVICE_LEVEL_SECONDS = 20
SUMMARY_KPIS = (
    (KPI.SERVICE_LEVEL, "Service level, voice and chat (% in 20 s)"),
    (KPI.ABANDONMENT_RATE, "Abandonment %"),
    (KPI.SLA_FIRST_RESPONSE, "First response attainment %"),
    (KPI.SLA_RESOLUTION, "Resolution attainment %"),
    (KPI.FIRST_CONTACT_RESOLUTION, "First contact resolution %"),
    (KPI.CSAT, "CSAT %"),
    (KPI.NPS, "NPS"),
)


class DashboardForm(ClientPeriodForm):
    max_days = MAX_DAYS
    client = forms.ModelChoiceField(
        queryset=Client.objects.none(), to_field_name="slug", required=False, empty_label="All my clients"
    )


def _attainment_target(client_ids: list[int], day) -> float | None:
    """The contract's first-response attainment target when one client is shown."""
    if len(client_ids) != 1:
        return None
    term = (
        ContractTerm.objects.filter(
            client_id=client_ids[0], kpi=KPI.SLA_FIRST_RESPONSE, effective_from__lte=day
        )
        .exclude(effective_to__lt=day)
        .order_by("-effective_from")
        .first()
    )
    return float(term.target) if term else None


# Attainment tiles come from the shared clock query, not from a query each.
_CLOCK_KPIS = {KPI.SLA_FIRST_RESPONSE: "first_response", KPI.SLA_RESOLUTION: "resolution"}


def panels(
    client_ids: list[int], start: datetime, end: datetime, tz, today, *, by_client: bool = False
) -> dict:
    """Every panel's figures; `by_client` adds attainment per client (when no one client is chosen)."""
    hourly = dashboard.decided_clocks_by_hour(client_ids=client_ids, start=start, end=end, tz=tz)
    intervals = service_level_by_interval(
        client_ids=client_ids, start=start, end=end, tz=tz, threshold_seconds=SERVICE_LEVEL_SECONDS
    )
    by_metric = {row["metric"]: row for row in dashboard.attainment_by(hourly, "metric")}
    summary = []
    for kpi, label in SUMMARY_KPIS:
        if kpi in _CLOCK_KPIS:
            row = by_metric.get(_CLOCK_KPIS[kpi])
            value = row["attainment_percent"] if row else None
            of = row["met"] + row["missed"] if row else 0
        else:
            measure = contract_measure(
                kpi, client_ids=client_ids, start=start, end=end, threshold_seconds=SERVICE_LEVEL_SECONDS
            )
            value, of = measure.value, measure.denominator
        summary.append({"kpi": kpi, "label": label, "value": value, "of": of})
    return {
        "summary": summary,
        "by_channel": dashboard.attainment_by(hourly, "channel"),
        "by_queue": dashboard.attainment_by_queue(client_ids=client_ids, start=start, end=end),
        "by_client": (
            dashboard.attainment_by_client(client_ids=client_ids, start=start, end=end) if by_client else []
        ),
        "trend": dashboard.attainment_trend(hourly),
        "heatmap": dashboard.attainment_heatmap(hourly),
        "service_level_by_time": service_level_by_time_of_day(intervals),
        "intervals": intervals,
        "escalation": metrics.escalation_rate_by_channel(client_ids=client_ids, start=start, end=end),
        "response_times": dashboard.response_times(client_ids=client_ids, start=start, end=end),
        "backlog": dashboard.backlog(client_ids=client_ids, now=timezone.now()),
        "ageing": metrics.breach_ageing(client_ids=client_ids, now=end),
        "root_causes": dashboard.top_root_causes(client_ids=client_ids, start=start, end=end),
        "overdue": dashboard.overdue_actions(client_ids=client_ids, today=today),
    }


_INTERVAL_COLUMNS = (
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "abandoned_short",
    "service_level_percent",
)
CSV_PANELS = {
    "summary": ("kpi", "label", "value", "of"),
    "by_channel": ("channel", "met", "missed", "attainment_percent"),
    "by_queue": ("client", "queue", "met", "missed", "attainment_percent"),
    "by_client": ("client", "met", "missed", "attainment_percent"),
    "trend": ("day", "met", "decided", "percent"),
    "heatmap": ("channel", "weekday", "hour", "met", "decided", "percent"),
    "service_level_by_time": ("time_of_day", *_INTERVAL_COLUMNS),
    "intervals": ("interval_start", *_INTERVAL_COLUMNS),
    "escalation": ("channel", "cases", "escalated", "rate_percent"),
    "response_times": ("measure", "count", "median_seconds", "p90_seconds"),
    "backlog": ("status", "total", *(name for name, _, _ in dashboard.BACKLOG_AGES)),
    "ageing": ("bucket", "count"),
    "root_causes": ("root_cause", "reviews", "breaches"),
    "overdue": ("client", "title", "owner", "due_on", "days_overdue", "status"),
}


def panel_csv(name: str, rows: list[dict]) -> HttpResponse:
    columns = CSV_PANELS[name]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="dashboard-{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return response


@login_required
@require_GET
def dashboard_page(request: HttpRequest) -> HttpResponse:
    allowed = reporting_client_ids(request.user)
    today = timezone.localdate()
    initial = {"start": today - timedelta(days=30), "end": today}
    form = DashboardForm(request.GET if "start" in request.GET else None, initial=initial, client_ids=allowed)
    if form.is_bound and not form.is_valid():
        return render(request, "reporting/dashboard.html", {"form": form}, status=400)
    data = form.cleaned_data if form.is_bound else initial
    client = data.get("client")
    client_ids = [client.pk] if client else sorted(allowed)
    tz = zoneinfo.ZoneInfo(client.timezone) if client else UTC
    start = datetime.combine(data["start"], time(), tz)
    end = datetime.combine(data["end"] + timedelta(days=1), time(), tz)
    figures = panels(client_ids, start, end, tz, today, by_client=client is None)
    panel = request.GET.get("panel")
    if request.GET.get("format") == "csv":
        if panel not in CSV_PANELS:
            raise Http404("No such panel.")
        return panel_csv(panel, figures[panel])
    channels = sorted({row["channel"] for row in figures["heatmap"]})
    target = _attainment_target(client_ids, data["end"])
    context = {
        "form": form,
        "client": client,
        "start": data["start"],
        "end": data["end"],
        "figures": figures,
        "target": target,
        "channel_chart": charts.percent_bars(
            figures["by_channel"], label="channel", value="attainment_percent", target=target
        ),
        "trend_chart": charts.percent_line(figures["trend"], label="day", value="percent"),
        "heat_chart": charts.heatmap(figures["heatmap"], channels),
        "interval_chart": charts.percent_bars(
            figures["service_level_by_time"], label="time_of_day", value="service_level_percent"
        ),
        "query": request.GET.urlencode(),
    }
    return render(request, "reporting/dashboard.html", context)
