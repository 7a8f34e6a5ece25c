"""Cases with their clocks, case actions, sync (upsert by external id, bulk), incremental export,
SLA clocks, breaches and policies. Thin: scope, validate, call `cases.sync` / `cases.services`,
shape the output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Prefetch
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from cases import services, sync
from cases.api.authentication import request_api_key
from cases.api.base import ApiGenericViewSet, ApiView, PublicIdLookupMixin
from cases.api.exceptions import PreconditionFailed, conflict_as_precondition
from cases.api.pagination import (
    KeysetPagination,
    decode_position,
    encode_position,
    keyset_after,
    page_size_from,
    rows_release,
)
from cases.api.schema import IF_MATCH_PARAMETER, IF_NONE_MATCH_PARAMETER
from cases.api.serializers import EARLIEST
from cases.models import Case, Client, Queue
from config.errors import ApplicationError

from ..models import Breach, CaseSLA, SLAClock, SLAPolicy, SLATarget
from ..services import clocks_written
from .filters import BreachFilterSet, CaseFilterSet, SLAClockFilterSet, SLAPolicyFilterSet
from .serializers import (
    AssignSerializer,
    BreachSerializer,
    CaseBulkRequestSerializer,
    CaseBulkResponseSerializer,
    CaseCreateSerializer,
    CaseSerializer,
    CaseWriteSerializer,
    ClockListSerializer,
    ClockSerializer,
    ExportPageSerializer,
    PolicySerializer,
    PrioritySerializer,
    ReopenSerializer,
    ResolveSerializer,
    StatusSerializer,
    case_etag,
    case_external_id_problem,
)

EXTERNAL_ID_PARAMETER = OpenApiParameter(
    "external_id", str, OpenApiParameter.PATH, description="The client system's own key for the case."
)
IF_NONE_MATCH_STAR = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="`*`: create only (412 if a case with this external id exists).",
)
CASE_ETAG_HEADER = {
    "ETag": {"schema": {"type": "string"}, "description": "The case version and clock digest."}
}


# Of a case's relations and clocks, what its representation reads (CaseSerializer, sla_summary,
# case_etag): pages of cases load only that. Not the SLA snapshot and engine state, nor the
# clocks' pause log (JSON to decode), nor unused customer, client and policy columns.
_SHOWN_RELATED = (
    "client__slug",
    "customer__public_id",
    "sla__case",
    "sla__policy",
    "sla__policy_version",
    "sla__unmatched_reason",
    "sla__policy__name",
)
_SHOWN_CLOCK_FIELDS = [  # the clock's `state` reads fields shown anyway
    field.name
    for field in SLAClock._meta.concrete_fields
    if field.name == "case" or {field.name, field.attname} & set(ClockSerializer.Meta.fields)
]


def cases_with_clocks(client_ids, *, page: bool = False):
    """Cases of `client_ids` with what the case representation shows, in a fixed query count;
    `page` (list, export): only what the representation reads, nothing more."""
    cases = Case.objects.filter(client_id__in=client_ids).select_related("client", "customer", "sla__policy")
    clocks = SLAClock.objects.order_by("metric", "cycle", "id")
    if page:
        cases = cases.only(*(f.name for f in Case._meta.concrete_fields), *_SHOWN_RELATED)
        clocks = clocks.only(*_SHOWN_CLOCK_FIELDS)
    return cases.prefetch_related(Prefetch("clocks", queryset=clocks))


def _with_written_clocks(case: Case, written: tuple[CaseSLA, list[SLAClock]]) -> Case:
    """`case` (as the create returned it, customer and client attached) with the SLA state and
    clocks the engine just wrote for it, in the shape `cases_with_clocks` gives, without reading
    them back. The clocks go where a prefetch puts them (DRF resets the same cache)."""
    case_sla, clocks = written
    case.sla = case_sla
    case._prefetched_objects_cache = {"clocks": clocks}
    return case


def parse_if_match(request) -> int | None:
    """The case version an `If-Match` names (None: no header or `*`); unreadable -> 412."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = header.split(",")[0].strip()
    tag = tag.removeprefix("W/").strip('"')
    version = tag.split("-", 1)[0]
    if not version.isdigit():
        raise PreconditionFailed("If-Match must be the case's ETag (or its version number).")
    return int(version)


