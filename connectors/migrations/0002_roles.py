"""Grant the role groups their permissions on the connector models."""

from django.db import migrations

from cases.roles import grant_permissions
from connectors.roles import CONNECTORS_PERMISSIONS


def forwards(apps, schema_editor):
    grant_permissions(apps, "connectors", CONNECTORS_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("connectors", "0001_initial"), ("cases", "0002_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
