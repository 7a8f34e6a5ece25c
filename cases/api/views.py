"""Customer, queue, interaction, timeline and satisfaction endpoints. Thin: scope, validate, call
one service, shape the output."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .. import services
from ..choices import AuthorKind, Direction
from ..downloads import attachment_download
from ..models import Case, CaseEvent, Client, Customer, CustomerIdentity, Interaction, Queue
from .authentication import request_api_key
from .base import ApiGenericViewSet, PublicIdLookupMixin
from .filters import CaseEventFilterSet, CustomerFilterSet, InteractionFilterSet, QueueFilterSet
from .pagination import KeysetPagination
from .serializers import (
    CaseEventSerializer,
    CustomerInputSerializer,
    CustomerSerializer,
    CustomerUpdateSerializer,
    IdentityInputSerializer,
    InteractionInputSerializer,
    InteractionSerializer,
    QueueSerializer,
    SatisfactionInputSerializer,
    SatisfactionSerializer,
)

CASE_ID_PARAMETER = OpenApiParameter(
    "case_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The case's id."
)
CLIENT_PARAMETER = OpenApiParameter(
    "client",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Staff serving several clients: the client's slug. Ignored for API keys.",
)


class CustomerViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, PublicIdLookupMixin, ApiGenericViewSet
):
    """A client's customers, with their identities (e-mail, phone, chat, social, external CRM id)."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    pagination_class = KeysetPagination
    required_permissions = {
        "list": ["cases.view_customer"],
        "retrieve": ["cases.view_customer"],
        "create": ["cases.add_customer"],
        "partial_update": ["cases.change_customer"],
        "identities": ["cases.add_customeridentity"],
    }

    def get_queryset(self):
        return (
            Customer.objects.filter(client_id__in=self.client_ids())
            .select_related("client", "merged_into")
            .prefetch_related(
                Prefetch("identities", queryset=CustomerIdentity.objects.order_by("kind", "id"))
            )
            .order_by("-updated_at", "-id")
        )

    def filter_queryset(self, queryset):
        client = self.single_client()
        self.request.accord_region = client.default_region if client else "US"
        return super().filter_queryset(queryset)

    def _client_for_write(self) -> Client:
        client = self.single_client()
        if client is not None and request_api_key(self.request):
            return client
        slug = self.request.query_params.get("client")
        if slug:
            found = Client.objects.filter(pk__in=self.client_ids(), slug=slug).first()
            if found is None:
                raise ValidationError({"client": ["You serve no client with this slug."]})
            return found
        if client is None:
            raise ValidationError({"client": ["You serve several clients: name one with ?client=<slug>."]})
        return client

    @extend_schema(
        request=CustomerInputSerializer,
        responses={201: CustomerSerializer},
        parameters=[CLIENT_PARAMETER],
        summary="Create a customer with identities",
    )
    def create(self, request, *args, **kwargs):
        data = CustomerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        customer = services.customer_create(
            client=self._client_for_write(),
            display_name=values["display_name"],
            identities=[(item["kind"], item["value"]) for item in values["identities"]],
            segment=values["segment"],
            is_vip=values["is_vip"],
            language=values["language"],
            actor=self.actor(),
        )
        customer = self.get_queryset().get(pk=customer.pk)
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=CustomerUpdateSerializer,
        responses={200: CustomerSerializer},
        summary="Change a customer's name, segment, VIP flag or language",
    )
    def partial_update(self, request, *args, **kwargs):
        customer = self.get_object()
        data = CustomerUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        reason = values.pop("reason", "")
        services.customer_update(customer=customer, actor=self.actor(), reason=reason, **values)
        return Response(CustomerSerializer(self.get_queryset().get(pk=customer.pk)).data)

    @extend_schema(
        request=IdentityInputSerializer,
        responses={200: CustomerSerializer},
        summary="Add an identity to a customer (idempotent)",
    )
    @action(detail=True, methods=["post"])
    def identities(self, request, *args, **kwargs):
        customer = self.get_object()
        data = IdentityInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.identity_add(customer=customer, actor=self.actor(), **data.validated_data)
        return Response(CustomerSerializer(self.get_queryset().get(pk=customer.pk)).data)


class QueueViewSet(mixins.ListModelMixin, ApiGenericViewSet):
    """The caller's clients' queues. Cases refer to a queue by its `id`."""

    serializer_class = QueueSerializer
    filterset_class = QueueFilterSet
    pagination_class = KeysetPagination
    required_permissions = {"list": ["cases.view_queue"]}

    def get_queryset(self):
        return (
            Queue.objects.filter(client_id__in=self.client_ids())
            .select_related("client")
            .order_by("name", "id")
        )