def _matches_none(request, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


@extend_schema_view(
    list=extend_schema(summary="Cases with their clocks and SLA state"),
    retrieve=extend_schema(
        summary="One case (ETag; If-None-Match gives 304)",
        parameters=[IF_NONE_MATCH_PARAMETER],
        responses={
            200: OpenApiResponse(CaseSerializer, description="The case."),
            304: OpenApiResponse(description="Not modified: your ETag is current."),
        },
    ),
)
class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PublicIdLookupMixin, ApiGenericViewSet):
    """A client's cases. Each carries its SLA clocks, its breach state and the policy that applies
    (or why none matched). Changes go through the actions, which take `If-Match`."""

    serializer_class = CaseSerializer
    filterset_class = CaseFilterSet
    pagination_class = KeysetPagination
    if_match_actions = ("assign", "set_status", "set_priority", "resolve", "reopen", "upsert_by_external_id")
    required_permissions = {
        "list": ["cases.view_case"],
        "retrieve": ["cases.view_case"],
        "get_by_external_id": ["cases.view_case"],
        "create": ["cases.add_case"],
        "upsert_by_external_id": ["cases.add_case", "cases.change_case"],
        "bulk": ["cases.add_case", "cases.change_case"],
        "assign": ["cases.change_case"],
        "set_status": ["cases.change_case"],
        "set_priority": ["cases.change_case"],
        "resolve": ["cases.change_case"],
        "reopen": ["cases.change_case"],
    }

    def get_queryset(self):
        return cases_with_clocks(self.client_ids(), page=self.action == "list").order_by("-opened_at", "-id")

    # --- reads -------------------------------------------------------------------------------------

    def _case_response(self, case: Case, *, code=status.HTTP_200_OK, headers=None) -> Response:
        response = Response(CaseSerializer(case).data, status=code, headers=headers)
        response["ETag"] = case_etag(case)
        return response

    def _fresh(self, pk: int) -> Case:
        return cases_with_clocks(self.client_ids()).get(pk=pk)

    def retrieve(self, request, *args, **kwargs):
        case = self.get_object()
        etag = case_etag(case)
        if _matches_none(request, etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return self._case_response(case)

    # --- create, sync ------------------------------------------------------------------------------

    def _input_context(self) -> dict:
        """What input validation knows of the caller: a client system (an API key) or staff."""
        return {"request": self.request, "client_system": request_api_key(self.request) is not None}

    def _sync_client(self, queue_id: int | None = None) -> Client:
        key = request_api_key(self.request)
        if key is not None:
            return key.client
        ids = self.client_ids()
        if queue_id is not None:
            queue = Queue.objects.filter(pk=queue_id, client_id__in=ids).select_related("client").first()
            if queue is not None:
                return queue.client
            raise ValidationError({"queue_id": ["No such queue for this client."]})
        client = self.single_client()
        if client is None:
            raise ValidationError(
                {"non_field_errors": ["You serve several clients: sync with the client system's API key."]}
            )
        return client

    @extend_schema(
        request=CaseCreateSerializer,
        responses={201: OpenApiResponse(CaseSerializer, description="Created.")},
        summary="Open a case (historical opened_at allowed)",
    )
    def create(self, request, *args, **kwargs):
        data = CaseCreateSerializer(data=request.data, context=self._input_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        client = self._sync_client(values["queue_id"])
        with clocks_written() as written:
            case = sync.case_create(client=client, data=values, actor=self.actor())
        case = _with_written_clocks(case, written[case.pk]) if case.pk in written else self._fresh(case.pk)
        location = request.build_absolute_uri(f"/api/v1/cases/{case.public_id}")
        return self._case_response(case, code=status.HTTP_201_CREATED, headers={"Location": location})

    def _by_external_id(self, external_id: str) -> Case:
        found = list(self.get_queryset().with_external_id(external_id)[:2])
        if not found:
            raise Http404
        if len(found) > 1:  # staff serving several clients that use the same key
            raise ValidationError(
                {"external_id": ["Several of your clients have this external id: use the case id."]}
            )
        return found[0]

    @extend_schema(parameters=[EXTERNAL_ID_PARAMETER], summary="One case by the client system's key")
    @action(detail=False, methods=["get"], url_path="by-external-id/(?P<external_id>[^/]+)")
    def get_by_external_id(self, request, external_id: str, *args, **kwargs):
        return self._case_response(self._by_external_id(external_id))

    @extend_schema(
        parameters=[EXTERNAL_ID_PARAMETER, IF_MATCH_PARAMETER, IF_NONE_MATCH_STAR],
        request=CaseWriteSerializer,
        responses={
            200: OpenApiResponse(CaseSerializer, description="Updated (or unchanged)."),
            201: OpenApiResponse(CaseSerializer, description="Created."),
        },
        summary="Create or update a case by the client system's key",
        description="Creates the case when the client has none with this external id (subject, "
        "channel, queue_id and customer_id or customer required), otherwise brings it in line: each "
        "change (subject, queue, priority, assignee, interactions, status) goes through its own "
        "service and timeline entry. Fields left out stay as they are.",
    )
    @get_by_external_id.mapping.put
    def upsert_by_external_id(self, request, external_id: str, *args, **kwargs):
        problem = case_external_id_problem(external_id)
        if problem:
            raise ValidationError({"external_id": [problem]})
        data = CaseWriteSerializer(data=request.data, context=self._input_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        client = self._sync_client(values.get("queue_id") if request_api_key(request) is None else None)
        expected = parse_if_match(request)
        create_only = request.headers.get("If-None-Match", "").strip() == "*"
        if (
            "If-Match" in request.headers
            and not Case.objects.filter(client=client).with_external_id(external_id).exists()
        ):
            raise PreconditionFailed("No case has this external id: If-Match cannot match.")
        with conflict_as_precondition(expected is not None or create_only):
            result = sync.case_upsert(
                client=client,
                external_id=external_id,
                data=values,
                actor=self.actor(),
                expected_version=expected,
                create_only=create_only,
            )
        case = self._fresh(result.case.pk)
        return self._case_response(
            case, code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )

    @extend_schema(
        request=CaseBulkRequestSerializer,
        responses={200: CaseBulkResponseSerializer},
        summary="Upsert up to 500 cases by external id",
        description="One result per item: created, updated, unchanged, or failed with the item's "
        "errors. Items are independent unless `atomic` is true: then any failure is a 400 naming "
        "every failed item (`items[i].field`) and nothing is written.",
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request, *args, **kwargs):
        # A malformed request (wrong types, unknown choices) is refused whole, naming each bad
        # item's fields; what the case services refuse is reported per item.
        data = CaseBulkRequestSerializer(data=request.data, context=self._input_context())
        if not data.is_valid():
            errors = dict(data.errors)
            items = errors.pop("items", None)
            if isinstance(items, list) and items and isinstance(items[0], dict | type(None)):
                items = dict(enumerate(items))
            if isinstance(items, dict):
                errors.update(
                    {"items" if k == "non_field_errors" else f"items[{k}]": e for k, e in items.items() if e}
                )
            elif items is not None:
                errors["items"] = items
            raise ValidationError(errors)
        atomic = data.validated_data["atomic"]
        items = [dict(item) for item in data.validated_data["items"]]
        results, kept = sync.cases_bulk_upsert(
            client=self._sync_client(),
            items=[(item.pop("external_id"), item) for item in items],
            actor=self.actor(),
            atomic=atomic,
        )
        if not kept:
            raise ValidationError({f"items[{r.index}]": r.errors for r in results if r.errors})
        rows = [
            {
                "index": result.index,
                "external_id": result.external_id,
                "outcome": result.outcome,
                "id": result.case.public_id if result.case else None,
                "version": result.case.version if result.case else None,
                "errors": result.errors,
            }
            for result in results
        ]
        counts = {
            outcome: sum(1 for row in rows if row["outcome"] == outcome)
            for outcome in ("created", "updated", "unchanged", "failed")
        }
        return Response(CaseBulkResponseSerializer({"atomic": atomic, **counts, "results": rows}).data)

    # --- actions -----------------------------------------------------------------------------------

    def _act(self, serializer_class, call) -> Response:
        case = self.get_object()
        data = serializer_class(data=self.request.data)
        data.is_valid(raise_exception=True)
        expected = parse_if_match(self.request)
        with conflict_as_precondition(expected is not None):
            call(case, data.validated_data, expected)
        return self._case_response(self._fresh(case.pk))

    @extend_schema(
        request=AssignSerializer,
        responses={200: CaseSerializer},
        parameters=[IF_MATCH_PARAMETER],
        summary="Assign (or unassign) the case",
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, *args, **kwargs):
        def call(case, values, expected):
            assignee = None
            if values["assignee_id"] is not None:
                refs = sync.References.load(case.client, [("", {"assignee_id": values["assignee_id"]})])
                assignee = refs.users.get(values["assignee_id"])
                if assignee is None:
                    raise ApplicationError.for_field("assignee_id", "No such user serving this client.")
            services.case_assign(
                case=case,
                assignee=assignee,
                actor=self.actor(),
                reason=values["reason"],
                expected_version=expected,
            )

        return self._act(AssignSerializer, call)

    @extend_schema(
        request=StatusSerializer,
        responses={200: CaseSerializer},
        parameters=[IF_MATCH_PARAMETER],
        summary="Change the status (lifecycle rules apply)",
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, *args, **kwargs):
        return self._act(
            StatusSerializer,
            lambda case, values, expected: services.case_status_set(
                case=case, actor=self.actor(), expected_version=expected, **values
            ),
        )

    @extend_schema(
        request=PrioritySerializer,
        responses={200: CaseSerializer},
        parameters=[IF_MATCH_PARAMETER],
        summary="Change the priority (clock targets follow)",
    )
    @action(detail=True, methods=["post"], url_path="priority")
    def set_priority(self, request, *args, **kwargs):
        return self._act(
            PrioritySerializer,
            lambda case, values, expected: services.case_priority_set(
                case=case, actor=self.actor(), expected_version=expected, **values
            ),
        )

    @extend_schema(
        request=ResolveSerializer,
        responses={200: CaseSerializer},
        parameters=[IF_MATCH_PARAMETER],
        summary="Resolve the case",
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, *args, **kwargs):
        return self._act(
            ResolveSerializer,
            lambda case, values, expected: services.case_resolve(
                case=case, actor=self.actor(), expected_version=expected, **values
            ),
        )

    @extend_schema(
        request=ReopenSerializer,
        responses={200: CaseSerializer},
        parameters=[IF_MATCH_PARAMETER],
        summary="Reopen a resolved case (counted)",
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, *args, **kwargs):
        return self._act(
            ReopenSerializer,
            lambda case, values, expected: services.case_reopen(
                case=case, actor=self.actor(), expected_version=expected, **values
            ),
        )


# --- Incremental export ------------------------------------------------------------------------------

EXPORT_SALT = "accord.api.export"


def export_horizon() -> datetime:
    """The instant before which every case change is committed.

    `updated_at` is set by the writer before it commits, so a slow transaction can commit a row
    older than rows already exported. Rows are exported only below a horizon: now minus a safety
    margin, and on PostgreSQL also before the start of the oldest transaction still writing (so a
    long transaction holds the horizon back instead of being skipped)."""
    margin = timedelta(seconds=settings.ACCORD_API_EXPORT_SAFETY_SECONDS)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT LEAST(clock_timestamp(), COALESCE(MIN(xact_start), clock_timestamp())) "
                "FROM pg_stat_activity WHERE backend_xid IS NOT NULL "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            oldest = cursor.fetchone()[0]
        return min(oldest, timezone.now()) - margin
    return timezone.now() - margin


@extend_schema_view(
    get=extend_schema(
        summary="Cases changed since the cursor, oldest change first",
        parameters=[
            OpenApiParameter("cursor", str, description="`next_cursor` of the previous page."),
            OpenApiParameter(
                "updated_since", OpenApiTypes.DATETIME, description="Start here (first call only, no cursor)."
            ),
            OpenApiParameter(
                "page_size", OpenApiTypes.INT, description="1 to 500 (default 100).", required=False
            ),
        ],
        responses={200: ExportPageSerializer},
    )
)
class CaseExportView(ApiView):
    """Incremental export: every case changed since the cursor, in (updated_at, id) order, each at
    its latest version. Keep `next_cursor` and poll: a case changed while you page comes again
    later in the stream, so by `end_of_stream` you have seen every case at its final version up to
    `horizon`."""

    required_permissions = {"get": ["cases.view_case"]}

    def get(self, request, *args, **kwargs):
        page_size = page_size_from(request, default=100)
        horizon = export_horizon()
        queryset = (
            cases_with_clocks(self.client_ids(), page=True)
            .filter(updated_at__lt=horizon)
            .order_by("updated_at", "id")
        )
        raw = request.query_params.get("cursor")
        position: list = [None, 0]
        if raw is not None:
            payload = decode_position(raw, salt=EXPORT_SALT)
            try:
                updated_at = datetime.fromisoformat(payload["v"][0])
                last_id = int(payload["v"][1])
            except (TypeError, ValueError, IndexError) as exc:
                raise ValidationError({"cursor": ["This cursor is not valid."]}) from exc
            position = [updated_at, last_id]
            queryset = queryset.filter(keyset_after(["updated_at", "id"], position))
        elif "updated_since" in request.query_params:
            since = _parse_datetime(request.query_params["updated_since"])
            queryset = queryset.filter(updated_at__gte=since)
            position = [since - timedelta(microseconds=1), 0]
        rows = list(queryset[: page_size + 1])
        more = len(rows) > page_size
        rows_release(rows[page_size:])  # read only to know there is more
        del rows[page_size:]
        if rows:
            position = [rows[-1].updated_at, rows[-1].pk]
        elif position[0] is None:
            position = [datetime(1970, 1, 1, tzinfo=UTC), 0]
        results = CaseSerializer(rows, many=True).data
        rows_release(rows)  # serialized: not read again (see rows_release)
        rows.clear()
        return Response(
            {
                "results": results,
                "next_cursor": encode_position(position, salt=EXPORT_SALT),
                "end_of_stream": not more,
                "horizon": horizon,
            }
        )


def _parse_datetime(value: str) -> datetime:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or timezone.is_naive(parsed):
        raise ValidationError({"updated_since": ["An ISO 8601 time with its UTC offset."]})
    return max(parsed, EARLIEST)  # nothing changed before it


# --- SLA reads ---------------------------------------------------------------------------------------


class SLAClockViewSet(mixins.ListModelMixin, ApiGenericViewSet):
    """SLA clocks of the caller's cases: one per case, metric and (next response) cycle."""

    serializer_class = ClockListSerializer
    filterset_class = SLAClockFilterSet
    pagination_class = KeysetPagination
    required_permissions = {"list": ["slas.view_slaclock"]}

    def get_queryset(self):
        return (
            SLAClock.objects.filter(client_id__in=self.client_ids())
            .select_related("case")
            .order_by("-started_at", "-id")
        )


class BreachViewSet(mixins.ListModelMixin, ApiGenericViewSet):
    """Missed clocks: exactly one breach per missed clock, breached at its due time."""

    serializer_class = BreachSerializer
    filterset_class = BreachFilterSet
    pagination_class = KeysetPagination
    required_permissions = {"list": ["slas.view_breach"]}

    def get_queryset(self):
        return (
            Breach.objects.filter(client_id__in=self.client_ids())
            .select_related("case")
            .order_by("-breached_at", "-id")
        )


class SLAPolicyViewSet(mixins.ListModelMixin, ApiGenericViewSet):
    """The client's SLA policies in matching order, with their targets (seconds per metric and
    priority)."""

    serializer_class = PolicySerializer
    filterset_class = SLAPolicyFilterSet
    pagination_class = KeysetPagination
    required_permissions = {"list": ["slas.view_slapolicy"]}

    def get_queryset(self):
        return (
            SLAPolicy.objects.filter(client_id__in=self.client_ids())
            .select_related("client", "calendar")
            .prefetch_related(
                "queues", Prefetch("targets", queryset=SLATarget.objects.order_by("metric", "priority"))
            )
            .order_by("order", "id")
        )
