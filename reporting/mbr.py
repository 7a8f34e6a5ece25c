"""The monthly business review pack: one printable page (and a PDF) per client and month, from
the month's scorecard. A frozen scorecard carries the pack's figures, so the pack reads the same
whenever it is opened; a draft shows today's figures, marked as a draft."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from fpdf import FPDF

from governance.models import Scorecard, ScorecardStatus
from governance.packs import mbr_pack_data

from .access import client_or_404
from .scorecards import parse_period


def pack_context(scorecard: Scorecard) -> dict:
    pack = scorecard.data.get("pack")
    if pack is None:  # a draft: today's figures
        pack = mbr_pack_data(client=scorecard.client, period=scorecard.period)
    return {
        "scorecard": scorecard,
        "card": scorecard.data,
        "pack": pack,
        "frozen": scorecard.status == ScorecardStatus.FROZEN,
    }


_ASCII = str.maketrans(
    {"\u2265": ">=", "\u2264": "<=", "\u2014": "-", "\u2013": "-", "\u2212": "-", "\u2019": "'"}
)


def _text(value) -> str:
    """The PDF's core font is Latin-1: symbols become their ASCII spelling, the rest is kept."""
    text = "-" if value is None else str(value).translate(_ASCII)
    return text.encode("latin-1", "replace").decode("latin-1")


def _table(pdf: FPDF, heading: str, columns: list[str], rows: list[list]) -> None:
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    with pdf.table(first_row_as_headings=True, line_height=5) as table:
        for row in [columns, *rows]:
            cells = table.row()
            for value in row:
                cells.cell(_text(value))
    pdf.ln(2)


def pack_pdf(context: dict) -> bytes:
    card, pack, scorecard = context["card"], context["pack"], context["scorecard"]
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    title = _text(f"{scorecard.client.name}: monthly business review {card['period']}")
    pdf.cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    status = "frozen" if context["frozen"] else "DRAFT (figures as of today)"
    pdf.cell(
        0,
        5,
        f"Scorecard {status}; monthly fee {card['monthly_fee']} {card['currency']}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    _table(
        pdf,
        "Scorecard",
        ["KPI", "Channel", "Target", "Actual", "Met", "Credit", "Bonus"],
        [
            [
                line["kpi_label"],
                line["channel"] or "all",
                f"{line['comparator']} {line['target']}",
                line["actual"],
                {True: "met", False: "missed", None: "no data"}[line["met"]],
                line["credit"],
                line["bonus"],
            ]
            for line in card["lines"]
        ],
    )
    totals = card["totals"]
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(
        0,
        6,
        f"Credits owed {totals['credit']} - bonus earned {totals['bonus']} - "
        f"earned back {totals['earned_back']} - net to the BPO {totals['net']} {card['currency']}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    _table(
        pdf,
        "Attainment by channel",
        ["Channel", "Met", "Missed", "%"],
        [
            [r["channel"], r["met"], r["missed"], r["attainment_percent"]]
            for r in pack["attainment_by_channel"]
        ],
    )
    _table(
        pdf,
        "Attainment by metric",
        ["Metric", "Met", "Decided", "%"],
        [[r["metric"], r["met"], r["decided"], r["percent"]] for r in pack["attainment_by_metric"]],
    )
    _table(
        pdf,
        "Breach ageing at month end (review not closed)",
        ["Age", "Breaches"],
        [[r["bucket"], r["count"]] for r in pack["breach_ageing"]],
    )
    _table(
        pdf,
        "Top root causes",
        ["Root cause", "Reviews", "Breaches"],
        [[r["root_cause"], r["reviews"], r["breaches"]] for r in pack["root_causes"]],
    )
    _table(
        pdf,
        "Corrective actions by status",
        ["Status", "Actions"],
        [[k, v] for k, v in pack["actions"].items()],
    )
    _table(
        pdf,
        "CSAT, NPS and FCR, six months",
        ["Month", "CSAT %", "NPS", "FCR %"],
        [[r["month"], r["csat"], r["nps"], r["first_contact_resolution"]] for r in pack["trend"]],
    )
    return bytes(pdf.output())


@login_required
@require_GET
def mbr_pack_page(request: HttpRequest, client_slug: str, period: str) -> HttpResponse:
    client = client_or_404(request.user, client_slug)
    scorecard = (
        Scorecard.objects.filter(client=client, period=parse_period(period)).select_related("client").first()
    )
    if scorecard is None:
        raise Http404("No scorecard for this month: compute it first.")
    context = pack_context(scorecard)
    if request.GET.get("format") == "pdf":
        response = HttpResponse(pack_pdf(context), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="mbr-{client.slug}-{period}.pdf"'
        return response
    return render(request, "reporting/mbr.html", context)
