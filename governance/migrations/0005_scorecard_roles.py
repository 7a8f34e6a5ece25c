"""Grant the role groups their permissions on contracts, terms and scorecards."""

from django.db import migrations

from cases.roles import grant_permissions
from governance.roles import SCORECARD_PERMISSIONS


def forwards(apps, schema_editor):
    grant_permissions(apps, "governance", SCORECARD_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("governance", "0004_contracts_scorecards")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
