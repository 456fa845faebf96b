"""Data migration: on SQLite, amounts stored as 1e14 or more (over 15 digits, before the 15-digit
limit) could not be read (a 500 on every page and API list showing them); they become
99 999 999 999 999 (processes/stage_amounts.py). Nothing else changes; nothing on PostgreSQL."""

from django.db import migrations


def forwards(apps, schema_editor):
    from processes.stage_amounts import repair

    repair(schema_editor, "planning_planaction", "budget_kzt", 16)


class Migration(migrations.Migration):

    dependencies = [
        ("planning", "0002_verbose_names"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
