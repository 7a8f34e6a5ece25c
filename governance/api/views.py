"""Governance over the API: a client system reads its own client's monthly scorecards and
escalates its cases; staff read the scorecards of the clients they serve and escalate too."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from cases.api.base import ApiGenericViewSet
from cases.api.exceptions import conflict_as_precondition
from cases.api.pagination import KeysetPagination
from cases.api.schema import IF_MATCH_PARAMETER
from cases.api.views import CASE_ID_PARAMETER, CaseNestedMixin
from cases.models import Queue
from slas.api.views import parse_if_match

from .. import services
from ..choices import EscalationTrigger
from ..models import Escalation, Scorecard, ScorecardLine
from .serializers import EscalationInputSerializer, EscalationSerializer, ScorecardSerializer


class ScorecardViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiGenericViewSet):
    """Monthly scorecards, newest month first, with their lines (actual against target, credit,
    bonus, earned back). Frozen scorecards no longer change."""

    serializer_class = ScorecardSerializer
    pagination_class = KeysetPagination
    required_permissions = {"list": ["governance.view_scorecard"], "retrieve": ["governance.view_scorecard"]}

    def get_queryset(self):
        return (
            Scorecard.objects.filter(client_id__in=self.client_ids())
            .select_related("client")
            .prefetch_related(Prefetch("lines", queryset=ScorecardLine.objects.order_by("position")))
            .order_by("-period", "-id")
        )


@extend_schema_view(
    list=extend_schema(parameters=[CASE_ID_PARAMETER], summary="The case's escalations, first to last"),
    create=extend_schema(
        parameters=[CASE_ID_PARAMETER, IF_MATCH_PARAMETER],
        request=EscalationInputSerializer,
        responses={201: EscalationSerializer},
        summary="Escalate the case to a higher tier",
    ),
)
class CaseEscalationViewSet(CaseNestedMixin, mixins.ListModelMixin, ApiGenericViewSet):
    """A case's escalations. Escalating raises the case's tier (default: one up), supersedes its
    active escalation, records a context summary for the next tier and starts that tier's
    acceptance clock. Staff escalate in their own name (`manual`); a client system's key
    escalates as the client (`client_request`). A resolved or closed case, a tier not above the
    case's, or a tier the client does not have for the queue is a 400 that changes nothing."""

    serializer_class = EscalationSerializer
    pagination_class = KeysetPagination
    required_permissions = {"list": ["governance.view_escalation"], "create": ["governance.add_escalation"]}
    if_match_actions = ("create",)

    def get_queryset(self):
        return (
            Escalation.objects.filter(case_id=self.get_case().pk)
            .select_related("case", "tier")
            .order_by("sequence", "id")
        )

    def create(self, request, *args, **kwargs):
        case = self.get_case()
        data = EscalationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        queue = None
        if values.get("queue_id") is not None:
            queue = Queue.objects.filter(pk=values["queue_id"], client_id=case.client_id).first()
            if queue is None:
                raise ValidationError({"queue_id": ["No such queue for this client."]})
        expected = parse_if_match(request)
        with conflict_as_precondition(expected is not None):
            escalation = services.escalation_create(
                case=case,
                reason=values["reason"],
                actor=self.actor(),
                to_tier=values.get("to_tier"),
                trigger=EscalationTrigger.CLIENT_REQUEST
                if self.is_client_system()
                else EscalationTrigger.MANUAL,
                handoff_channel=values["handoff_channel"],
                move_to_queue=queue,
                expected_version=expected,
            )
        return Response(self.get_serializer(escalation).data, status=status.HTTP_201_CREATED)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "client_system": self.is_client_system()}
