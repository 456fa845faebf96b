"""The support measure's concluding task (``SupportMeasure.task_plan["coordination"]``,
``task_ready``; docs/cycle.md, "Tasks and the stage services").

When the last government body answers, one task opens in the coordinators' queue: "agree" when
every body agreed, "decline" when one objected; not before, not twice. Completing it from the
inbox (``tasks.complete``, the portal's POST, ``POST /api/tasks/<id>/complete/``) routes through
``conclude_coordination`` and gives what ``POST /api/support-measures/<id>/transitions/<name>/``
gives: the coordination sheet, the state, the audit entries, an intact chain. Its due date is the
coordination's: ``support_coordination`` working days after the measure was sent to the bodies.
The last test races the last answers on PostgreSQL (skipped on other databases).
"""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from viewflow.workflow.status import STATUS

from documents.models import DocumentVersion
from processes.rounds.actors import ensure_user
from processes.rounds.models import Case
from processes.support.models import SupportMeasure
from processes.support.services import propose_measure, record_position
from tests.workflow.test_task_routing import (
    TASK_PATHS, _free_cases, _last_seq, _new_entries, _snapshot, _stored_sha256, complete_via, transition_via_api,
)
from workflow import tasks
from workflow.audit import verify_chains
from workflow.models import AuditEntry, Deadline
from workflow.transitions import object_type, perform

pytestmark = pytest.mark.django_db

CONCLUDING = ("agree", "decline")


@pytest.fixture
def coordinator(sample_round):
    return ensure_user("coordinator", "coordinator")


def _measure(case: Case, coordinator, bodies=("Ministry", "Akimat", "Fund")) -> SupportMeasure:
    Case.objects.filter(pk=case.pk).update(state=Case.State.SUPPORT)
    return propose_measure(case=case, title="Reimbursement", amount_kzt=Decimal("60000000"),
                           reimbursement_pct=Decimal("75"), legal_basis="Order No. 1194", bodies=list(bodies),
                           actor=coordinator)


def _concluding(measure) -> list:
    """The measure's open concluding tasks."""
    return [t for t in tasks.open_tasks_for(measure) if tasks.task_data(t)["transition"] in CONCLUDING]


def _answer(measure, body: str, coordinator, *, agrees: bool = True) -> None:
    record_position(position=measure.positions.get(body=body), agrees=agrees, comment=f"{body} letter",
                    actor=coordinator)


def _answer_all(measure, coordinator) -> None:
    for position in measure.positions.filter(state="pending"):
        _answer(measure, position.body, coordinator)


def test_the_concluding_task_opens_once_when_the_last_body_answers(coordinator):
    [case] = _free_cases("support_measures", 1)
    measure = _measure(case, coordinator)
    assert _concluding(measure) == []
    _answer(measure, "Ministry", coordinator)
    _answer(measure, "Akimat", coordinator)
    assert _concluding(measure) == []  # the Fund has not answered
    # the last answer comes through the body's own inbox task
    [last] = tasks.open_tasks_for(measure.positions.get(body="Fund"))
    tasks.complete(last, user=coordinator, comment="Fund letter")
    [task] = _concluding(measure)
    data = tasks.task_data(task)
    assert (data["transition"], data["outcomes"], data["role"], data["assignee_id"]) == (
        "agree", ["agree"], "coordinator", None)
    assert data["title"] == "Conclude the coordination: every government body agreed"
    assert task.status == STATUS.NEW and task in tasks.inbox(coordinator)
    assert task not in tasks.inbox(ensure_user("auditor-support", "auditor"))
    tasks.follow_up(measure)  # e.g. a case resumed: the open task is reused
    assert _concluding(measure) == [task]


def test_the_concluding_task_is_due_with_the_coordination(coordinator):
    [case] = _free_cases("support_measures", 1)
    measure = _measure(case, coordinator, bodies=("Ministry", "Akimat"))
    asked = list(Deadline.objects.filter(task_id__in=[t.pk for p in measure.positions.all()
                                                      for t in tasks.open_tasks_for(p)]))
    _answer_all(measure, coordinator)
    [task] = _concluding(measure)
    [deadline] = Deadline.objects.filter(task_id=task.pk)
    sent = AuditEntry.objects.get(chain=case.ref, object_type=object_type(measure), object_id=str(measure.pk),
                                  transition="start_coordination")
    assert deadline.due_at == case.round.due_at("support_coordination", start=sent.created_at)
    assert len(asked) == 2 and {d.due_at for d in asked} == {deadline.due_at}  # the bodies' own due day
    assert (deadline.role, deadline.responsible_id, deadline.closed_at) == ("coordinator", None, None)
    assert deadline.label == tasks.task_data(task)["title"] and deadline.chain == case.ref
    tasks.complete(task, user=coordinator)
    deadline.refresh_from_db()
    assert deadline.closed_at is not None


