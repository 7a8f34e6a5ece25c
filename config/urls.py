"""Accord URLs: the admin (governance console), the API and health check."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import path


def health(request):
    return JsonResponse({"status": "ok"})


admin.site.site_header = "Accord"
admin.site.site_title = "Accord"
admin.site.index_title = "Governance console"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
]
