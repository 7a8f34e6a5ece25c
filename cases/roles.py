"""Staff roles (auth groups) and the model permissions each holds.

Groups are created and granted by data migrations: `cases.0002_roles` for the case models, and
each later app's own migration for its models, through `grant_permissions`. Data access is
limited further by client (see `cases.access`): a role says what a user may do, their clients
say to which rows.
"""

from __future__ import annotations

from .choices import Role

# app_label -> role -> permission codenames
CASES_PERMISSIONS: dict[str, list[str]] = {
    Role.AGENT: [
        "view_client",
        "view_queue",
        "view_customer",
        "add_customer",
        "change_customer",
        "view_customeridentity",
        "add_customeridentity",
        "change_customeridentity",
        "view_case",
        "change_case",
        "view_interaction",
        "add_interaction",
        "view_caseevent",
        "view_satisfactionsurvey",
    ],
    Role.SUPERVISOR: [
        "view_client",
        "view_queue",
        "change_queue",
        "view_customer",
        "add_customer",
        "change_customer",
        "view_customeridentity",
        "add_customeridentity",
        "change_customeridentity",
        "delete_customeridentity",
        "view_case",
        "change_case",
        "view_interaction",
        "add_interaction",
        "view_caseevent",
        "view_satisfactionsurvey",
    ],
    Role.GOVERNANCE: [
        "view_client",
        "view_queue",
        "view_customer",
        "view_customeridentity",
        "view_case",
        "view_interaction",
        "view_caseevent",
        "view_satisfactionsurvey",
    ],
    Role.CLIENT_SYSTEM: [
        "view_queue",
        "view_customer",
        "add_customer",
        "change_customer",
        "view_customeridentity",
        "add_customeridentity",
        "view_case",
        "add_case",
        "change_case",
        "view_interaction",
        "add_interaction",
        "view_caseevent",
        "add_satisfactionsurvey",
        "view_satisfactionsurvey",
    ],
}


def grant_permissions(apps, app_label: str, mapping: dict[str, list[str]]) -> None:
    """Create the role groups if missing and grant them `app_label`'s permissions (migrations)."""
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config(app_label)
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role in Role.values:
        group, _ = group_model.objects.get_or_create(name=role)
        codenames = mapping.get(role, [])
        permissions = permission_model.objects.filter(
            content_type__app_label=app_label, codename__in=codenames
        )
        missing = set(codenames) - set(permissions.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Unknown permissions for {app_label}: {sorted(missing)}")
        group.permissions.add(*permissions)
