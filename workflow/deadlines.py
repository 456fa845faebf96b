"""Deadlines, reminders and escalation on Kazakhstan's working-day calendar.

A :class:`~workflow.models.Deadline` says when open work is due. :func:`sweep` (run by Celery
beat in production, by ``manage.py send_reminders`` in the embedded mode) looks at every open
deadline and queues the messages that are due by now:

* a reminder per ``reminder_offsets`` entry (working days relative to the due day, default
  ``-2`` and ``0``), at :data:`REMINDER_HOUR` Almaty time on that working day, while the work
  is not yet overdue;
* an escalation from one working day after the due day, then every ``escalate_every``
  working days until the deadline is closed; a late sweep sends only the latest one due.

Each message is an outbox row (``workflow.models.Notification``) whose idempotency key is
``deadline:<id>:<kind>:<occurrence>:<recipient>``; the database's unique constraint makes
a second sweep, a concurrent sweep or a redelivered task a no-op. Reminders never change a
state. :func:`deliver` sends pending e-mail rows through Django's e-mail backend in the
recipient's language and retries failures with exponential backoff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation

from . import calendar, permissions
from .models import Deadline, Notification
from .notifications import notify

log = logging.getLogger("kelisim.deadlines")

#: Reminders and escalations are dated at this hour (Asia/Almaty) of their working day.
REMINDER_HOUR = 9
DEFAULT_OFFSETS = (-2, 0)
#: Delivery attempts before a message is marked failed; the n-th retry waits 2**n minutes.
MAX_ATTEMPTS = 5
CHANNELS = (Notification.Channel.IN_APP, Notification.Channel.EMAIL)


def _zone() -> ZoneInfo:
    return ZoneInfo(calendar.TIME_ZONE)


def working_days_before(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day before ``day`` (``n`` >= 1) on Kazakhstan's calendar."""
    current, left = day, n
    while left:
        current -= dt.timedelta(days=1)
        if calendar.is_working_day(current):
            left -= 1
    return current


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(REMINDER_HOUR), tzinfo=_zone())


def open_deadline(*, chain: str, label: str, due_at: dt.datetime, subject=None, task_id=None, responsible=None,
                  role: str = "", escalate_to=None, reminder_offsets=DEFAULT_OFFSETS, escalate_every: int = 2,
                  language: str = "ru") -> Deadline:
    """Open a deadline (``due_at`` aware, normally ``calendar.due_at(...)``); return it.

    Raises ``ValueError`` for a naive ``due_at``, ``escalate_every`` < 1, or neither a
    responsible person nor a role to remind.
    """
    if timezone.is_naive(due_at):
        raise ValueError("due_at must be timezone-aware")
    if escalate_every < 1:
        raise ValueError("escalate_every must be at least 1 working day")
    if responsible is None and not role:
        raise ValueError("a deadline needs a responsible person or a role to remind")
    from django.contrib.contenttypes.models import ContentType

    return Deadline.objects.create(
        chain=chain, label=label[:300], due_at=due_at, task_id=task_id, responsible=responsible, role=role,
        escalate_to=escalate_to, reminder_offsets=list(reminder_offsets), escalate_every=escalate_every,
        language=language,
        subject_type=ContentType.objects.get_for_model(subject) if subject is not None else None,
        subject_id=subject.pk if subject is not None else None)


def close_deadlines(*, task_id=None, subject=None, at: dt.datetime | None = None) -> int:
    """Close the open deadlines of a task or a subject object; return how many were closed."""
    from django.contrib.contenttypes.models import ContentType

    if task_id is None and subject is None:
        return 0
    query = Q(task_id=task_id) if task_id is not None else Q(
        subject_type=ContentType.objects.get_for_model(subject), subject_id=subject.pk)
    return Deadline.objects.filter(query, closed_at__isnull=True).update(closed_at=at or timezone.now())


@dataclasses.dataclass(frozen=True)
class Occurrence:
    """One message a deadline owes: ``kind`` reminder or escalation, ``occurrence`` its
    number (the offset for reminders, the 1-based round for escalations), ``at`` when due."""

    kind: str
    occurrence: int
    at: dt.datetime


def occurrences(deadline: Deadline, now: dt.datetime) -> list[Occurrence]:
    """The messages ``deadline`` owes at ``now`` (see the module docstring)."""
    due_day = deadline.due_at.astimezone(_zone()).date()
    owed = []
    if now <= deadline.due_at:
        for offset in deadline.reminder_offsets or ():
            day = due_day if offset == 0 else (
                working_days_before(due_day, -offset) if offset < 0 else calendar.add_working_days(due_day, offset))
            if _at(day) <= now:
                owed.append(Occurrence("reminder", offset, _at(day)))
        return owed[-1:]  # a late sweep sends only the latest reminder
    today = now.astimezone(_zone()).date()
    elapsed = calendar.working_days_between(due_day, today)  # working days after the due day, up to today
    if calendar.is_working_day(today) and now < _at(today):
        elapsed -= 1  # today's escalation hour has not come yet
    if elapsed < 1:
        return []
    round_no = (elapsed - 1) // deadline.escalate_every + 1
    at = _at(calendar.add_working_days(due_day, 1 + (round_no - 1) * deadline.escalate_every))
    return [Occurrence("escalation", round_no, at)]


