"""Reads of the workspace, composed from the domain models and scoped to the caller's seat.

Every page has a fixed number of queries whatever the number of rows: lists are paginated and
prefetched, the timeline is read a page at a time (keyset on `(occurred_at, id)`), and names
that events refer to are resolved in one query per page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from cases.choices import UNRESOLVED_STATUSES, CaseEventKind, Channel
from cases.models import Attachment, Case, CaseEvent, CustomerIdentity, Queue
from governance.models import Escalation
from slas.models import SLAClock

from .access import Seat

TIMELINE_PAGE_SIZE = 30
CLOCKS_SHOWN = 12
OTHER_CASES_SHOWN = 10
ESCALATIONS_SHOWN = 10
# Audit entries the agent does not need on the timeline (the rolling sentiment shows at the top).
TIMELINE_HIDDEN_KINDS = (CaseEventKind.SENTIMENT,)


def live_clocks() -> QuerySet[SLAClock]:
    """Clocks not stopped yet (running or paused), in a stable order."""
    return SLAClock.objects.filter(stopped_at__isnull=True).order_by("metric", "cycle")


def urgency() -> Subquery:
    """The case's most urgent time: the earliest due time of its running clocks, or for a breached
    clock now paused its breach time. Ascending order puts breached cases first (most overdue
    first), then the nearest due; cases without a running clock come last."""
    return Subquery(
        SLAClock.objects.filter(case_id=OuterRef("pk"), stopped_at__isnull=True)
        .annotate(key=Coalesce("due_at", "breached_at"))
        .filter(key__isnull=False)
        .order_by("key")
        .values("key")[:1]
    )


def by_urgency(queryset: QuerySet[Case]) -> QuerySet[Case]:
    return queryset.annotate(urgency=urgency()).order_by(F("urgency").asc(nulls_last=True), "opened_at", "id")


# --- My work -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkFilters:
    queue_id: int | None = None
    channel: str = ""
    priority: str = ""
    status: str = ""
    scope: str = ""  # "" (all my work) | "mine" | "unassigned"


def my_work(*, seat: Seat, filters: WorkFilters = WorkFilters()) -> QuerySet:
    """Ids of the unresolved cases assigned to the user plus the unassigned ones of the queues they
    work, in SLA urgency order. Narrow on purpose: ranking touches every candidate row, so it reads
    ids only; `cases_in_order` then fetches the page's rows with what they show."""
    user_id = seat.user.pk
    mine = Q(assignee_id=user_id)
    unassigned = Q(assignee__isnull=True, queue_id__in=seat.work_queue_ids)
    condition = {"mine": mine, "unassigned": unassigned}.get(filters.scope, mine | unassigned)
    cases = Case.objects.filter(condition, client_id__in=seat.client_ids)
    if filters.status:
        cases = cases.filter(status=filters.status)
    else:
        cases = cases.filter(status__in=UNRESOLVED_STATUSES)
    if filters.queue_id:
        cases = cases.filter(queue_id=filters.queue_id)
    if filters.channel:
        cases = cases.filter(current_channel=filters.channel)
    if filters.priority:
        cases = cases.filter(priority=filters.priority)
    return by_urgency(cases).values_list("pk", flat=True)


