"""Accord URLs: the admin (governance console), the API, a health check and the agent workspace."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path

from .api_errors import api_404, api_500


def health(request):
    return JsonResponse({"status": "ok"})


admin.site.site_header = "Accord"
admin.site.site_title = "Accord"
admin.site.index_title = "Governance console"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/v1/connectors/", include("connectors.urls")),
    path("api/v1/", include("config.api_v1")),
    path("reporting/", include("reporting.urls")),
    path("", include("workspace.urls")),
]


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return api_404(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return api_500(request)
    from django.views.defaults import server_error

    return server_error(request)
