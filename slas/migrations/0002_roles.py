"""Grant the role groups their permissions on the SLA models."""

from django.db import migrations

from cases.roles import grant_permissions
from slas.roles import SLAS_PERMISSIONS


def forwards(apps, schema_editor):
    grant_permissions(apps, "slas", SLAS_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("slas", "0001_initial"), ("cases", "0002_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