def test_a_round_without_the_coordination_limit_gives_the_task_no_due_date(coordinator):
    [case] = _free_cases("support_measures", 1)
    days = {k: v for k, v in case.round.review_working_days.items() if k != "support_coordination"}
    type(case.round).objects.filter(pk=case.round_id).update(review_working_days=days)
    measure = _measure(Case.objects.get(pk=case.pk), coordinator, bodies=("Ministry",))
    _answer_all(measure, coordinator)
    [task] = _concluding(measure)
    assert not Deadline.objects.filter(task_id=task.pk).exists()


def _sheet_result(measure: SupportMeasure, after: int) -> dict:
    measure.refresh_from_db()
    case = measure.case
    [version] = DocumentVersion.objects.filter(document__owner_ref=case.ref,
                                               document__kind="support_coordination_sheet")
    assert version.sha256 == _stored_sha256(version)
    generated = AuditEntry.objects.get(chain=case.ref, transition="document_generated", object_id=str(version.pk))
    assert generated.data["sha256"] == version.sha256
    assert verify_chains([case.ref]).ok
    return {"state": measure.state, "entries": _new_entries(case.ref, after),
            "open": sorted(tasks.task_data(t)["transition"] for t in tasks.open_tasks_for(measure))}


@pytest.mark.parametrize("path", TASK_PATHS)
def test_completing_the_concluding_task_from_the_inbox_is_the_stage_apis_step(path, coordinator):
    through_task, through_api = (_measure(c, coordinator) for c in _free_cases("support_measures", 2))
    for measure in (through_task, through_api):
        _answer_all(measure, coordinator)
    starts = [_last_seq(m.case.ref) for m in (through_task, through_api)]
    [task] = _concluding(through_task)
    [other] = _concluding(through_api)
    assert complete_via(path, task, coordinator, comment="Every body agreed.") == (200, "")
    assert transition_via_api(through_api, "agree", coordinator, "support-measures") == (200, "")
    result = _sheet_result(through_task, starts[0])
    assert result == _sheet_result(through_api, starts[1])
    assert result["state"] == "in_force" and result["open"] == []
    assert [e for e in result["entries"] if e[0] == "support.supportmeasure"] == [
        ("support.supportmeasure", "agree"), ("support.supportmeasure", "put_in_force")]
    for done in (task, other):  # the stage API completed its measure's task too: one path
        done.refresh_from_db()
        assert (done.status, done.data["outcome"], done.data["completed_by"]) == (STATUS.DONE, "agree", coordinator.pk)
    agreed = AuditEntry.objects.get(chain=through_task.case.ref, object_type="support.supportmeasure",
                                    transition="agree")
    assert agreed.comment == "Every body agreed." and agreed.actor_id == coordinator.pk


def test_an_objection_opens_the_decline_task_only_after_every_body_answered(coordinator):
    [case] = _free_cases("support_measures", 1)
    measure = _measure(case, coordinator, bodies=("Ministry", "Akimat"))
    _answer(measure, "Ministry", coordinator, agrees=False)
    assert _concluding(measure) == []  # the Akimat has not answered
    _answer(measure, "Akimat", coordinator)
    [task] = _concluding(measure)
    assert tasks.outcomes_of(task) == ["decline"]
    assert tasks.task_data(task)["title"] == "Conclude the coordination: a government body objected"
    start = _last_seq(case.ref)
    assert complete_via("portal", task, coordinator, comment="The Ministry objected.") == (200, "")
    result = _sheet_result(measure, start)
    assert result["state"] == "declined" and result["open"] == []
    assert [e for e in result["entries"] if e[0] == "support.supportmeasure"] == [("support.supportmeasure", "decline")]
    task.refresh_from_db()
    assert task.status == STATUS.DONE and task.data["outcome"] == "decline"


