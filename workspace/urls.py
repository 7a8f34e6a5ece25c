"""Workspace URLs, mounted at the site root."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "workspace"

urlpatterns = [
    path("", views.my_work, name="my-work"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("supervisor/", views.supervisor, name="supervisor"),
    path("cases/<uuid:public_id>/", views.case_detail, name="case"),
    path("cases/<uuid:public_id>/timeline/", views.case_timeline, name="case-timeline"),
    path("cases/<uuid:public_id>/clocks/", views.case_clocks, name="case-clocks"),
    path(
        "cases/<uuid:public_id>/attachments/<int:attachment_id>/",
        views.case_attachment,
        name="case-attachment",
    ),
    path("cases/<uuid:public_id>/<slug:action>/", views.case_action, name="case-action"),
]
