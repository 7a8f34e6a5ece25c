"""The /api/v1/ router. Each app registers its viewsets here (see the API issue)."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter()

urlpatterns = [
    *router.urls,
]