class CaseNestedMixin:
    """Endpoints under /cases/{case_id}/: the case is looked up among the caller's clients (404
    otherwise, the same answer whether the case exists elsewhere or not)."""

    def get_case(self) -> Case:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Case()
        if not hasattr(self, "_case"):
            case = Case.objects.filter(
                client_id__in=self.client_ids(), public_id=self.kwargs["case_id"]
            ).first()
            if case is None:
                raise Http404
            self._case = case
        return self._case

    def is_client_system(self) -> bool:
        return request_api_key(self.request) is not None


@extend_schema_view(
    list=extend_schema(parameters=[CASE_ID_PARAMETER], summary="A case's interactions in time order"),
    create=extend_schema(
        parameters=[CASE_ID_PARAMETER],
        request=InteractionInputSerializer,
        responses={201: InteractionSerializer, 200: InteractionSerializer},
        summary="Append an interaction (historical occurred_at allowed; idempotent by external_id)",
    ),
)
class InteractionViewSet(CaseNestedMixin, mixins.ListModelMixin, PublicIdLookupMixin, ApiGenericViewSet):
    """The case's unified timeline of touchpoints. Client systems see and write public messages
    only (inbound and outbound), never the BPO's internal notes."""

    serializer_class = InteractionSerializer
    filterset_class = InteractionFilterSet
    pagination_class = KeysetPagination
    required_permissions = {
        "list": ["cases.view_interaction"],
        "create": ["cases.add_interaction"],
        "attachment": ["cases.view_interaction"],
    }

    def get_queryset(self):
        queryset = Interaction.objects.filter(case_id=self.get_case().pk).order_by("occurred_at", "id")
        return queryset.public() if self.is_client_system() else queryset

    def create(self, request, *args, **kwargs):
        case = self.get_case()
        data = InteractionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if self.is_client_system() and values["direction"] == Direction.NOTE:
            raise ValidationError(
                {"direction": ["Client systems write inbound or outbound messages, not notes."]}
            )
        author = request.user if values["author_kind"] == AuthorKind.AGENT and request.user.is_staff else None
        result = services.interaction_append(
            case=case,
            author=author,
            actor=self.actor(),
            source="api",
            same_case_only=True,
            **values,
        )
        return Response(
            InteractionSerializer(result.interaction).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    def perform_content_negotiation(self, request, force=False):
        # A file answers whatever the caller accepts (Accept: application/octet-stream included).
        return super().perform_content_negotiation(request, force=force or self.action == "attachment")

    @extend_schema(
        parameters=[
            CASE_ID_PARAMETER,
            OpenApiParameter(
                "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The interaction's id."
            ),
            OpenApiParameter(
                "position",
                OpenApiTypes.INT,
                OpenApiParameter.PATH,
                description="The attachment's place in the interaction's metadata.attachments, from 0.",
            ),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        summary="Download a file that came with the message (an e-mail attachment)",
        description=(
            "The file at `position` in the interaction's `metadata.attachments`, as a download with "
            "the type and name its sender gave it. 404 when there is none there, or when it was "
            "larger than Accord keeps."
        ),
    )
    @action(detail=True, methods=["get"], url_path=r"attachments/(?P<position>[0-9]{1,4})")
    def attachment(self, request, *args, **kwargs):
        interaction = self.get_object()
        return attachment_download(interaction.attachments.filter(position=int(kwargs["position"])).first())


@extend_schema_view(list=extend_schema(parameters=[CASE_ID_PARAMETER], summary="The case's timeline (audit)"))
class CaseTimelineViewSet(CaseNestedMixin, mixins.ListModelMixin, ApiGenericViewSet):
    """Who did what to the case, before and after, and why, in order."""

    serializer_class = CaseEventSerializer
    filterset_class = CaseEventFilterSet
    pagination_class = KeysetPagination
    required_permissions = {"list": ["cases.view_caseevent"]}

    def get_queryset(self):
        queryset = (
            CaseEvent.objects.filter(case_id=self.get_case().pk)
            .select_related("actor", "interaction")
            .order_by("occurred_at", "id")
        )
        if self.is_client_system():
            queryset = queryset.exclude(interaction__direction=Direction.NOTE)
        return queryset


@extend_schema_view(
    create=extend_schema(
        parameters=[CASE_ID_PARAMETER],
        request=SatisfactionInputSerializer,
        responses={201: SatisfactionSerializer},
        summary="Record a customer's satisfaction answers (CSAT 1-5, NPS 0-10, effort 1-7)",
    )
)
class SatisfactionViewSet(CaseNestedMixin, ApiGenericViewSet):
    serializer_class = SatisfactionSerializer
    required_permissions = {"create": ["cases.add_satisfactionsurvey"]}

    def get_queryset(self):  # pragma: no cover - create only
        return Case.objects.none()

    def create(self, request, *args, **kwargs):
        case = self.get_case()
        data = SatisfactionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        survey = services.survey_record(case=case, actor=self.actor(), **data.validated_data)
        survey.case = case
        return Response(SatisfactionSerializer(survey).data, status=status.HTTP_201_CREATED)
