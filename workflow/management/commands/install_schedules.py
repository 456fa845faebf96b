"""``python manage.py install_schedules``: the Celery beat schedule of the workflow engine.

Creates or updates (idempotently) the django-celery-beat rows that the
``DatabaseScheduler`` (``celery -A settings beat -S django_celery_beat.schedulers:DatabaseScheduler``)
runs:

* ``workflow.jobs.sweep_deadlines`` every 15 minutes (queue due reminders and escalations);
* ``workflow.jobs.deliver_notifications`` every 5 minutes (send pending e-mail, retries).

Both are crontabs in ``settings.TIME_ZONE`` (Asia/Almaty). Running the command again changes
nothing; a row edited by hand (schedule, task, disabled) is put back to the values here.
Saving a row bumps django-celery-beat's change marker, so a running beat reloads it.
Prints one line per schedule: ``created``, ``updated`` or ``unchanged``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

#: (periodic task name, task, crontab minute field, description)
SCHEDULES = (
    ("kelisim: sweep deadlines", "workflow.jobs.sweep_deadlines", "*/15",
     "Queue the reminders and escalations due now (every 15 minutes)."),
    ("kelisim: deliver notifications", "workflow.jobs.deliver_notifications", "*/5",
     "Send pending e-mail notifications, retrying failures (every 5 minutes)."),
)


class Command(BaseCommand):
    help = "Create or update the Celery beat schedules (django-celery-beat) of Kelisim's periodic jobs."

    def handle(self, *args, **options):
        from django_celery_beat.models import CrontabSchedule, PeriodicTask

        tz = settings.TIME_ZONE
        with transaction.atomic():
            for name, task, minute, description in SCHEDULES:
                crontab, _ = CrontabSchedule.objects.get_or_create(
                    minute=minute, hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone=tz)
                wanted = {"task": task, "crontab": crontab, "interval": None, "solar": None, "clocked": None,
                          "enabled": True, "one_off": False, "description": description,
                          "args": "[]", "kwargs": "{}"}
                periodic = PeriodicTask.objects.filter(name=name).first()
                if periodic is None:
                    PeriodicTask.objects.create(name=name, **wanted)
                    status = "created"
                else:
                    diff = [field for field, value in wanted.items() if getattr(periodic, field) != value]
                    if diff:
                        for field in diff:
                            setattr(periodic, field, wanted[field])
                        periodic.save()
                        status = f"updated ({', '.join(diff)})"
                    else:
                        status = "unchanged"
                self.stdout.write(f"{status}: {name!r} -> {task} at minute {minute} ({tz})")
