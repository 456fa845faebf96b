"""Deadlines, reminders and escalation: exactly once, on Kazakhstan's working days."""

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from processes.rounds.actors import ensure_user
from workflow import calendar
from workflow.deadlines import MAX_ATTEMPTS, close_deadlines, deliver, message_id, open_deadline, sweep
from workflow.models import AuditEntry, Deadline, Notification

pytestmark = pytest.mark.django_db
ALMATY = ZoneInfo("Asia/Almaty")


def at(day: str, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), tzinfo=ALMATY)


@pytest.fixture
def people(db):
    return ensure_user("owner", "expert"), ensure_user("boss", "coordinator")


@pytest.fixture
def deadline(people):
    owner, boss = people
    # Opened on Wednesday 2017-03-15: 5 working days on the 2017 calendar skip the working
    # Saturday's swap (Mon 20 March off), Nauryz (21-23 March) and the weekend: due Mon 27 March.
    due = calendar.due_at(dt.date(2017, 3, 15), 5)
    assert due.date() == dt.date(2017, 3, 27)
    return open_deadline(chain="TC-T/A1", label="Score A1", due_at=due, responsible=owner, escalate_to=boss,
                         language="en")


def _deadline_rows():
    return Notification.objects.filter(key__startswith="deadline:")


def _kinds():
    return sorted(_deadline_rows().filter(channel="email").values_list("kind", "data__occurrence",
                                                                       "recipient__username"))


def test_reminders_two_working_days_before_and_on_the_day_then_escalations(deadline):
    assert sweep(now=at("2017-03-16")).created == 0
    # The working days before Monday 27 March 2017 are Friday 24 (20-23 March are off) and then
    # Saturday 18 March, a working day by the 2017 transfer decree: the "-2" reminder is on the 18th.
    assert calendar.is_working_day(dt.date(2017, 3, 18))
    assert sweep(now=at("2017-03-18", 8, 59)).created == 0
    assert sweep(now=at("2017-03-18")).created == 2  # in-app and e-mail
    assert sweep(now=at("2017-03-24")).created == 0  # the -2 reminder was sent; 0 is on the due day
    assert sweep(now=at("2017-03-27")).created == 2
    assert _kinds() == [("deadline_reminder", -2, "owner"), ("deadline_reminder", 0, "owner")]
    # Overdue: first escalation one working day after the due day, then every 2 working days.
    assert sweep(now=at("2017-03-27", 23)).created == 0
    assert sweep(now=at("2017-03-28")).created == 2
    assert sweep(now=at("2017-03-29")).created == 0
    assert sweep(now=at("2017-03-30")).created == 2
    escalations = [k for k in _kinds() if k[0] == "deadline_escalation"]
    assert escalations == [("deadline_escalation", 1, "boss"), ("deadline_escalation", 2, "boss")]


def test_a_second_and_a_concurrent_sweep_queue_nothing_twice(deadline):
    first = sweep(now=at("2017-03-28"))
    again = sweep(now=at("2017-03-28"))
    assert first.created == 2 and again.created == 0 and len(again.owed) == 1
    assert Notification.objects.filter(key__startswith=f"deadline:{deadline.pk}:").count() == 2


def test_a_late_sweep_sends_only_the_latest_escalation(deadline):
    result = sweep(now=at("2017-04-10"))
    assert [(kind, n) for _, kind, n, _ in result.owed] == [("escalation", 5)]


def test_a_closed_deadline_sends_nothing_and_reminders_change_no_state(deadline):
    entries = AuditEntry.objects.count()
    sweep(now=at("2017-03-18"))
    assert AuditEntry.objects.count() == entries
    assert close_deadlines(subject=None, task_id=None) == 0
    Deadline.objects.filter(pk=deadline.pk).update(closed_at=at("2017-03-20"))
    assert sweep(now=at("2017-03-28")).owed == []


def test_queued_work_reminds_every_holder_of_the_role(people):
    from django.contrib.auth import get_user_model

    ensure_user("coord-2", "coordinator")
    d = open_deadline(chain="X", label="Check", due_at=calendar.due_at(dt.date(2017, 3, 15), 1), role="coordinator")
    result = sweep(now=at(d.due_at.date().isoformat()))
    holders = get_user_model().objects.filter(groups__name="coordinator", is_active=True)
    assert sorted(user for *_, user in result.owed) == sorted(holders.values_list("username", flat=True))
    assert {"boss", "coord-2"} <= {user for *_, user in result.owed}


