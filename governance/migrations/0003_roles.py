"""Grant the role groups their permissions on the governance models."""

from django.db import migrations

from cases.roles import grant_permissions
from governance.roles import GOVERNANCE_PERMISSIONS


def forwards(apps, schema_editor):
    grant_permissions(apps, "governance", GOVERNANCE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_root_causes"), ("cases", "0002_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
