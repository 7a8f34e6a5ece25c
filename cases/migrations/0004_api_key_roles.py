"""Grant the role permissions on API keys: governance staff create and revoke client systems' keys,
supervisors see them. Idempotency records are internal (superusers only)."""

from django.db import migrations

from cases.roles import grant_permissions

API_KEY_PERMISSIONS = {
    "supervisor": ["view_apikey"],
    "governance": ["view_apikey", "add_apikey", "change_apikey"],
}


def forwards(apps, schema_editor):
    grant_permissions(apps, "cases", API_KEY_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_api_keys_idempotency"),
        ("cases", "0002_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