@pytest.mark.parametrize("path", TASK_PATHS)
def test_the_outcome_the_positions_do_not_allow_is_refused_and_nothing_changes(path, coordinator, media_root):
    [case] = _free_cases("support_measures", 1)
    measure = _measure(case, coordinator, bodies=("Ministry",))
    _answer_all(measure, coordinator)
    [task] = _concluding(measure)
    before = _snapshot(case, measure, task, media_root)
    status, message = complete_via(path, task, coordinator, transition="decline")
    assert status == 400 and "is completed by “agree”, not by “decline”" in html.unescape(message)  # portal: a page
    assert _snapshot(case, measure, task, media_root) == before
    status, message = transition_via_api(measure, "decline", coordinator, "support-measures")
    assert status == 400 and "a government body must have objected" in message
    assert _snapshot(case, measure, task, media_root) == before
    status, _message = complete_via(path, task, ensure_user("auditor-support", "auditor"))
    assert status in (403, 404)
    assert _snapshot(case, measure, task, media_root) == before


def test_declining_before_every_body_answered_leaves_no_concluding_task(coordinator):
    [case] = _free_cases("support_measures", 1)
    measure = _measure(case, coordinator, bodies=("Ministry", "Akimat"))
    _answer(measure, "Ministry", coordinator, agrees=False)
    assert transition_via_api(measure, "decline", coordinator, "support-measures") == (200, "")
    _answer(measure, "Akimat", coordinator)  # a late letter
    measure.refresh_from_db()
    assert measure.state == "declined" and _concluding(measure) == []


def test_a_suspended_case_cancels_the_concluding_task_and_resuming_reopens_it_once(coordinator):
    [case] = _free_cases("support_measures", 1)
    measure = _measure(case, coordinator, bodies=("Ministry",))
    _answer_all(measure, coordinator)
    [task] = _concluding(measure)
    case.refresh_from_db()
    perform(case, "suspend", actor=coordinator, comment="members in dispute")
    task.refresh_from_db()
    assert task.status == STATUS.CANCELED and _concluding(measure) == []
    perform(case, "resume", actor=coordinator, comment="dispute settled")
    [reopened] = _concluding(measure)
    assert reopened.pk != task.pk and tasks.outcomes_of(reopened) == ["agree"]
    assert complete_via("api", reopened, coordinator) == (200, "")
    measure.refresh_from_db()
    assert measure.state == "in_force"


# -- the last answers at the same moment (PostgreSQL) ------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bodies_answering_at_the_same_moment_open_the_concluding_task_exactly_once(tmp_path):
    """Under READ COMMITTED each answer's transaction could miss the other's uncommitted answer
    and open no task; the case's audit chain head lock (taken by ``perform`` before
    ``after_transition``) orders them, so the last to commit sees every answer and opens it."""
    from django.db import connection

    from tests.concurrency.test_races import CI_REQUIRES_POSTGRES, Racer, _import_round
    from workflow import permissions as roles

    if connection.vendor != "postgresql" and not CI_REQUIRES_POSTGRES:
        pytest.skip(f"real concurrent answers need PostgreSQL; the database here is {connection.vendor}")
    rnd = _import_round(tmp_path, "RACE-SUP")
    coordinator = ensure_user("race-coordinator", roles.COORDINATOR)
    case = rnd.cases.get(number="A1")
    Case.objects.filter(pk=case.pk).update(state=Case.State.SUPPORT)
    racer = Racer(workers=4)
    try:
        for n, k in enumerate([2, 3, 4] * 4):
            measure = propose_measure(case=Case.objects.get(pk=case.pk), title=f"Race {n}", amount_kzt=Decimal(1),
                                      reimbursement_pct=Decimal(50), legal_basis="",
                                      bodies=[f"Body {i}" for i in range(k)], actor=coordinator)
            positions = list(measure.positions.order_by("pk").values_list("pk", flat=True))

            def load(i, positions=positions):
                from processes.support.models import BodyPosition

                return BodyPosition.objects.get(pk=positions[i])

            def act(i, position):
                return record_position(position=position, agrees=i != 0 or n % 2 == 0, comment="", actor=coordinator)

            outcomes = racer.race(k, act, load)
            assert all(o.won for o in outcomes), "\n".join(o.trace for o in outcomes)
            found = [tasks.task_data(t)["transition"] for t in _concluding(measure)]
            assert found == ["agree" if n % 2 == 0 else "decline"], f"race {n} ({k} bodies): {found}"
        assert verify_chains([case.ref]).ok
    finally:
        racer.close()