def cases_in_order(ids) -> list[Case]:
    """The cases of `ids`, in that order, with what a list row shows (two queries)."""
    ids = list(ids)
    rows = Case.objects.filter(pk__in=ids).select_related("client", "customer", "queue", "assignee")
    rows = rows.prefetch_related(Prefetch("clocks", queryset=live_clocks(), to_attr="live_clocks"))
    by_id = {case.pk: case for case in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


def work_queues(*, seat: Seat) -> list[Queue]:
    """The queues the user works or supervises (for the queue filter)."""
    return list(
        Queue.objects.filter(pk__in=seat.work_queue_ids)
        .select_related("client")
        .order_by("client__name", "name")
    )


# --- The case page -------------------------------------------------------------------------------


def case_get(*, seat: Seat, public_id) -> Case | None:
    """One case by public id if the user may see it, else None (a 404: no existence oracle)."""
    if not seat.may_enter:
        return None
    return (
        Case.objects.filter(public_id=public_id, client_id__in=seat.client_ids)
        .select_related("client", "customer", "queue", "assignee", "sla__policy")
        .first()
    )


def case_clocks(*, case: Case) -> list[SLAClock]:
    """The case's live clocks (running, paused) first, then the latest stopped ones; capped."""
    rows = SLAClock.objects.filter(case_id=case.pk).order_by(
        F("stopped_at").desc(nulls_first=True), "metric", "cycle"
    )[:CLOCKS_SHOWN]
    return list(rows)


@dataclass(frozen=True)
class TimelinePage:
    events: list[CaseEvent]  # chronological
    has_earlier: bool
    # The files kept with the page's interactions, by interaction id.
    attachments: dict[int, list[Attachment]] = field(default_factory=dict)

    @property
    def first(self) -> CaseEvent | None:
        return self.events[0] if self.events else None


def timeline_page(
    *, case: Case, before: CaseEvent | None = None, size: int = TIMELINE_PAGE_SIZE
) -> TimelinePage:
    """The `size` timeline entries just before `before` (the latest ones without it), oldest first,
    with interactions and people joined: one query whatever the timeline's length."""
    events = CaseEvent.objects.filter(case_id=case.pk).exclude(kind__in=TIMELINE_HIDDEN_KINDS)
    if before is not None:
        events = events.filter(
            Q(occurred_at__lt=before.occurred_at) | Q(occurred_at=before.occurred_at, id__lt=before.pk)
        )
    rows = list(
        events.select_related("actor", "interaction", "interaction__author").order_by("-occurred_at", "-id")[
            : size + 1
        ]
    )
    has_earlier = len(rows) > size
    events = list(reversed(rows[:size]))
    return TimelinePage(events=events, has_earlier=has_earlier, attachments=_attachments_of(events))


def _attachments_of(events: list[CaseEvent]) -> dict[int, list[Attachment]]:
    """The files kept with the events' interactions: one query, and none when no message of the
    page came with attachments."""
    ids = [
        event.interaction_id
        for event in events
        if event.interaction is not None and (event.interaction.metadata or {}).get("attachments")
    ]
    result: dict[int, list[Attachment]] = {}
    if ids:
        for row in Attachment.objects.filter(interaction_id__in=ids).order_by("interaction_id", "position"):
            result.setdefault(row.interaction_id, []).append(row)
    return result


def case_attachment(*, case: Case, attachment_id: int) -> Attachment | None:
    """A file kept with one of the case's interactions (the case is the seat's already)."""
    return Attachment.objects.filter(pk=attachment_id, interaction__case_id=case.pk).first()


def timeline_event(*, case: Case, event_id: int) -> CaseEvent | None:
    return CaseEvent.objects.filter(case_id=case.pk, pk=event_id).first()


def names_for(*, user_ids: set[int], queue_ids: set[int]) -> tuple[dict[int, str], dict[int, str]]:
    """Display names of the users and queues a timeline page refers to (a query each, if any)."""
    users: dict[int, str] = {}
    queues: dict[int, str] = {}
    if user_ids:
        for user in get_user_model().objects.filter(pk__in=user_ids):
            users[user.pk] = user.get_full_name() or user.get_username()
    if queue_ids:
        queues = dict(Queue.objects.filter(pk__in=queue_ids).values_list("pk", "name"))
    return users, queues


def customer_identities(*, case: Case) -> list[CustomerIdentity]:
    return list(CustomerIdentity.objects.filter(customer_id=case.customer_id).order_by("kind", "value"))


def customer_other_cases(*, seat: Seat, case: Case) -> list[Case]:
    return list(
        Case.objects.filter(customer_id=case.customer_id, client_id__in=seat.client_ids)
        .exclude(pk=case.pk)
        .order_by("-opened_at", "-id")[:OTHER_CASES_SHOWN]
    )


def case_escalations(*, case: Case) -> list[Escalation]:
    return list(
        Escalation.objects.filter(case_id=case.pk)
        .select_related("tier", "requested_by")
        .order_by("-sequence")[:ESCALATIONS_SHOWN]
    )


def reply_channels(*, case: Case) -> list[tuple[str, str]]:
    """Channels an agent can write on for this case: the queue's text channels (all of them when the
    queue lists none), the case's current channel first. Voice is a call, not a written reply."""
    allowed = [
        c for c in (case.queue.channels or Channel.values) if c in Channel.values and c != Channel.VOICE
    ]
    if case.current_channel in allowed:
        allowed.remove(case.current_channel)
        allowed.insert(0, case.current_channel)
    return [(value, Channel(value).label) for value in allowed]


def assignable_users(*, queue_ids) -> dict[int, list]:
    """Agents and supervisors of each queue in `queue_ids`: queue id -> users (two queries)."""
    result: dict[int, dict[int, object]] = {queue_id: {} for queue_id in queue_ids}
    for relation in (Queue.agents.through, Queue.supervisors.through):
        rows = (
            relation.objects.filter(queue_id__in=queue_ids, user__is_active=True)
            .select_related("user")
            .order_by("user__username")
        )
        for row in rows:
            result[row.queue_id].setdefault(row.user_id, row.user)
    return {
        queue_id: sorted(users.values(), key=lambda u: u.get_username()) for queue_id, users in result.items()
    }


# --- Supervisor board ----------------------------------------------------------------------------


def _clock_condition(now: datetime, *, breached: bool) -> Q:
    if breached:
        return Q(breached_at__isnull=False) | Q(due_at__lte=now)
    return Q(warned_at__isnull=False) | Q(warn_at__lte=now)


def _has_clock(condition: Q) -> Exists:
    return Exists(SLAClock.objects.filter(condition, case_id=OuterRef("pk"), stopped_at__isnull=True))


def cases_at_risk(*, seat: Seat, now: datetime) -> QuerySet:
    """Ids of the unresolved cases of the supervised queues with a live clock at risk or breached,
    breached first (see `my_work` for why ids; `cases_in_order` fetches the rows)."""
    at_risk = _clock_condition(now, breached=False) | _clock_condition(now, breached=True)
    cases = Case.objects.filter(
        _has_clock(at_risk), queue_id__in=seat.supervised_queue_ids, status__in=UNRESOLVED_STATUSES
    )
    return by_urgency(cases).values_list("pk", flat=True)


@dataclass
class AgentLoad:
    user: object
    open: int = 0
    at_risk: int = 0
    breached: int = 0


def workload(*, seat: Seat, now: datetime, members: dict[int, list]) -> list[AgentLoad]:
    """Per agent of the supervised queues (and anyone holding cases there): unresolved cases
    assigned, of which at risk and breached. Two aggregate queries (plus one for the names of
    assignees outside the queues' members)."""
    assigned = Q(
        case__queue_id__in=seat.supervised_queue_ids,
        case__status__in=UNRESOLVED_STATUSES,
        case__assignee__isnull=False,
    )
    opened = (
        Case.objects.filter(
            queue_id__in=seat.supervised_queue_ids, status__in=UNRESOLVED_STATUSES, assignee__isnull=False
        )
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("assignee_id", "n")
    )
    breached = _clock_condition(now, breached=True)
    # From the live clocks that are at risk or breached: per assignee, how many cases have one, and
    # how many a breached one (at risk = the difference).
    flagged = (
        SLAClock.objects.filter(
            assigned, _clock_condition(now, breached=False) | breached, stopped_at__isnull=True
        )
        .values("case__assignee_id")
        .annotate(
            flagged=Count("case_id", distinct=True), breached=Count("case_id", distinct=True, filter=breached)
        )
        .order_by()
    )
    counted: dict[int, dict] = {
        assignee_id: {"open": n, "at_risk": 0, "breached": 0} for assignee_id, n in opened
    }
    for row in flagged:
        entry = counted.setdefault(row["case__assignee_id"], {"open": 0, "at_risk": 0, "breached": 0})
        entry["breached"], entry["at_risk"] = row["breached"], row["flagged"] - row["breached"]
    people = {user.pk: user for users in members.values() for user in users}
    loads = {pk: AgentLoad(user) for pk, user in people.items()}
    missing = set(counted) - set(people)
    if missing:
        for user in get_user_model().objects.filter(pk__in=missing):
            loads[user.pk] = AgentLoad(user)
    for pk, row in counted.items():
        load = loads[pk]
        load.open, load.at_risk, load.breached = row["open"], row["at_risk"], row["breached"]
    return sorted(
        loads.values(), key=lambda load: (-load.breached, -load.at_risk, -load.open, load.user.get_username())
    )


def unassigned_by_queue(*, seat: Seat) -> list[dict]:
    """Per supervised queue: its name and how many unresolved cases wait unassigned."""
    counts = dict(
        Case.objects.filter(
            queue_id__in=seat.supervised_queue_ids, status__in=UNRESOLVED_STATUSES, assignee__isnull=True
        )
        .values("queue_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("queue_id", "n")
    )
    queues = (
        Queue.objects.filter(pk__in=seat.supervised_queue_ids)
        .select_related("client")
        .order_by("client__name", "name")
    )
    return [{"queue": queue, "unassigned": counts.get(queue.pk, 0)} for queue in queues]
