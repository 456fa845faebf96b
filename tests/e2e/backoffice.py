"""The test's set-up and its read-only look at the database, in the stack's environment:
``python -m tests.e2e.backoffice`` (JSON lines on stdin/stdout).

The journey in ``test_stack.py`` drives one case over HTTP at every step, as the role that
takes it. What runs here is no step of the journey: creating extra coordinators and the users'
API tokens, editing the beat schedules as an operator does in the admin, and reading what the
test checks (deadlines, outbox, document versions) in the stack's environment (production
settings, same database, S3 and broker).

Protocol: one JSON object per line in (``{"cmd": NAME, "args": {...}}``), one out
(``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "traceback"}``). One Django start
serves the whole test (a start costs 2-3 s). Nothing else is written to stdout.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import traceback


# -- set-up ----------------------------------------------------------------------------------------


def add_coordinators(count: int) -> list[str]:
    """``count`` more active coordinators (``coordinator-e2e-N``, e-mail ``...@example.kz``)."""
    from processes.rounds.actors import ensure_user
    from workflow import permissions as roles

    return [ensure_user(f"coordinator-e2e-{i}", roles.COORDINATOR, full_name=f"Coordinator {i}").username
            for i in range(1, count + 1)]


# -- the reminder clock and what the test reads ----------------------------------------------------


def reminder_clock(name: str, now: str, enabled: bool = True) -> dict:
    """Create or update the periodic task ``name`` (every second, ``sweep_deadlines`` with
    ``{"now": now}``), exactly as an operator edits a schedule in the admin; the running beat
    sees the change (django-celery-beat's change marker)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    kwargs = json.dumps({"now": now})
    task, created = PeriodicTask.objects.get_or_create(
        name=name, defaults={"task": "workflow.jobs.sweep_deadlines", "interval": every_second, "kwargs": kwargs,
                             "enabled": enabled})
    if not created and (task.kwargs, task.enabled) != (kwargs, enabled):
        task.kwargs, task.enabled = kwargs, enabled
        task.save()
    return {"created": created, "kwargs": task.kwargs, "enabled": task.enabled}


def delivery_every_second(name: str, enabled: bool = True) -> dict:
    """A periodic task ``name`` running ``deliver_notifications`` every second (production runs
    it every 5 minutes: ``install_schedules``), so that the test need not wait 5 minutes for
    the delivery that picks up what a killed worker left pending."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    task, created = PeriodicTask.objects.get_or_create(
        name=name, defaults={"task": "workflow.jobs.deliver_notifications", "interval": every_second,
                             "enabled": enabled})
    if not created and task.enabled != enabled:
        task.enabled = enabled
        task.save()
    return {"created": created, "enabled": task.enabled}


def tokens(users: list[str]) -> dict[str, str]:
    """The REST API token of each of ``users`` (what ``manage.py drf_create_token`` makes, for
    several users in one process instead of one process each)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    return {user: Token.objects.get_or_create(user=get_user_model().objects.get(username=user))[0].key
            for user in users}


def open_deadlines() -> list[dict]:
    """Every open deadline: id, chain, label, due day (Asia/Almaty), task id."""
    from workflow import calendar
    from workflow.models import Deadline

    zone = calendar._zone(calendar.TIME_ZONE)
    return [{"id": d.pk, "chain": d.chain, "label": d.label, "task_id": d.task_id, "role": d.role,
             "responsible": d.responsible_id,
             "due_day": d.due_at.astimezone(zone).date().isoformat()}
            for d in Deadline.objects.filter(closed_at__isnull=True).order_by("pk")]


def owed(deadline_id: int, now: str, role: str) -> list[str]:
    """The outbox keys owed for deadline ``deadline_id`` at ``now`` before it is overdue: each
    reminder due by then (``workflow.deadlines.occurrences``) times each active holder of
    ``role`` (computed here from the users, not from the sweep's recipients). Raises
    ``ValueError`` for a deadline with a responsible person or an escalation due."""
    from django.contrib.auth import get_user_model

    from workflow.deadlines import occurrences
    from workflow.models import Deadline

    deadline = Deadline.objects.get(pk=deadline_id)
    due = occurrences(deadline, dt.datetime.fromisoformat(now))
    if deadline.responsible_id or deadline.role != role or any(occ.kind != "reminder" for occ in due):
        raise ValueError(f"deadline {deadline_id} is not a reminder-only deadline of the {role} queue at {now}")
    holders = get_user_model().objects.filter(groups__name=role, is_active=True).order_by("pk")
    return sorted(f"deadline:{deadline.pk}:{occ.kind}:{occ.occurrence}:{user.pk}"
                  for occ in due for user in holders)


def outbox() -> list[dict]:
    """Every outbox row: key, channel, status, attempts and the Message-ID its e-mail carries."""
    from workflow.deadlines import message_id
    from workflow.models import Notification

    return [{"key": n.key, "channel": n.channel, "status": n.status, "attempts": n.attempts,
             "message_id": message_id(n)} for n in Notification.objects.order_by("pk")]


def versions() -> list[dict]:
    """Every document version: owner, kind, number, storage key, sha256, size."""
    from documents.models import DocumentVersion

    return [{"owner_ref": v.document.owner_ref, "kind": v.document.kind, "number": v.number,
             "key": v.storage_key, "sha256": v.sha256, "size": v.size}
            for v in DocumentVersion.objects.select_related("document").order_by("pk")]


COMMANDS = {f.__name__: f for f in (add_coordinators, reminder_clock, delivery_every_second, tokens, open_deadlines,
                                    owed, outbox, versions)}


def main() -> int:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    sys.stdout = sys.stderr  # anything a service prints goes to the log, not the protocol
    import django

    django.setup()
    from django.db import close_old_connections

    out.write(json.dumps({"ok": True, "result": "ready"}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            close_old_connections()
            result = COMMANDS[request["cmd"]](**request.get("args", {}))
            answer = {"ok": True, "result": result}
        except Exception:  # noqa: BLE001 - reported to the test, which fails with it
            answer = {"ok": False, "error": traceback.format_exc()}
        out.write(json.dumps(answer, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
