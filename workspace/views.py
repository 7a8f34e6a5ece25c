"""Views of the workspace: parse, authorize (workspace.access), call one service or selector,
render. htmx requests get the fragment they target; the same URLs work without JavaScript
(forms post normally and redirect back).

Every case action posts the version of the case the user saw (`expected_version`); when someone
else changed the case meanwhile the service raises `ConflictError` and the page says so, showing
the current case with the user's input kept. A refused request (`ApplicationError`) shows its
errors on the form. Without JavaScript these answers are HTTP 409 and 422 (403 when the user may
not act). An htmx request always gets 200 with the fragment to show, and the outcome in the
`X-Accord-Outcome` header (ok, invalid, conflict, denied): an expected refusal is part of the page,
not a failed request the browser would log as an error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from cases import services as case_services
from cases.choices import UNRESOLVED_STATUSES, AuthorKind, CaseStatus, Direction
from cases.downloads import attachment_download
from cases.models import Case
from config.errors import ApplicationError, ConflictError
from connectors import services as connector_services
from governance import services as governance_services

from . import presenters, selectors
from .access import Seat, may_pick_up, may_reassign, may_work, seat_for
from .forms import (
    AssignForm,
    EscalateForm,
    NoteForm,
    PickUpForm,
    PriorityForm,
    ReopenForm,
    ReplyForm,
    ResolveForm,
    StatusForm,
    WorkFilterForm,
    add_service_errors,
    status_choices,
)
from .selectors import WorkFilters

WORK_PAGE_SIZE = 25
BOARD_PAGE_SIZE = 25


def _seat(request: HttpRequest) -> Seat:
    seat = getattr(request, "_workspace_seat", None)
    if seat is None:
        seat = seat_for(request.user)
        request._workspace_seat = seat
    return seat


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(
        request, "workspace/forbidden.html", {"message": message, "seat": _seat(request)}, status=403
    )


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


# --- My work -------------------------------------------------------------------------------------


@login_required
@require_GET
def my_work(request: HttpRequest) -> HttpResponse:
    seat = _seat(request)
    if not seat.may_enter:
        return _forbidden(request, "Your account has no access to the agent workspace.")
    if not seat.can_work:
        return render(request, "workspace/landing.html", {"seat": seat})
    queues = selectors.work_queues(seat=seat)
    form = WorkFilterForm(request.GET or None, queues=queues)
    values = form.valid_values() if request.GET else {}
    filters = WorkFilters(
        queue_id=values.get("queue"),
        channel=values.get("channel", ""),
        priority=values.get("priority", ""),
        status=values.get("status", ""),
        scope=values.get("scope", ""),
    )
    paginator = Paginator(selectors.my_work(seat=seat, filters=filters), WORK_PAGE_SIZE)
    page = paginator.get_page(_page_number(request))
    now = timezone.now()
    rows = [
        {
            "case": case,
            "clocks": presenters.clock_views(case.live_clocks, now),
            "can_pick_up": may_pick_up(seat, case),
        }
        for case in selectors.cases_in_order(page.object_list)
    ]
    context = {"seat": seat, "nav": "work", "form": form, "page": page, "rows": rows, "now": now}
    if request.htmx and request.htmx.target == "work-results":
        return render(request, "workspace/_work_results.html", context)
    return render(request, "workspace/my_work.html", context)


# --- The case page -------------------------------------------------------------------------------


def _case_or_404(seat: Seat, public_id) -> Case:
    case = selectors.case_get(seat=seat, public_id=public_id)
    if case is None:
        raise Http404("No such case.")
    return case


def _default_forms(case: Case, people: list) -> dict[str, forms.Form]:
    return {
        "reply": ReplyForm(channels=selectors.reply_channels(case=case)),
        "note": NoteForm(),
        "status": StatusForm(current=case.status),
        "priority": PriorityForm(initial={"priority": case.priority}),
        "escalate": EscalateForm(),
        "resolve": ResolveForm(),
        "reopen": ReopenForm(),
        "assign": AssignForm(people=people, initial={"assignee": case.assignee_id}),
    }


def _case_context(
    seat: Seat,
    case: Case,
    *,
    bound: dict[str, forms.Form] | None = None,
    notice: str = "",
    conflict: str = "",
) -> dict[str, Any]:
    now = timezone.now()
    timeline = selectors.timeline_page(case=case)
    user_ids, queue_ids = presenters.referenced_ids(timeline.events)
    user_names, queue_names = selectors.names_for(user_ids=user_ids, queue_ids=queue_ids)
    can_work = may_work(seat, case)
    can_reassign = may_reassign(seat, case)
    people = selectors.assignable_users(queue_ids=[case.queue_id])[case.queue_id] if can_reassign else []
    case_forms = _default_forms(case, people)
    case_forms.update(bound or {})
    unresolved = case.status in UNRESOLVED_STATUSES
    open_for_messages = case.status != CaseStatus.CLOSED
    return {
        "seat": seat,
        "case": case,
        "now": now,
        "case_sla": getattr(case, "sla", None),
        "sentiment": presenters.sentiment_label(case.sentiment),
        "clocks": presenters.clock_views(selectors.case_clocks(case=case), now),
        "timeline": [
            presenters.timeline_item(
                event, user_names=user_names, queue_names=queue_names, attachments=timeline.attachments
            )
            for event in timeline.events
        ],
        "timeline_has_earlier": timeline.has_earlier,
        "timeline_first": timeline.first,
        "identities": selectors.customer_identities(case=case),
        "other_cases": selectors.customer_other_cases(seat=seat, case=case),
        "escalations": selectors.case_escalations(case=case),
        "forms": case_forms,
        "can": {
            "work": can_work,
            "reply": can_work and open_for_messages,
            "note": can_work and open_for_messages,
            "status": can_work and bool(status_choices(case.status)),
            "priority": can_work and open_for_messages,
            "escalate": can_work and unresolved and case.tier < 3,
            "resolve": can_work and unresolved,
            "reopen": can_work and case.status == CaseStatus.RESOLVED,
            "pick_up": may_pick_up(seat, case),
            "reassign": can_reassign,
        },
        "notice": notice,
        "conflict": conflict,
    }


@login_required
@require_GET
def case_detail(request: HttpRequest, public_id) -> HttpResponse:
    seat = _seat(request)
    case = _case_or_404(seat, public_id)
    return render(request, "workspace/case/page.html", _case_context(seat, case))


@login_required
@require_GET
def case_timeline(request: HttpRequest, public_id) -> HttpResponse:
    """Earlier timeline entries (htmx: replaces the "show earlier" button)."""
    seat = _seat(request)
    case = _case_or_404(seat, public_id)
    try:
        before_id = int(request.GET.get("before", ""))
    except ValueError as exc:
        raise Http404("No such timeline entry.") from exc
    before = selectors.timeline_event(case=case, event_id=before_id)
    if before is None:
        raise Http404("No such timeline entry.")
    timeline = selectors.timeline_page(case=case, before=before)
    user_ids, queue_ids = presenters.referenced_ids(timeline.events)
    user_names, queue_names = selectors.names_for(user_ids=user_ids, queue_ids=queue_ids)
    context = {
        "case": case,
        "timeline": [
            presenters.timeline_item(
                event, user_names=user_names, queue_names=queue_names, attachments=timeline.attachments
            )
            for event in timeline.events
        ],
        "timeline_has_earlier": timeline.has_earlier,
        "timeline_first": timeline.first,
    }
    return render(request, "workspace/case/_timeline_items.html", context)


@login_required
@require_GET
def case_attachment(request: HttpRequest, public_id, attachment_id: int) -> FileResponse:
    """A file kept with one of the case's messages, to whoever may see the case: always as a
    download (never shown inline, whatever type its sender gave it)."""
    seat = _seat(request)
    case = _case_or_404(seat, public_id)
    return attachment_download(selectors.case_attachment(case=case, attachment_id=attachment_id))


@login_required
@require_GET
def case_clocks(request: HttpRequest, public_id) -> HttpResponse:
    """The clocks panel, polled; says so when the case changed since the page was rendered."""
    seat = _seat(request)
    case = _case_or_404(seat, public_id)
    now = timezone.now()
    shown_version = request.GET.get("version", "")
    context = {
        "case": case,
        "now": now,
        "clocks": presenters.clock_views(selectors.case_clocks(case=case), now),
        "stale": shown_version.isdigit() and int(shown_version) != case.version,
    }
    return render(request, "workspace/case/_clocks_poll.html", context)


# --- Case actions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseAction:
    """One action of the case page: its form, who may run it, and the service call."""

    name: str
    make_form: Callable[[Any, Case, Seat], forms.Form]
    allowed: Callable[[Seat, Case], bool]
    perform: Callable[[Case, dict, Any], str]  # returns the notice shown on success
    denied: str = "You may not change this case."


def _reply(case: Case, data: dict, user) -> str:
    interaction = connector_services.reply_send(
        case=case, body=data["body"], actor=user, channel=data["channel"]
    )
    interaction.refresh_from_db(fields=["delivery_status"])
    channel = interaction.get_channel_display()
    if interaction.delivery_status:
        return f"Reply on {channel} recorded; delivery {interaction.get_delivery_status_display().lower()}."
    return f"Reply on {channel} recorded (no connector sends this channel for this client)."


def _note(case: Case, data: dict, user) -> str:
    case_services.interaction_append(
        case=case,
        channel=case.current_channel,
        direction=Direction.NOTE,
        author_kind=AuthorKind.AGENT,
        author=user,
        body=data["body"],
        source="ui",
    )
    return "Internal note added."


def _status(case: Case, data: dict, user) -> str:
    case = case_services.case_status_set(
        case=case,
        status=data["status"],
        actor=user,
        reason=data["reason"],
        expected_version=data["expected_version"],
    )
    return f"Status set to {case.get_status_display().lower()}."


def _priority(case: Case, data: dict, user) -> str:
    case = case_services.case_priority_set(
        case=case,
        priority=data["priority"],
        actor=user,
        reason=data["reason"],
        expected_version=data["expected_version"],
    )
    return f"Priority set to {case.get_priority_display().lower()}."


def _escalate(case: Case, data: dict, user) -> str:
    escalation = governance_services.escalation_create(
        case=case,
        reason=data["reason"],
        actor=user,
        to_tier=data["to_tier"],
        handoff_channel=data["handoff_channel"],
        expected_version=data["expected_version"],
    )
    return f"Escalated to {escalation.tier}."


def _resolve(case: Case, data: dict, user) -> str:
    case_services.case_resolve(
        case=case,
        actor=user,
        first_contact_resolution=data["first_contact_resolution"],
        reason=data["reason"],
        expected_version=data["expected_version"],
    )
    return "Case resolved" + (" on first contact." if data["first_contact_resolution"] else ".")


def _reopen(case: Case, data: dict, user) -> str:
    case_services.case_reopen(
        case=case, actor=user, reason=data["reason"], expected_version=data["expected_version"]
    )
    return "Case reopened."


def _pick_up(case: Case, data: dict, user) -> str:
    case_services.case_assign(
        case=case, assignee=user, actor=user, reason="picked up", expected_version=data["expected_version"]
    )
    return "The case is yours."


def _assign(case: Case, data: dict, user) -> str:
    assignee = data["assignee"]
    case_services.case_assign(
        case=case,
        assignee=assignee,
        actor=user,
        reason=data["reason"] or "reassigned by a supervisor",
        expected_version=data["expected_version"],
    )
    if assignee is None:
        return "The case is unassigned."
    return f"Assigned to {assignee.get_full_name() or assignee.get_username()}."


def _people(case: Case) -> list:
    return selectors.assignable_users(queue_ids=[case.queue_id])[case.queue_id]


def _writable(seat: Seat, case: Case) -> bool:
    return may_work(seat, case)


ACTIONS: dict[str, CaseAction] = {
    action.name: action
    for action in (
        CaseAction(
            "reply",
            lambda d, c, s: ReplyForm(d, channels=selectors.reply_channels(case=c)),
            _writable,
            _reply,
        ),
        CaseAction("note", lambda d, c, s: NoteForm(d), _writable, _note),
        CaseAction("status", lambda d, c, s: StatusForm(d, current=c.status), _writable, _status),
        CaseAction("priority", lambda d, c, s: PriorityForm(d), _writable, _priority),
        CaseAction("escalate", lambda d, c, s: EscalateForm(d), _writable, _escalate),
        CaseAction("resolve", lambda d, c, s: ResolveForm(d), _writable, _resolve),
        CaseAction("reopen", lambda d, c, s: ReopenForm(d), _writable, _reopen),
        CaseAction(
            "pick-up",
            lambda d, c, s: PickUpForm(d),
            may_pick_up,
            _pick_up,
            denied="You cannot pick up this case: it is not unassigned in one of your queues.",
        ),
        CaseAction(
            "assign",
            lambda d, c, s: AssignForm(d, people=_people(c)),
            may_reassign,
            _assign,
            denied="Only a supervisor of this case's queue may reassign it.",
        ),
    )
}

NEXT_PAGES = {"my-work": "workspace:my-work", "supervisor": "workspace:supervisor"}


@login_required
@require_POST
def case_action(request: HttpRequest, public_id, action: str) -> HttpResponse:
    spec = ACTIONS.get(action)
    if spec is None:
        raise Http404("No such action.")
    seat = _seat(request)
    case = _case_or_404(seat, public_id)
    if not spec.allowed(seat, case):
        if request.htmx:
            context = _case_context(seat, case, conflict=spec.denied)
            return _fragment(request, context, "denied")
        return _forbidden(request, spec.denied)
    form = spec.make_form(request.POST, case, seat)
    notice = conflict = ""
    status = 200
    if form.is_valid():
        try:
            notice = spec.perform(case, form.cleaned_data, request.user)
        except ConflictError as exc:
            conflict, status = exc.message, 409
        except ApplicationError as exc:
            add_service_errors(form, exc)
            status = 422
    else:
        status = 422
    if status == 200 and not request.htmx:
        messages.success(request, notice)
        next_page = NEXT_PAGES.get(request.POST.get("next", ""))
        if next_page:
            return redirect(next_page)
        return redirect("workspace:case", public_id=case.public_id)
    fresh = _case_or_404(seat, public_id)  # what the case is now, whoever changed it
    bound = {spec.name: form} if status != 200 else {}
    context = _case_context(seat, fresh, bound=bound, notice=notice, conflict=conflict)
    context["failed_action"] = spec.name if status != 200 else ""
    if request.htmx:
        return _fragment(request, context, OUTCOMES[status])
    return render(request, "workspace/case/page.html", context, status=status)


OUTCOMES = {200: "ok", 409: "conflict", 422: "invalid"}


def _fragment(request: HttpRequest, context: dict, outcome: str) -> HttpResponse:
    response = render(request, "workspace/case/_case.html", context)
    response["X-Accord-Outcome"] = outcome
    return response


# --- Supervisor board ----------------------------------------------------------------------------


@login_required
@require_GET
def supervisor(request: HttpRequest) -> HttpResponse:
    seat = _seat(request)
    if not (seat.may_enter and seat.is_supervisor):
        return _forbidden(request, "The supervisor board is for supervisors.")
    now = timezone.now()
    paginator = Paginator(selectors.cases_at_risk(seat=seat, now=now), BOARD_PAGE_SIZE)
    page = paginator.get_page(_page_number(request))
    members = selectors.assignable_users(queue_ids=seat.supervised_queue_ids)
    rows = [
        {
            "case": case,
            "clocks": presenters.clock_views(case.live_clocks, now),
            "people": members.get(case.queue_id, []),
        }
        for case in selectors.cases_in_order(page.object_list)
    ]
    context = {
        "seat": seat,
        "nav": "supervisor",
        "now": now,
        "page": page,
        "rows": rows,
        "workload": selectors.workload(seat=seat, now=now, members=members),
        "queues": selectors.unassigned_by_queue(seat=seat),
    }
    return render(request, "workspace/supervisor.html", context)