def _recipients(deadline: Deadline, kind: str) -> list:
    users = get_user_model().objects.filter(is_active=True)
    if kind == "escalation":
        if deadline.escalate_to_id:
            return [deadline.escalate_to]
        return list(users.filter(groups__name=permissions.COORDINATOR).order_by("pk"))
    if deadline.responsible_id:
        return [deadline.responsible]
    return list(users.filter(groups__name=deadline.role).order_by("pk"))


@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` found: ``owed`` (deadline id, kind, occurrence, username) and how many
    outbox rows it created now (0 for messages queued before, and in a dry run)."""

    owed: list = dataclasses.field(default_factory=list)
    created: int = 0


def sweep(*, now: dt.datetime | None = None, dry_run: bool = False) -> SweepResult:
    """Queue every reminder and escalation due by ``now``; idempotent (see the module docstring).

    With ``dry_run`` nothing is written and ``owed`` lists what would be queued. Delivery is
    queued after the transaction commits.
    """
    now = now or timezone.now()
    result = SweepResult()
    horizon = now + dt.timedelta(days=30)  # reminders start at most a few working days before
    open_deadlines = Deadline.objects.filter(closed_at__isnull=True, due_at__lte=horizon).select_related(
        "responsible", "escalate_to").order_by("pk")
    with transaction.atomic():
        for deadline in open_deadlines.iterator(chunk_size=2000):
            for occ in occurrences(deadline, now):
                for user in _recipients(deadline, occ.kind):
                    key = f"deadline:{deadline.pk}:{occ.kind}:{occ.occurrence}:{user.pk}"
                    result.owed.append((deadline.pk, occ.kind, occ.occurrence, user.get_username()))
                    if dry_run:
                        continue
                    subject = (f"{'Reminder' if occ.kind == 'reminder' else 'Overdue'}: {deadline.label}, due "
                               f"{deadline.due_at.astimezone(_zone()):%Y-%m-%d}")
                    result.created += len(notify(
                        recipient=user, kind=f"deadline_{occ.kind}", key=key, subject=subject, chain=deadline.chain,
                        channels=CHANNELS, language=deadline.language,
                        data={"deadline": deadline.pk, "occurrence": occ.occurrence, "at": occ.at.isoformat()}))
        if result.created:
            transaction.on_commit(_queue_delivery)
    return result


def _queue_delivery():
    from .jobs import deliver_notifications

    deliver_notifications.delay()


@dataclasses.dataclass
class DeliveryResult:
    """What :func:`deliver` did with the pending e-mail rows."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


def deliver(*, now: dt.datetime | None = None, limit: int = 500) -> DeliveryResult:
    """Send pending e-mail notifications due by ``now`` (at most ``limit``), each once.

    A row is locked while sent (``SELECT ... FOR UPDATE SKIP LOCKED`` where supported), so
    concurrent workers never send one twice. A failure records the error and retries after
    2**attempts minutes; after :data:`MAX_ATTEMPTS` the row is marked failed.
    """
    now = now or timezone.now()
    result = DeliveryResult()
    due = (Q(status=Notification.Status.PENDING, channel=Notification.Channel.EMAIL)
           & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)))
    for pk in list(Notification.objects.filter(due).order_by("pk").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            rows = Notification.objects.filter(due, pk=pk).select_related("recipient")
            from django.db import connection

            if connection.features.has_select_for_update_skip_locked:
                rows = rows.select_for_update(skip_locked=True)
            row = rows.first()
            if row is None:
                continue
            row.attempts += 1
            try:
                with translation.override(row.language):
                    send_mail(row.subject, _body(row), settings.DEFAULT_FROM_EMAIL, [row.recipient.email])
            except Exception as exc:  # any backend error: record and retry later
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = Notification.Status.FAILED
                    result.failed += 1
                else:
                    row.next_attempt_at = now + dt.timedelta(minutes=2 ** row.attempts)
                    result.retried += 1
                log.warning("delivery of notification %s failed: %s", row.pk, row.last_error)
            else:
                row.status, row.sent_at, row.last_error = Notification.Status.SENT, timezone.now(), ""
                result.sent += 1
            row.save(update_fields=["attempts", "status", "sent_at", "last_error", "next_attempt_at"])
    return result


def _body(row: Notification) -> str:
    from django.utils.translation import gettext as _

    return "\n".join([row.subject, "", _("Case: %(case)s") % {"case": row.chain or "-"},
                      _("This message was sent by Kelisim; reminders never change the state of a case.")])
