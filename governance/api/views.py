"""Scorecards over the API: a client system reads its own client's monthly scorecards; staff
read those of the clients they serve."""

from __future__ import annotations

from django.db.models import Prefetch
from rest_framework import mixins

from cases.api.base import ApiGenericViewSet
from cases.api.pagination import KeysetPagination

from ..models import Scorecard, ScorecardLine
from .serializers import ScorecardSerializer


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
