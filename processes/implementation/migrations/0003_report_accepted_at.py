"""MonitoringReport.accepted_at: the report awaiting acceptance is the one without it (F4).

Every report recorded before this migration was accepted in the same step
(``submit_quarterly_report``), so each gets its ``created_at``.
"""

from django.db import migrations, models
from django.db.models import F


def accepted_when_recorded(apps, schema_editor):
    report = apps.get_model("implementation", "MonitoringReport")
    report.objects.filter(accepted_at__isnull=True).update(accepted_at=F("created_at"))


class Migration(migrations.Migration):

    dependencies = [
        ("implementation", "0002_verbose_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="monitoringreport",
            name="accepted_at",
            field=models.DateTimeField(blank=True, help_text="when accept_report was taken; empty while the report awaits it",
                                       null=True, verbose_name="accepted at"),
        ),
        migrations.RunPython(accepted_when_recorded, migrations.RunPython.noop),
    ]
