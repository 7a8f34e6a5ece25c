"""The monthly business review pack's figures for one client and month, as JSON: the scorecard,
attainment by channel and by metric, breach ageing at month end, top root causes, corrective
actions by status, and the CSAT / NPS / FCR trend over six months. Stored on the scorecard when
it is frozen, so the pack renders the same figures later whatever changes in the data."""

from __future__ import annotations

from datetime import date

from cases.models import Client

from . import dashboard, metrics
from .choices import KPI
from .kpis import contract_measure
from .services.scorecards import month_bounds, previous_month


def _jsonable(rows: list[dict]) -> list[dict]:
    return [
        {key: (str(value) if isinstance(value, date) else value) for key, value in row.items()}
        for row in rows
    ]


def mbr_pack_data(*, client: Client, period: date) -> dict:
    start, end = month_bounds(client, period)
    ids = [client.pk]
    months = [period]
    for _ in range(5):
        months.insert(0, previous_month(months[0]))
    trend = []
    for month in months:
        month_start, month_end = month_bounds(client, month)
        row = {"month": month.strftime("%Y-%m")}
        for kpi in (KPI.CSAT, KPI.NPS, KPI.FIRST_CONTACT_RESOLUTION):
            row[kpi] = contract_measure(kpi, client_ids=ids, start=month_start, end=month_end).value
        trend.append(row)
    return {
        "attainment_by_channel": metrics.attainment_by_channel(client_ids=ids, start=start, end=end),
        "attainment_by_metric": dashboard.attainment_by_metric(client_ids=ids, start=start, end=end),
        "breach_ageing": metrics.breach_ageing(client_ids=ids, now=end),
        "root_causes": dashboard.top_root_causes(client_ids=ids, start=start, end=end),
        "actions": dashboard.action_status_counts(client_ids=ids),
        "trend": _jsonable(trend),
    }
