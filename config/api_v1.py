"""The /api/v1/ router: every resource of the REST API, the OpenAPI schema and its docs.

The case domain's endpoints live in `cases.api`, the cases-with-clocks and SLA endpoints in
`slas.api` (so `cases` never imports `slas`); this module composes them."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from cases.api.base import UUID_PATTERN as UUID
from cases.api.views import (
    CaseTimelineViewSet,
    CustomerViewSet,
    InteractionViewSet,
    QueueViewSet,
    SatisfactionViewSet,
)
from governance.api.views import CaseEscalationViewSet, ScorecardViewSet
from slas.api.views import BreachViewSet, CaseExportView, CaseViewSet, SLAClockViewSet, SLAPolicyViewSet

router = DefaultRouter(trailing_slash=False)
router.register("customers", CustomerViewSet, basename="customer")
router.register("queues", QueueViewSet, basename="queue")
router.register("cases", CaseViewSet, basename="case")
router.register(f"cases/(?P<case_id>{UUID})/interactions", InteractionViewSet, basename="case-interaction")
router.register(f"cases/(?P<case_id>{UUID})/timeline", CaseTimelineViewSet, basename="case-timeline")
router.register(f"cases/(?P<case_id>{UUID})/satisfaction", SatisfactionViewSet, basename="case-satisfaction")
router.register(f"cases/(?P<case_id>{UUID})/escalations", CaseEscalationViewSet, basename="case-escalation")
router.register("sla-clocks", SLAClockViewSet, basename="sla-clock")
router.register("breaches", BreachViewSet, basename="breach")
router.register("sla-policies", SLAPolicyViewSet, basename="sla-policy")
router.register("scorecards", ScorecardViewSet, basename="scorecard")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("export/cases", CaseExportView.as_view(), name="case-export"),
    *router.urls,
]
