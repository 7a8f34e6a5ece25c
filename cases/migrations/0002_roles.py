"""Create the staff role groups and grant them the case models' permissions."""

from django.db import migrations

from cases.roles import CASES_PERMISSIONS, grant_permissions


def forwards(apps, schema_editor):
    grant_permissions(apps, "cases", CASES_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
