"""A case driven past its deadline with a controlled clock: exactly the reminders and
escalations expected, and no state changes."""

import datetime as dt

import pytest
from django.test import override_settings

from processes.rounds.actors import ensure_user
from processes.rounds.importer import import_round
from processes.submission.services import submit_application
from workflow import calendar
from workflow.deadlines import REMINDER_HOUR, open_deadline, sweep, working_days_before
from workflow.jobs import deliver_notifications, sweep_deadlines
from workflow.models import AuditEntry, Deadline, Notification
from workflow.transitions import perform

pytestmark = pytest.mark.django_db


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(REMINDER_HOUR), tzinfo=calendar._zone(calendar.TIME_ZONE))


def test_a_submitted_application_is_reminded_then_escalated_and_stays_submitted(round_file):
    coordinators = {ensure_user("coordinator", "coordinator"), ensure_user("coord-b", "coordinator")}
    rnd = import_round(round_file(lambda d: d["round"].update(code="TC-REM"))).round
    coordinator = next(iter(coordinators))
    perform(rnd, "open_applications", actor=coordinator)
    application = rnd.applications.get(ref="A3")
    submit_application(application=application, actor=coordinator)
    deadline = Deadline.objects.get(chain="TC-REM/A3", closed_at__isnull=True)
    due_day = deadline.due_at.astimezone(calendar._zone(calendar.TIME_ZONE)).date()
    assert deadline.role == "coordinator" and deadline.reminder_offsets == [-2, 0]
    assert calendar.working_days_between(deadline.opened_at.date(), due_day) in (4, 5, 6)
    holders = set(type(coordinator).objects.filter(groups__name="coordinator", is_active=True))
    entries = AuditEntry.objects.filter(chain="TC-REM/A3").count()

    def run(now):
        # The Celery tasks with an explicit clock (eager here, a real worker in tests/brokers).
        sweep_deadlines.delay(now=now.isoformat())
        deliver_notifications.delay(now=now.isoformat())
        rows = Notification.objects.filter(key__startswith=f"deadline:{deadline.pk}:", channel="email")
        return sorted((r.kind, r.data["occurrence"]) for r in rows.distinct()), rows.count()

    kinds, count = run(_at(working_days_before(due_day, 2)) - dt.timedelta(minutes=1))
    assert kinds == [] and count == 0
    kinds, count = run(_at(working_days_before(due_day, 2)))
    assert set(kinds) == {("deadline_reminder", -2)} and count == len(holders)
    kinds, count = run(_at(due_day))
    assert set(kinds) == {("deadline_reminder", -2), ("deadline_reminder", 0)} and count == 2 * len(holders)
    kinds, count = run(_at(calendar.add_working_days(due_day, 1)))
    assert ("deadline_escalation", 1) in kinds
    kinds, count = run(_at(calendar.add_working_days(due_day, 3)))  # every 2 working days
    assert [k for k in set(kinds) if k[0] == "deadline_escalation"] and ("deadline_escalation", 2) in kinds
    again = run(_at(calendar.add_working_days(due_day, 3)))
    assert again[1] == count  # nothing twice
    assert Notification.objects.filter(key__startswith=f"deadline:{deadline.pk}:", channel="email",
                                       status="sent").count() == count
    application.refresh_from_db()
    assert application.state == "submitted"  # reminders never move the case
    assert AuditEntry.objects.filter(chain="TC-REM/A3").count() == entries


@override_settings(KELISIM_REMINDER_OFFSETS=(-3, -1), KELISIM_ESCALATE_EVERY=5)
def test_reminder_offsets_and_escalation_interval_are_configurable(db):
    owner = ensure_user("owner", "expert")
    deadline = open_deadline(chain="X", label="x", due_at=calendar.due_at(dt.date(2017, 6, 1), 10), responsible=owner)
    assert (deadline.reminder_offsets, deadline.escalate_every) == ([-3, -1], 5)
    due_day = deadline.due_at.date()
    result = sweep(now=_at(working_days_before(due_day, 3)))
    assert [(kind, n) for _, kind, n, _ in result.owed] == [("reminder", -3)]
