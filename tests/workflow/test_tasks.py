"""Human tasks (``workflow.tasks``): open, claim, assign, unassign, complete, close, inbox."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes.cycle import expert_scores
from processes.rounds.actors import ensure_user
from processes.rounds.importer import import_round
from processes.selection.models import ScoreSheet
from processes.selection.services import open_scoring, submit_score_sheet
from processes.submission.models import Application
from processes.submission.services import (
    check_completeness,
    resubmit_application,
    submit_application,
)
from workflow import tasks
from workflow.exceptions import (
    ConditionUnmet,
    StaleObject,
    TransitionPermissionDenied,
    UnknownTransition,
    WorkflowError,
)
from workflow.flows import HumanTaskFlow
from workflow.models import AuditEntry
from workflow.transitions import perform

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator(sample_round):
    return ensure_user("coordinator", "coordinator")


@pytest.fixture
def other_coordinator(sample_round):
    return ensure_user("coordinator-2", "coordinator")


@pytest.fixture
def expert(sample_round):
    return ensure_user("expert1", "expert")


@pytest.fixture
def fresh_round(round_file, coordinator):
    """A fresh round (code TC-K) open for applications, with draft applications."""
    rnd = import_round(round_file(lambda doc: doc["round"].update(code="TC-K"))).round
    perform(rnd, "open_applications", actor=coordinator)
    return rnd


@pytest.fixture
def submitted(fresh_round, coordinator):
    """Application A1 of TC-K, submitted: its completeness-check task is queued."""
    application = fresh_round.applications.get(ref="A1")
    submit_application(application=application, actor=coordinator)
    return application


def _task(obj, transition=None):
    found = list(tasks.open_tasks_for(obj, transition))
    assert len(found) == 1, found
    return found[0]


def _entries(obj):
    return AuditEntry.objects.filter(chain=obj.audit_chain).count()


# -- opening -----------------------------------------------------------------------------------

def test_submitting_an_application_queues_a_completeness_task_for_coordinators(submitted, coordinator, expert):
    task = _task(submitted)
    assert task.status == STATUS.NEW and task.owner is None
    assert task.process.artifact == submitted
    assert task.process.flow_class is HumanTaskFlow
    assert tasks.task_data(task) == {
        "transition": "accept", "outcomes": ["accept", "return_for_revision", "refuse"],
        "role": "coordinator", "assignee_id": None, "title": "Check completeness and eligibility"}
    assert task in tasks.inbox(coordinator)
    assert task not in tasks.inbox(expert)


def test_open_task_is_idempotent_and_validates_its_arguments(submitted, coordinator):
    task = _task(submitted)
    again = tasks.open_task(submitted, "accept", title="anything", role="coordinator")
    assert again.pk == task.pk
    person = tasks.open_task(submitted, "accept", title="personal", role="coordinator", assignee=coordinator)
    assert person.pk != task.pk and person.owner == coordinator and person.status == STATUS.ASSIGNED
    assert tasks.open_task(submitted, "accept", title="x", assignee=coordinator).pk == person.pk
    with pytest.raises(UnknownTransition):
        tasks.open_task(submitted, "approve", title="x", role="coordinator")
    with pytest.raises(ValueError):
        tasks.open_task(submitted, "accept", title="x")
    with pytest.raises(ValueError):
        tasks.open_task(submitted, "accept", title="x", role="janitor")


# -- claim, assign, unassign -------------------------------------------------------------------

def test_a_coordinator_claims_a_queued_task(submitted, coordinator):
    task = tasks.claim(_task(submitted), coordinator)
    assert task.status == STATUS.ASSIGNED and task.owner == coordinator and task.assigned is not None
    assert tasks.claim(task, coordinator) is task  # claiming one's own task again is a no-op
    assert task in tasks.inbox(coordinator)


def test_claim_without_the_role_is_refused_and_changes_nothing(submitted, expert):
    task = _task(submitted)
    with pytest.raises(TransitionPermissionDenied) as info:
        tasks.claim(task, expert)
    assert info.value.http_status == 403 and "requires the role coordinator" in info.value.message
    stored = Task.objects.get(pk=task.pk)
    assert (stored.status, stored.owner_id) == (STATUS.NEW, None)


def test_claiming_a_task_someone_else_holds_is_a_conflict(submitted, coordinator, other_coordinator):
    task = tasks.claim(_task(submitted), coordinator)
    stale = Task.objects.get(pk=task.pk)
    with pytest.raises(StaleObject) as info:
        tasks.claim(stale, other_coordinator)
    assert info.value.http_status == 409 and "already held by coordinator" in info.value.message
    assert Task.objects.get(pk=task.pk).owner == coordinator


def test_a_coordinator_assigns_and_the_holder_or_a_coordinator_unassigns(submitted, coordinator,
                                                                        other_coordinator, expert):
    task = _task(submitted)
    with pytest.raises(TransitionPermissionDenied):
        tasks.assign(task, expert, by=expert)
    tasks.assign(task, other_coordinator, by=coordinator)
    assert (task.status, task.owner) == (STATUS.ASSIGNED, other_coordinator)
    assert task in tasks.inbox(other_coordinator) and task not in tasks.inbox(coordinator)
    with pytest.raises(TransitionPermissionDenied):
        tasks.unassign(task, by=expert)
    tasks.unassign(task, by=other_coordinator)  # the holder
    assert (task.status, task.owner) == (STATUS.NEW, None)
    with pytest.raises(StaleObject):
        tasks.unassign(task, by=coordinator)  # nobody holds it
    tasks.assign(task, other_coordinator, by=coordinator)
    tasks.assign(task, coordinator, by=coordinator)  # reassign
    assert task.owner == coordinator
    tasks.unassign(task, by=coordinator)
    assert task.status == STATUS.NEW


def test_a_task_without_a_role_cannot_be_returned_to_a_queue(submitted, coordinator):
    task = tasks.open_task(submitted, "accept", title="personal", assignee=coordinator)
    with pytest.raises(WorkflowError) as info:
        tasks.unassign(task, by=coordinator)
    assert info.value.http_status == 400
    assert Task.objects.get(pk=task.pk).owner == coordinator


# -- complete ----------------------------------------------------------------------------------

def test_complete_takes_the_transition_and_finishes_the_process(submitted, coordinator):
    task = _task(submitted)
    before = _entries(submitted)
    application = tasks.complete(task, user=coordinator, comment="All there.")
    assert application.state == "accepted"
    assert Application.objects.get(pk=submitted.pk).state == "accepted"
    # one accept, then its consequences (processes.submission.services.completeness_decided)
    new = list(AuditEntry.objects.filter(chain=submitted.audit_chain).order_by("seq")[before:])
    assert [e.transition for e in new] == ["accept", "document_generated", "advance_to_selection"]
    entry = new[0]
    assert (entry.transition, entry.actor, entry.comment) == ("accept", coordinator, "All there.")
    assert task.status == STATUS.DONE and task.owner == coordinator and task.finished is not None
    assert task.data["outcome"] == "accept"
    assert task.process.status == PROCESS.DONE and task.process.finished is not None
    assert list(tasks.open_tasks_for(submitted)) == []
    assert task not in tasks.inbox(coordinator)


def test_completing_a_task_already_completed_is_a_conflict(submitted, coordinator):
    task = _task(submitted)
    stale = Task.objects.get(pk=task.pk)
    tasks.complete(task, user=coordinator)
    before = _entries(submitted)
    with pytest.raises(StaleObject) as info:
        tasks.complete(stale, user=coordinator)
    assert info.value.http_status == 409 and "was already completed by coordinator at" in info.value.message
    assert "(“accept”)" in info.value.message  # the outcome by its label, not its code
    assert _entries(submitted) == before


def test_complete_with_another_outcome_of_the_task(submitted, coordinator):
    task = _task(submitted)
    tasks.complete(task, user=coordinator, transition="return_for_revision", comment="Add the letter.")
    submitted.refresh_from_db()
    assert submitted.state == "returned_for_revision" and task.data["outcome"] == "return_for_revision"
    with pytest.raises(UnknownTransition):
        tasks.complete(tasks.open_task(submitted, "resubmit", title="t", role="applicant"),
                       user=coordinator, transition="withdraw")


def test_a_failing_completion_leaves_task_and_object_unchanged(submitted, coordinator, expert, other_coordinator):
    task = _task(submitted)
    before = _entries(submitted)
    with pytest.raises(ConditionUnmet):  # a refusal needs data.reason
        tasks.complete(task, user=coordinator, transition="refuse")
    stored = Task.objects.get(pk=task.pk)
    assert (stored.status, stored.owner_id, task.status) == (STATUS.NEW, None, STATUS.NEW)
    assert Application.objects.get(pk=submitted.pk).state == "submitted" and _entries(submitted) == before
    with pytest.raises(TransitionPermissionDenied):  # an expert may not claim it
        tasks.complete(task, user=expert)
    tasks.claim(task, other_coordinator)
    with pytest.raises(StaleObject):  # held by someone else
        tasks.complete(task, user=coordinator)
    assert Task.objects.get(pk=task.pk).status == STATUS.ASSIGNED
    assert Application.objects.get(pk=submitted.pk).state == "submitted"


# -- the FSM state is the single source of truth -----------------------------------------------

@pytest.mark.parametrize("transition, data", [("accept", None), ("return_for_revision", None),
                                              ("refuse", {"reason": "incomplete"})])
def test_a_transition_taken_outside_the_task_closes_it(submitted, coordinator, transition, data):
    task = _task(submitted)
    perform(submitted, transition, actor=coordinator, data=data)
    task.refresh_from_db()
    task.process.refresh_from_db()
    assert task.status == STATUS.CANCELED and task.finished is not None
    assert task.data["closed"] == {"by": transition, "actor_id": coordinator.pk, "state": submitted.state}
    assert task.process.status == PROCESS.CANCELED
    assert task not in tasks.inbox(coordinator)


def test_a_transition_that_makes_the_task_impossible_closes_it(submitted):
    applicant = ensure_user("applicant-k1", "applicant")
    type(submitted.case).objects.filter(pk=submitted.case.pk).update(applicant=applicant)
    submitted.case.refresh_from_db()
    task = _task(submitted)
    perform(submitted, "withdraw", actor=applicant)
    assert Task.objects.get(pk=task.pk).status == STATUS.CANCELED


def test_resubmission_opens_a_new_check_and_services_complete_it(submitted, coordinator):
    first = _task(submitted)
    type(submitted).objects.filter(pk=submitted.pk).update(region="")
    submitted.refresh_from_db()
    check_completeness(application=submitted, actor=coordinator)  # incomplete: returned
    assert submitted.state == "returned_for_revision"
    first.refresh_from_db()
    assert first.status == STATUS.DONE and first.data["outcome"] == "return_for_revision"
    type(submitted).objects.filter(pk=submitted.pk).update(region="Karaganda")
    submitted.refresh_from_db()
    applicant = ensure_user("applicant-k1", "applicant")
    type(submitted.case).objects.filter(pk=submitted.case.pk).update(applicant=applicant)
    submitted.case.refresh_from_db()
    resubmit_application(application=submitted, actor=applicant)
    second = _task(submitted)
    assert second.pk != first.pk and second.status == STATUS.NEW
    check_completeness(application=submitted, actor=coordinator)
    second.refresh_from_db()
    assert submitted.state == "accepted" and second.status == STATUS.DONE and second.owner == coordinator


def test_scoring_tasks_go_to_each_expert_and_submitting_the_sheet_completes_them(submitted, coordinator):
    experts = [ensure_user("expert1", "expert"), ensure_user("expert2", "expert")]
    check_completeness(application=submitted, actor=coordinator)
    open_scoring(application=submitted, experts=experts)
    open_scoring(application=submitted, experts=experts)  # idempotent
    sheets = list(ScoreSheet.objects.filter(application=submitted).order_by("expert__username"))
    for number, (sheet, expert) in enumerate(zip(sheets, experts), 1):
        task = _task(sheet)
        assert task.owner == expert and task.status == STATUS.ASSIGNED
        assert tasks.task_data(task)["transition"] == "submit" and tasks.task_data(task)["role"] == "expert"
        assert tasks.outcomes_of(task) == ["submit", "declare_conflict"]
        assert task in tasks.inbox(expert)
        other = experts[2 - number]
        assert task not in tasks.inbox(other)
        scores = expert_scores(submitted, list(submitted.round.criteria.all()), number)
        submit_score_sheet(sheet=sheet, scores=scores, actor=expert)
        task.refresh_from_db()
        assert sheet.state == "submitted" and task.status == STATUS.DONE
        assert AuditEntry.objects.filter(object_type="selection.scoresheet", object_id=str(sheet.pk),
                                         transition="submit", actor=expert).exists()


def test_a_declared_conflict_ends_the_scoring_task(submitted, coordinator):
    experts = [ensure_user("expert1", "expert"), ensure_user("expert2", "expert")]
    check_completeness(application=submitted, actor=coordinator)
    open_scoring(application=submitted, experts=experts)
    first, second = (ScoreSheet.objects.get(application=submitted, expert=e) for e in experts)
    through_task = _task(first)
    tasks.complete(through_task, user=experts[0], transition="declare_conflict", comment="I advise this cluster.")
    through_task.refresh_from_db()
    assert through_task.status == STATUS.DONE and through_task.data["outcome"] == "declare_conflict"
    outside = _task(second)
    perform(second, "declare_conflict", actor=experts[1], comment="Related party.")
    outside.refresh_from_db()
    assert outside.status == STATUS.CANCELED and outside.data["closed"]["state"] == "recused"
    assert list(tasks.inbox(experts[0])) == list(tasks.inbox(experts[1])) == []


# -- inbox -------------------------------------------------------------------------------------

def test_the_inbox_lists_newest_first_without_a_query_per_task(fresh_round, coordinator):
    for application in fresh_round.applications.filter(state="draft")[:2]:
        submit_application(application=application, actor=coordinator)

    def load():
        with CaptureQueriesContext(connection) as queries:
            rows = [(t.pk, str(t.process.artifact), t.process.artifact.case.ref)
                    for t in tasks.inbox(coordinator, artifact_querysets=[
                        Application.objects.select_related("case")])]
        return rows, len(queries)

    few, few_queries = load()
    for application in fresh_round.applications.filter(state="draft"):
        submit_application(application=application, actor=coordinator)
    many, many_queries = load()
    assert len(many) > len(few) >= 2
    assert many_queries == few_queries
    assert [pk for pk, _, _ in many] == sorted((pk for pk, _, _ in many), reverse=True)


def test_the_inbox_of_an_anonymous_user_is_empty(submitted):
    from django.contrib.auth.models import AnonymousUser

    assert list(tasks.inbox(AnonymousUser())) == []


# -- the sample cycle --------------------------------------------------------------------------

def test_the_sample_cycle_completes_its_tasks_and_leaves_none_open(sample_round):
    from django.contrib.auth import get_user_model

    applications = list(sample_round.applications.all())
    sheets = list(ScoreSheet.objects.filter(application__round=sample_round))
    assert sheets
    for application in applications:
        done = [t for t in tasks._of_object(tasks._act_tasks(), application) if t.status == STATUS.DONE]
        assert len(done) == 1 and done[0].owner.username == "coordinator"
        assert done[0].data["outcome"] in ("accept", "refuse", "return_for_revision")
    for sheet in sheets:
        (done,) = tasks._of_object(tasks._act_tasks(), sheet)
        assert (done.status, done.owner_id, done.data["outcome"]) == (STATUS.DONE, sheet.expert_id, "submit")
        assert done.process.status == PROCESS.DONE
    from processes.implementation.models import Implementation

    for user in get_user_model().objects.all():
        left = list(tasks.inbox(user))
        # Only the next quarter's report of each implementation remains, in the coordinators' queue.
        assert all(isinstance(t.process.artifact, Implementation) for t in left), (user, left)
        assert all(tasks.task_data(t)["transition"] == "start_reporting" for t in left)
    coordinator = get_user_model().objects.get(username="coordinator")
    assert {t.process.artifact.case.number for t in tasks.inbox(coordinator)} == {"A1", "A4", "A5", "A7"}


def test_each_stage_step_opens_the_next_queued_task(sample_round):
    from processes.diagnosis.models import Diagnosis

    coordinator = get_user_model().objects.get(username="coordinator")
    diagnosis = Diagnosis.objects.create(case=sample_round.cases.get(number="A2"))
    (first,) = tasks.follow_up(diagnosis)
    assert tasks.task_data(first)["transition"] == "start_fieldwork" and first.owner_id is None
    tasks.complete(first, user=coordinator)
    diagnosis.refresh_from_db()
    (second,) = tasks.open_tasks_for(diagnosis)
    assert diagnosis.state == "fieldwork" and tasks.task_data(second)["transition"] == "draft_report"


def test_a_model_without_human_tasks_cannot_get_one_and_costs_no_lookup(sample_round, django_assert_num_queries):
    case = sample_round.cases.get(number="A1")
    with pytest.raises(ValueError, match="does not declare human_tasks"):
        tasks.open_task(case, "suspend", title="x", role="coordinator")
    with django_assert_num_queries(0):
        assert tasks.close_tasks_for(case, "suspend", actor=None) == []
