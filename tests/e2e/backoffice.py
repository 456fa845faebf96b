"""The steps of the end-to-end journey that Kelisim offers no HTTP path for, and the test's
read-only look at the database: ``python -m tests.e2e.backoffice`` (JSON lines on stdin/stdout).

The journey in ``test_stack.py`` drives one case over HTTP wherever the portal or the API has
a page or an endpoint for the step. Some steps have neither: creating a stage's object with
its content (the diagnosis and its six assessed areas, the development plan with its actions
and sending it for signing, concluding the signing, the support measure and concluding its
coordination, the implementation).
They run here, in the stack's environment (production settings, same database, S3 and broker),
through the same services as ``run_cycle`` (:class:`processes.cycle.CycleRunner`), acting as
the demo coordinator (or the partner, for the discussion), so permissions, conditions,
documents and audit entries are those of the application.

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


def _case(ref: str):
    from processes.rounds.models import Case

    return Case.objects.select_related("round", "application").get(ref=ref)


def _runner(case_or_round):
    from processes.cycle import CycleRunner
    from processes.rounds.models import Round

    rnd = case_or_round if isinstance(case_or_round, Round) else case_or_round.round
    return CycleRunner(rnd)


# -- steps without an HTTP path --------------------------------------------------------------------


def add_coordinators(count: int) -> list[str]:
    """``count`` more active coordinators (``coordinator-e2e-N``, e-mail ``...@example.kz``)."""
    from processes.rounds.actors import ensure_user
    from workflow import permissions as roles

    return [ensure_user(f"coordinator-e2e-{i}", roles.COORDINATOR, full_name=f"Coordinator {i}").username
            for i in range(1, count + 1)]


def create_diagnosis(ref: str) -> str:
    from django.db import transaction

    from processes.diagnosis.models import Diagnosis
    from workflow.tasks import follow_up

    with transaction.atomic():
        diagnosis, created = Diagnosis.objects.get_or_create(case=_case(ref), defaults={"assessors": "KIID, Atameken"})
        if created:
            follow_up(diagnosis)
    return diagnosis.state


def record_assessment(ref: str) -> str:
    from processes.cycle import diagnosis_findings
    from processes.diagnosis.services import record_assessment as record

    case = _case(ref)
    runner = _runner(case)
    diagnosis = case.diagnosis
    record(diagnosis=diagnosis, areas=diagnosis_findings(case.application, case.round.diagnosis_areas),
           actor=runner.coordinator)
    diagnosis.refresh_from_db()
    return diagnosis.state


def create_plan(ref: str) -> str:
    from django.db import transaction

    from processes.cycle import plan_actions, script_text
    from processes.planning.models import Plan, PlanAction
    from workflow.tasks import follow_up

    case = _case(ref)
    runner, lang = _runner(case), case.language
    with transaction.atomic():
        plan, created = Plan.objects.get_or_create(case=case, defaults={
            "vision": script_text("vision", lang, name=case.name(lang), year=runner.plan_year + 4),
            "governance": script_text("governance", lang)})
        if created or not plan.actions.exists():
            for action in plan_actions(case.application, runner.plan_year, lang):
                PlanAction.objects.create(plan=plan, **action)
        follow_up(plan)
    return plan.state


def send_for_signing(ref: str) -> dict:
    from processes.planning.services import send_for_signing as send

    case = _case(ref)
    approval = send(plan=case.plan, actor=_runner(case).coordinator)
    return {"approval": approval.pk, "state": approval.state}


def conclude_signing(ref: str) -> str:
    from processes.planning.services import conclude_signing as conclude

    case = _case(ref)
    return conclude(plan=case.plan, actor=_runner(case).coordinator).state


def propose_measure(ref: str) -> dict:
    from decimal import Decimal

    from processes.cycle import script_text
    from processes.support.services import propose_measure as propose

    case = _case(ref)
    rnd, runner = case.round, _runner(case)
    proposal = rnd.support_proposal
    measure = propose(case=case, title=script_text("measure", case.language),
                      amount_kzt=Decimal(str(proposal.get("max_kzt_per_year", 60000000))),
                      reimbursement_pct=Decimal(str(proposal.get("reimbursement_pct_years_1_2", 75))),
                      legal_basis=rnd.support_act,
                      bodies=[rnd.organiser or "Ministry",
                              script_text("akimat", case.language, region=case.application.region)],
                      actor=runner.coordinator)
    return {"measure": measure.state, "positions": measure.positions.count()}


def conclude_coordination(ref: str) -> str:
    from processes.support.services import conclude_coordination as conclude

    case = _case(ref)
    measure = case.support_measures.get()
    conclude(measure=measure, actor=_runner(case).coordinator)
    measure.refresh_from_db()
    return measure.state


def create_implementation(ref: str) -> str:
    """Create the implementation of the case (its tasks open)."""
    from django.db import transaction

    from processes.implementation.models import Implementation
    from workflow.tasks import follow_up

    case = _case(ref)
    runner = _runner(case)
    with transaction.atomic():
        impl, created = Implementation.objects.get_or_create(case=case, defaults={
            "started_on": dt.date(runner.plan_year, 1, 1)})
        if created:
            follow_up(impl)
    return impl.state


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


COMMANDS = {f.__name__: f for f in (add_coordinators, create_diagnosis,
                                    record_assessment, create_plan, send_for_signing, conclude_signing,
                                    propose_measure, conclude_coordination, create_implementation, reminder_clock,
                                    delivery_every_second, tokens, open_deadlines, owed, outbox, versions)}


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
