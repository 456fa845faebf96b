"""Beat schedules under a controlled clock (no broker): crontabs keep their own time zone.

A beat is simulated minute by minute: ``is_due(last_run_at)`` with ``nowfun`` returning the
simulated instant; a due run becomes the new ``last_run_at``, as beat does.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from django.conf import settings
from django.core.management import call_command
import pytest

UTC = dt.timezone.utc


def runs(schedule, start: dt.datetime, end: dt.datetime, last_run: dt.datetime) -> list[dt.datetime]:
    """The instants (UTC, minute steps) in [start, end) at which a beat would run ``schedule``."""
    fired, current = [], start.astimezone(UTC)
    tz = getattr(schedule, "tz", UTC)
    schedule.nowfun = lambda: current.astimezone(tz)
    while current < end:
        if schedule.is_due(last_run).is_due:
            fired.append(current)
            last_run = current
        current += dt.timedelta(minutes=1)
    return fired


def model_crontab(minute: str, hour: str, tz: str):
    from django_celery_beat.models import CrontabSchedule

    return CrontabSchedule(minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*",
                           timezone=tz).schedule


def test_daily_noon_in_berlin_runs_once_on_the_autumn_clock_change():
    """2026-10-25 has 25 hours in Berlin (CEST -> CET at 03:00); 12:00 comes exactly once."""
    berlin = ZoneInfo("Europe/Berlin")
    day_start = dt.datetime(2026, 10, 25, tzinfo=berlin)
    day_end = dt.datetime(2026, 10, 26, tzinfo=berlin)
    assert day_end.astimezone(UTC) - day_start.astimezone(UTC) == dt.timedelta(hours=25)
    last_run = dt.datetime(2026, 10, 24, 12, 0, tzinfo=berlin)
    schedule = model_crontab("0", "12", "Europe/Berlin")  # django-celery-beat's TzAwareCrontab
    fired = runs(schedule, day_start, day_end, last_run)
    assert [t.astimezone(berlin) for t in fired] == [dt.datetime(2026, 10, 25, 12, 0, tzinfo=berlin)]
    assert fired == [dt.datetime(2026, 10, 25, 11, 0, tzinfo=UTC)]  # CET is UTC+1 after the change


def test_plain_celery_crontab_follows_celery_timezone():
    """Celery's own crontab (no zone of its own) runs in CELERY_TIMEZONE = Asia/Almaty."""
    schedule = crontab(minute=30, hour=9)
    assert str(schedule.tz) == settings.TIME_ZONE
    start = dt.datetime(2026, 3, 10, tzinfo=UTC)
    fired = runs(schedule, start, start + dt.timedelta(days=1), dt.datetime(2026, 3, 9, 4, 30, tzinfo=UTC))
    assert fired == [dt.datetime(2026, 3, 10, 4, 30, tzinfo=UTC)]


def test_almaty_crontab_fires_at_almaty_time_not_utc():
    """A 09:30 crontab in settings.TIME_ZONE (Asia/Almaty, UTC+5) runs at 04:30 UTC."""
    assert settings.TIME_ZONE == "Asia/Almaty"
    almaty = ZoneInfo(settings.TIME_ZONE)
    schedule = model_crontab("30", "9", settings.TIME_ZONE)
    start = dt.datetime(2026, 3, 10, tzinfo=UTC)
    fired = runs(schedule, start, start + dt.timedelta(days=1), dt.datetime(2026, 3, 9, 9, 30, tzinfo=almaty))
    assert fired == [dt.datetime(2026, 3, 10, 4, 30, tzinfo=UTC)]
    assert fired[0].astimezone(almaty).time() == dt.time(9, 30)


@pytest.mark.django_db
def test_install_schedules_is_idempotent():
    from django_celery_beat.models import CrontabSchedule, PeriodicTask
    import io

    out = io.StringIO()
    call_command("install_schedules", stdout=out)
    call_command("install_schedules", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["created", "created", "unchanged", "unchanged"]
    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="workflow.jobs.")}
    assert set(tasks) == {"workflow.jobs.sweep_deadlines", "workflow.jobs.deliver_notifications"}
    assert tasks["workflow.jobs.sweep_deadlines"].crontab.minute == "*/15"
    assert tasks["workflow.jobs.deliver_notifications"].crontab.minute == "*/5"
    assert {str(t.crontab.timezone) for t in tasks.values()} == {"Asia/Almaty"}
    assert CrontabSchedule.objects.filter(timezone="Asia/Almaty").count() == 2
    sweep = tasks["workflow.jobs.sweep_deadlines"]
    sweep.enabled = False
    sweep.save()
    out = io.StringIO()
    call_command("install_schedules", stdout=out)
    assert out.getvalue().startswith("updated (enabled)")
    assert PeriodicTask.objects.get(pk=sweep.pk).enabled
