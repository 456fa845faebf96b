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
import functools
import hashlib
import json
import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from operations import metrics

from . import calendar, permissions
from .models import Deadline, Notification

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
                  role: str = "", escalate_to=None, reminder_offsets=None, escalate_every: int | None = None,
                  language: str = "ru", on_expiry: str = "") -> Deadline:
    """Open a deadline (``due_at`` aware, normally ``calendar.due_at(...)``); return it.

    ``on_expiry`` (opt-in, needs ``subject``) names the transition :func:`expire` takes on
    ``subject`` once ``due_at`` has passed. Raises ``ValueError`` for a naive ``due_at``,
    ``escalate_every`` < 1, neither a responsible person nor a role to remind, or
    ``on_expiry`` without a subject.
    """
    if reminder_offsets is None:
        reminder_offsets = getattr(settings, "KELISIM_REMINDER_OFFSETS", DEFAULT_OFFSETS)
    if escalate_every is None:
        escalate_every = getattr(settings, "KELISIM_ESCALATE_EVERY", 2)
    if timezone.is_naive(due_at):
        raise ValueError("due_at must be timezone-aware")
    if escalate_every < 1:
        raise ValueError("escalate_every must be at least 1 working day")
    if responsible is None and not role:
        raise ValueError("a deadline needs a responsible person or a role to remind")
    if on_expiry and subject is None:
        raise ValueError("an expiry rule (on_expiry) needs the subject it acts on")
    from django.contrib.contenttypes.models import ContentType

    return Deadline.objects.create(
        chain=chain, label=label[:300], due_at=due_at, task_id=task_id, responsible=responsible, role=role,
        escalate_to=escalate_to, reminder_offsets=list(reminder_offsets), escalate_every=escalate_every,
        language=language, on_expiry=on_expiry,
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
    """The users ``deadline``'s ``kind`` message goes to (one deadline; :func:`sweep` resolves
    them for all deadlines at once with :class:`_Recipients`, with the same rule)."""
    users = get_user_model().objects.filter(is_active=True)
    if kind == "escalation":
        if deadline.escalate_to_id:
            return [deadline.escalate_to]
        return list(users.filter(groups__name=permissions.COORDINATOR).order_by("pk"))
    if deadline.responsible_id:
        return [deadline.responsible]
    return list(users.filter(groups__name=deadline.role).order_by("pk"))


class _Recipients:
    """:func:`_recipients` for a whole sweep: ``(pk, username, language)`` triples (language is
    the person's :class:`~workflow.models.UserPreference`, ``""`` when they chose none), with
    each role's active holders queried once per sweep and named users looked up in bulk."""

    def __init__(self):
        self._names: dict[int, tuple[int, str, str]] = {}
        self._roles: dict[str, list[tuple[int, str, str]]] = {}

    @staticmethod
    def _rows(query) -> list[tuple[int, str, str]]:
        model = get_user_model()
        return [(pk, name, lang or "") for pk, name, lang in
                query.values_list("pk", model.USERNAME_FIELD, "kelisim_preference__language")]

    def load(self, user_ids) -> None:
        """Fetch the usernames and languages of ``user_ids`` not known yet (one query)."""
        missing = {pk for pk in user_ids if pk is not None and pk not in self._names}
        if missing:
            self._names.update((row[0], row) for row in self._rows(get_user_model().objects.filter(pk__in=missing)))

    def _role(self, role: str) -> list[tuple[int, str, str]]:
        if role not in self._roles:
            self._roles[role] = self._rows(get_user_model().objects.filter(is_active=True, groups__name=role)
                                           .order_by("pk"))
        return self._roles[role]

    def __call__(self, row: dict, kind: str) -> list[tuple[int, str, str]]:
        if kind == "escalation":
            if row["escalate_to_id"]:
                return [self._names[row["escalate_to_id"]]]
            return self._role(permissions.COORDINATOR)
        if row["responsible_id"]:
            return [self._names[row["responsible_id"]]]
        return self._role(row["role"])


#: Subject lines (msgids); the label is a msgid too when it is one of the catalogued titles.
SUBJECTS = {
    "reminder": gettext_noop("Reminder: %(label)s (%(case)s), due %(date)s"),
    "escalation": gettext_noop("Overdue: %(label)s (%(case)s), due %(date)s"),
}


@functools.lru_cache(maxsize=64)
def _catalogue(language: str):
    """The translation catalogue of ``language`` (no activation: a sweep writes in many languages)."""
    from django.utils.translation import trans_real

    return trans_real.translation(language)


@functools.lru_cache(maxsize=4096)
def _due_text(due_day: dt.date, language: str) -> str:
    from django.utils import dateformat, formats

    return dateformat.format(due_day, formats.get_format("SHORT_DATE_FORMAT", lang=language))


@functools.lru_cache(maxsize=65536)
def _label_text(label: str, language: str) -> str:
    return _catalogue(language).gettext(label) if label else ""


def compose_subject(kind: str, label: str, case: str, due_day: dt.date, language: str) -> str:
    """The subject of a ``kind`` (reminder or escalation) message about ``label`` of ``case``
    due on ``due_day`` (Almaty date), in ``language`` (kk, ru or en): the subject line and
    ``label`` are translated through the project's catalogues (``locale/``; an uncatalogued
    label stays as it is), the date is formatted for that language. At most 300 characters."""
    template = _label_text(SUBJECTS[kind], language)
    return (template % {"label": _label_text(label, language), "case": case or "-",
                        "date": _due_text(due_day, language)})[:300]


@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` found: ``owed`` (deadline id, kind, occurrence, username) and how many
    outbox rows it created now (0 for messages queued before, and in a dry run)."""

    owed: list = dataclasses.field(default_factory=list)
    created: int = 0


#: Deadlines read per query and outbox rows written per INSERT by :func:`sweep`.
SWEEP_BATCH = 5000
_ROW_FIELDS = ("pk", "chain", "label", "due_at", "responsible_id", "role", "escalate_to_id", "escalate_every",
               "language")


class _Schedule:
    """The fields :func:`occurrences` reads, for a ``.values()`` row."""

    __slots__ = ("due_at", "escalate_every", "reminder_offsets")

    def __init__(self, due_at, reminder_offsets, escalate_every):
        self.due_at, self.reminder_offsets, self.escalate_every = due_at, reminder_offsets, escalate_every


def sweep(*, now: dt.datetime | None = None, dry_run: bool = False) -> SweepResult:
    """Queue every reminder and escalation due by ``now``; idempotent (see the module docstring).

    With ``dry_run`` nothing is written and ``owed`` lists what would be queued. A delivery
    (:func:`deliver`, Celery task ``deliver_notifications``) is queued after the transaction
    commits whenever e-mail rows are pending and due at ``now`` (:func:`delivery_pending`),
    whether this sweep created them or an earlier one did and they were not sent (a worker
    killed mid-delivery).

    Built for volume (``make bench``: 100,000 open deadlines): the open deadlines are read as
    plain rows in batches of :data:`SWEEP_BATCH`, :func:`occurrences` is computed once per
    distinct schedule (due time, offsets, escalation step), role holders are read once per
    sweep, and each batch's outbox rows are written by :func:`_insert_new` (skip the keys
    already queued, multi-row ``INSERT ... ON CONFLICT DO NOTHING`` on the unique
    ``(key, channel)`` constraint). ``created`` is the database's own count of inserted rows,
    so it stays exact when sweeps run concurrently.
    """
    now = now or timezone.now()
    result = SweepResult()
    horizon = now + dt.timedelta(days=30)  # reminders start at most a few working days before
    open_deadlines = (Deadline.objects.filter(closed_at__isnull=True, due_at__lte=horizon).order_by("pk")
                      .values(*_ROW_FIELDS, offsets=Cast("reminder_offsets", TextField())))  # parsed per schedule
    recipients = _Recipients()
    schedules: dict[tuple, list[Occurrence]] = {}
    zone = _zone()
    with transaction.atomic():
        last_pk = 0
        while True:
            rows = list(open_deadlines.filter(pk__gt=last_pk)[:SWEEP_BATCH])
            if not rows:
                break
            last_pk = rows[-1]["pk"]
            owed = []
            for row in rows:
                schedule = (row["due_at"], row["offsets"], row["escalate_every"])
                occs = schedules.get(schedule)
                if occs is None:
                    occs = schedules[schedule] = occurrences(_Schedule(row["due_at"], json.loads(row["offsets"]),
                                                                       row["escalate_every"]), now)
                if occs:
                    owed.append((row, occs))
            if not owed:
                continue
            recipients.load(pk for row, _ in owed for pk in (row["responsible_id"], row["escalate_to_id"]))
            batch = []
            for row, occs in owed:
                for occ in occs:
                    for user_pk, username, preferred in recipients(row, occ.kind):
                        result.owed.append((row["pk"], occ.kind, occ.occurrence, username))
                        if dry_run:
                            continue
                        key = f"deadline:{row['pk']}:{occ.kind}:{occ.occurrence}:{user_pk}"
                        language = preferred or row["language"]
                        subject = compose_subject(occ.kind, row["label"], row["chain"],
                                                  row["due_at"].astimezone(zone).date(), language)
                        data = {"deadline": row["pk"], "occurrence": occ.occurrence, "at": occ.at.isoformat()}
                        for channel in CHANNELS:
                            batch.append((key, channel, user_pk, f"deadline_{occ.kind}", row["chain"], subject,
                                          data, language))
            if batch:
                result.created += _insert_new(batch)
        if result.created:
            transaction.on_commit(functools.partial(metrics.REMINDERS_QUEUED.inc, result.created))
        if not dry_run and (result.created or delivery_pending(now=now)):
            # also when this sweep created nothing: rows a killed worker left pending are sent
            # now, not at the next periodic delivery (nor an hour later, when Redis gives the
            # killed task back)
            transaction.on_commit(_queue_delivery)
    return result


#: The columns :func:`_insert_new` writes (the others are nullable and start empty).
_INSERT_FIELDS = ("key", "channel", "recipient", "kind", "chain", "subject", "data", "status", "attempts",
                  "last_error", "language", "created_at")


def _insert_new(rows: list[tuple]) -> int:
    """Insert outbox rows (``(key, channel, recipient id, kind, chain, subject, data, language)``)
    whose ``(key, channel)`` is not queued yet; return how many were inserted.

    Keys already in the outbox are skipped by a look-up first (the usual case: a sweep every few
    minutes finds most messages queued before); the rest are inserted with ``INSERT ... ON
    CONFLICT (key, channel) DO NOTHING`` (PostgreSQL: one statement over ``jsonb_to_recordset``
    of the rows; SQLite >= 3.24: multi-row ``VALUES``), so a row another sweep inserted meanwhile
    is skipped by the unique constraint. The count is the database's own (``rowcount``), hence
    exact under concurrent sweeps.
    """
    table = connection.ops.quote_name(Notification._meta.db_table)
    fields = [Notification._meta.get_field(name) for name in _INSERT_FIELDS]
    columns = [connection.ops.quote_name(f.column) for f in fields]
    postgres = connection.vendor == "postgresql"
    keys = list({row[0] for row in rows})
    queued = set()
    with connection.cursor() as cursor:
        if postgres:  # one array parameter instead of thousands of placeholders
            cursor.execute(f"SELECT {columns[0]}, {columns[1]} FROM {table} WHERE {columns[0]} = ANY(%s)", [keys])
            queued.update(map(tuple, cursor.fetchall()))
        else:
            limit = connection.features.max_query_params or 999
            for i in range(0, len(keys), limit):
                queued.update(Notification.objects.filter(key__in=keys[i:i + limit]).values_list("key", "channel"))
        rows = [row for row in rows if (row[0], row[1]) not in queued]
        if not rows:
            return 0
        created = fields[11].get_db_prep_save(timezone.now(), connection)
        pending = Notification.Status.PENDING.value
        conflict = f" ON CONFLICT ({columns[0]}, {columns[1]}) DO NOTHING"
        head = f"INSERT INTO {table} ({', '.join(columns)}) "
        if postgres:  # the rows as one JSON parameter: one statement, no per-value quoting
            cursor.execute(
                head + "SELECT k, c, r, kind, chain, subj, d, %s, 0, '', lang, %s FROM jsonb_to_recordset(%s::jsonb) "
                "AS t(k varchar, c varchar, r bigint, kind varchar, chain varchar, subj varchar, d jsonb, lang varchar)"
                + conflict,
                [pending, created, json.dumps([
                    {"k": key, "c": channel, "r": recipient, "kind": kind, "chain": chain, "subj": subject, "d": data,
                     "lang": language}
                    for key, channel, recipient, kind, chain, subject, data, language in rows])])
            return max(cursor.rowcount, 0)
        data_field = fields[6]
        values = [(key, channel, recipient, kind, chain, subject, data_field.get_db_prep_save(data, connection),
                   pending, 0, "", language, created)
                  for key, channel, recipient, kind, chain, subject, data, language in rows]
        per_statement = max(1, (connection.features.max_query_params or 999) // len(fields))
        placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
        inserted = 0
        for i in range(0, len(values), per_statement):
            chunk = values[i:i + per_statement]
            cursor.execute(head + "VALUES " + ", ".join([placeholder] * len(chunk)) + conflict,
                           [value for row in chunk for value in row])
            inserted += max(cursor.rowcount, 0)
    return inserted


@dataclasses.dataclass
class ExpiryResult:
    """What :func:`expire` did: ``taken`` (deadline id, transition) and ``refused``
    (deadline id, transition, reason) for rules whose transition was not possible."""

    taken: list = dataclasses.field(default_factory=list)
    refused: list = dataclasses.field(default_factory=list)


def expire(*, now: dt.datetime | None = None, dry_run: bool = False) -> ExpiryResult:
    """Apply the opt-in expiry rules: every open deadline with ``on_expiry`` whose ``due_at``
    is before ``now`` gets that transition taken on its subject, once.

    Each rule runs in its own transaction: the deadline row is locked (``SKIP LOCKED`` where
    supported, so concurrent sweeps never take it twice), the transition goes through
    :func:`workflow.transitions.perform` as the system actor
    (:func:`workflow.permissions.system_actor`) with the deadline in the audit entry's data,
    and ``expired_at``/``expiry_result`` record the outcome. A transition that is no longer
    possible (the work was done meanwhile, a condition fails) is recorded as refused and not
    retried; the deadline then keeps reminding and escalating. With ``dry_run`` nothing is
    written and ``taken`` lists what would be tried.
    """
    from django.contrib.contenttypes.models import ContentType

    from .exceptions import WorkflowError
    from .permissions import system_actor
    from .transitions import perform

    now = now or timezone.now()
    result = ExpiryResult()
    due = (Deadline.objects.filter(closed_at__isnull=True, expired_at__isnull=True, due_at__lt=now)
           .exclude(on_expiry=""))
    for pk, transition_name in list(due.order_by("due_at", "pk").values_list("pk", "on_expiry")):
        if dry_run:
            result.taken.append((pk, transition_name))
            continue
        with transaction.atomic():
            rows = due.filter(pk=pk)
            if connection.features.has_select_for_update_skip_locked:
                rows = rows.select_for_update(skip_locked=True)
            deadline = rows.first()
            if deadline is None:  # taken by a concurrent sweep, or closed meanwhile
                continue
            due_day = deadline.due_at.astimezone(_zone()).date()
            try:
                subject = ContentType.objects.get_for_id(deadline.subject_type_id).get_object_for_this_type(
                    pk=deadline.subject_id)
                with transaction.atomic():
                    perform(subject, deadline.on_expiry, actor=system_actor(),
                            comment=f"Deadline missed: {deadline.label} was due {due_day:%Y-%m-%d} "
                                    f"(expiry rule of deadline {deadline.pk}).",
                            data={"deadline": deadline.pk, "due_at": deadline.due_at.isoformat(),
                                  "rule": "on_expiry"})
            except (WorkflowError, ObjectDoesNotExist, AttributeError) as exc:
                outcome = f"not taken: {exc}"[:500]
                result.refused.append((pk, transition_name, outcome))
                log.warning("expiry rule of deadline %s (%s) not taken: %s", pk, transition_name, exc)
            else:
                outcome = f"took {transition_name}"
                result.taken.append((pk, transition_name))
            Deadline.objects.filter(pk=pk).update(expired_at=now, expiry_result=outcome)
    return result


def _queue_delivery():
    from .jobs import deliver_notifications

    deliver_notifications.delay()


def _deliverable(now: dt.datetime) -> Q:
    """The e-mail rows :func:`deliver` sends at ``now``: pending, and due (never tried, or their
    retry time has come)."""
    return (Q(status=Notification.Status.PENDING, channel=Notification.Channel.EMAIL)
            & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)))


def delivery_pending(*, now: dt.datetime | None = None) -> bool:
    """Whether an e-mail row is waiting for :func:`deliver` at ``now`` (aware; default the real
    time): pending and due. One ``EXISTS`` query."""
    return Notification.objects.filter(_deliverable(now or timezone.now())).exists()


def queue_delivery_if_pending() -> bool:
    """Queue one delivery (Celery task ``deliver_notifications``) when e-mail rows are pending
    and due now; return whether one was queued. Run when a worker starts (``worker_ready``,
    ``settings/celery.py``): after a crash the killed worker's delivery comes back only when the
    broker gives it back (Redis: its visibility timeout, one hour), so the restarted worker sends
    what was left at once. Harmless when nothing was lost: :func:`deliver` sends each row once."""
    if not delivery_pending():
        return False
    _queue_delivery()
    return True


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
    due = _deliverable(now)
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
                send_email(row)
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
            outcome = {Notification.Status.SENT: "sent", Notification.Status.FAILED: "failed"}.get(row.status, "retried")
            transaction.on_commit(functools.partial(metrics.DELIVERIES.labels(row.kind, outcome).inc))
    return result


def message_id(row: Notification) -> str:
    """The e-mail ``Message-ID`` of outbox row ``row``: derived from its idempotency key, so a
    message sent again after a crash between sending and recording (e-mail delivery is
    at-least-once) carries the same id and mail systems recognise it as the same message."""
    digest = hashlib.sha256(f"{row.key}|{row.channel}".encode()).hexdigest()[:32]
    domain = getattr(settings, "KELISIM_MESSAGE_ID_DOMAIN", "kelisim.local")
    return f"<{digest}@{domain}>"


def send_email(row: Notification) -> None:
    """Send ``row`` as an e-mail in its language (``row.language``) through Django's e-mail
    backend, with a stable :func:`message_id`. Raises whatever the backend raises."""
    with translation.override(row.language):
        EmailMessage(row.subject, _body(row), settings.DEFAULT_FROM_EMAIL, [row.recipient.email],
                     headers={"Message-ID": message_id(row)}).send()


def _body(row: Notification) -> str:
    from django.utils.translation import gettext as _

    return "\n".join([row.subject, "", _("Case: %(case)s") % {"case": row.chain or "-"},
                      _("This message was sent by Kelisim; reminders never change the state of a case.")])