def test_delivery_sends_each_email_once_in_the_recipient_language(deadline, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sweep(now=at("2017-03-18"))
    assert deliver(now=at("2017-03-18")).sent == 1
    assert deliver(now=at("2017-03-18")).sent == 0
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["owner@example.kz"]
    assert "Score A1" in mail.outbox[0].subject and "Case: TC-T/A1" in mail.outbox[0].body
    row = _deadline_rows().get(channel="email")
    assert (row.status, row.attempts, row.sent_at is not None) == ("sent", 1, True)


def test_a_failing_mail_server_is_retried_with_backoff_then_marked_failed(deadline, settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sweep(now=at("2017-03-18"))

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("workflow.deadlines.send_email", broken)
    now = at("2017-03-18")
    assert deliver(now=now).retried == 1
    row = _deadline_rows().get(channel="email")
    assert row.attempts == 1 and "smtp down" in row.last_error and row.next_attempt_at == now + dt.timedelta(minutes=2)
    assert deliver(now=now).retried == 0  # not yet due again
    for attempt in range(2, MAX_ATTEMPTS + 1):
        now += dt.timedelta(hours=1)
        deliver(now=now)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)


def test_a_rolled_back_change_queues_and_sends_nothing(deadline, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            sweep(now=at("2017-03-18"))
            raise RuntimeError("the step failed")
    assert not _deadline_rows().exists()
    assert deliver(now=at("2017-03-18")).sent == 0 and mail.outbox == []


def test_bad_deadlines_are_refused(people):
    owner, _ = people
    with pytest.raises(ValueError, match="timezone-aware"):
        open_deadline(chain="X", label="x", due_at=dt.datetime(2017, 3, 1), responsible=owner)
    with pytest.raises(ValueError, match="responsible person or a role"):
        open_deadline(chain="X", label="x", due_at=at("2017-03-01"))


def test_send_reminders_dry_run_and_bad_input(deadline):
    out = io.StringIO()
    call_command("send_reminders", "--dry-run", "--at", "2017-03-28T10:00+06:00", stdout=out)
    assert "escalation deadline" in out.getvalue() and "nothing written" in out.getvalue()
    assert not _deadline_rows().exists()
    for bad in ("tomorrow", "2017-03-28T10:00"):
        with pytest.raises(CommandError) as info:
            call_command("send_reminders", "--at", bad)
        assert info.value.returncode == 2
    call_command("send_reminders", "--at", "2017-03-28T10:00+06:00", stdout=out)
    assert "queued 2 new message row(s)" in out.getvalue()


def test_tasks_with_a_limit_get_a_deadline_that_closes_with_them(sample_round):
    from workflow import tasks

    application = sample_round.applications.get(ref="A2")
    (task,) = tasks._of_object(tasks._act_tasks(), application)
    deadline = Deadline.objects.get(task_id=task.pk)
    assert deadline.closed_at is not None and deadline.chain == "TC-2017/A2"
    limit = sample_round.review_working_days["completeness_check"]
    opened = deadline.opened_at.astimezone(ALMATY).date()
    assert deadline.due_at == calendar.due_at(opened, limit)
    assert not Deadline.objects.filter(closed_at__isnull=True, chain__startswith="TC-2017").exclude(
        subject_type__model="case").exists()


def test_created_counts_only_rows_inserted_now_when_some_were_queued_before(deadline):
    key = f"deadline:{deadline.pk}:escalation:1:{deadline.escalate_to_id}"
    Notification.objects.create(key=key, channel="in_app", recipient=deadline.escalate_to, kind="deadline_escalation",
                                subject="queued by an earlier sweep")
    result = sweep(now=at("2017-03-28"))
    assert result.created == 1  # only the e-mail row is new
    assert set(Notification.objects.filter(key=key).values_list("channel", flat=True)) == {"in_app", "email"}
    email = Notification.objects.get(key=key, channel="email")
    assert (email.kind, email.chain, email.language, email.status, email.attempts) == (
        "deadline_escalation", "TC-T/A1", "en", "pending", 0)
    assert email.subject == "Overdue: Score A1 (TC-T/A1), due 27.03.2017"
    assert email.data == {"deadline": deadline.pk, "occurrence": 1, "at": at("2017-03-28").isoformat()}


def test_the_batched_sweep_matches_the_per_deadline_rule(people, monkeypatch):
    """Across batch borders, every deadline owes what ``occurrences`` and ``_recipients`` say."""
    from workflow import deadlines

    owner, boss = people
    ensure_user("coord-2", "coordinator")
    made = []
    for i in range(7):
        due = calendar.due_at(dt.date(2017, 3, 1), 3 + 2 * i)
        made.append(open_deadline(
            chain=f"B/{i}", label=f"Step {i}", due_at=due, responsible=owner if i % 3 else None,
            role="" if i % 3 else "coordinator", escalate_to=boss if i % 2 else None,
            reminder_offsets=(-3, -1, 0) if i == 4 else deadlines.DEFAULT_OFFSETS, escalate_every=1 + i % 3))
    now = at("2017-03-22", 10)
    expected = sorted((d.pk, occ.kind, occ.occurrence, user.username) for d in made
                      for occ in deadlines.occurrences(d, now) for user in deadlines._recipients(d, occ.kind))
    monkeypatch.setattr(deadlines, "SWEEP_BATCH", 2)
    dry = sweep(now=now, dry_run=True)
    assert sorted(dry.owed) == expected and dry.created == 0 and not _deadline_rows().exists()
    result = sweep(now=now)
    assert sorted(result.owed) == expected and len(expected) > 7
    assert result.created == 2 * len(expected) == _deadline_rows().count()
    assert sweep(now=now).created == 0


def _queued_deliveries(callbacks) -> int:
    from workflow.deadlines import _queue_delivery

    return sum(1 for callback in callbacks if callback is _queue_delivery)


def test_a_sweep_queues_a_delivery_while_email_is_pending_even_if_it_created_nothing(
        deadline, settings, django_capture_on_commit_callbacks):
    """A worker killed mid-delivery leaves rows pending; the next sweep creates no rows but
    still queues a delivery, which sends them once (same Message-ID as any earlier attempt)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks() as first:
        assert sweep(now=at("2017-03-18")).created == 2
    assert _queued_deliveries(first) == 1
    with django_capture_on_commit_callbacks() as second:
        assert sweep(now=at("2017-03-18", 9, 15)).created == 0
    assert _queued_deliveries(second) == 1
    with django_capture_on_commit_callbacks(execute=True):
        sweep(now=at("2017-03-18", 9, 30))  # the queued delivery runs (eager Celery)
    assert len(mail.outbox) == 1
    row = _deadline_rows().get(channel="email")
    assert row.status == "sent" and mail.outbox[0].extra_headers["Message-ID"] == message_id(row)
    with django_capture_on_commit_callbacks() as settled:
        sweep(now=at("2017-03-18", 9, 45))
    assert _queued_deliveries(settled) == 0  # nothing pending: nothing queued
    assert len(mail.outbox) == 1 and _deadline_rows().count() == 2


def test_a_sweep_queues_no_delivery_for_a_retry_not_due_yet_nor_in_a_dry_run(
        deadline, django_capture_on_commit_callbacks):
    sweep(now=at("2017-03-18"))
    _deadline_rows().filter(channel="email").update(next_attempt_at=at("2017-03-18", 10))
    with django_capture_on_commit_callbacks() as early:
        sweep(now=at("2017-03-18", 9, 30))
    assert _queued_deliveries(early) == 0
    with django_capture_on_commit_callbacks() as due:
        sweep(now=at("2017-03-18", 10))
    assert _queued_deliveries(due) == 1
    with django_capture_on_commit_callbacks() as dry:
        sweep(now=at("2017-03-18", 10), dry_run=True)
    assert _queued_deliveries(dry) == 0


def test_a_starting_worker_sends_the_pending_email_once(deadline, settings):
    """``worker_ready`` (settings/celery.py) queues one delivery when rows are pending."""
    from celery import signals

    from workflow.deadlines import delivery_pending, queue_delivery_if_pending

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert queue_delivery_if_pending() is False  # nothing pending yet
    sweep(now=at("2017-03-18"))  # on_commit never runs inside the test's transaction: rows left pending
    assert delivery_pending() and mail.outbox == []
    signals.worker_ready.send(sender=None)
    assert not delivery_pending() and len(mail.outbox) == 1
    signals.worker_ready.send(sender=None)  # a second start sends nothing again
    assert len(mail.outbox) == 1
    assert list(_deadline_rows().filter(channel="email").values_list("status", "attempts")) == [("sent", 1)]
