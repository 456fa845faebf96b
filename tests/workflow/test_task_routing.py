"""Completing a task takes its transition through the same stage service as the stage API
(``workflow.tasks``, "Routing"; docs/cycle.md, "Tasks and the stage services").

For each routed task (the plan's "Review the plan and send it for signing", the diagnosis's
"Assess the six areas and draft the report", the expert's "Score the application") completing it
with ``workflow.tasks.complete``, with the portal inbox's POST and with ``POST
/api/tasks/<id>/complete/`` gives what the stage API gives: the document version with its sha256
stored, the approval with the round's signatories, the audit entries, an intact chain. When the
input the service needs is missing the completion is refused with a 400 that says where to enter
it, and nothing changes (object, task, documents, files, audit). Finally every task the code
opens is walked: a transition whose service has side effects must be routed.
"""

from __future__ import annotations

import ast
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.test import Client
from rest_framework.test import APIClient
from viewflow.workflow.status import STATUS

from documents.models import Document, DocumentVersion
from processes.diagnosis.models import Diagnosis, DiagnosisArea
from processes.planning.models import Plan, PlanAction
from processes.rounds.actors import ensure_user
from processes.rounds.models import Case
from workflow import tasks
from workflow.approvals.models import Approval
from workflow.audit import verify_chains
from workflow.exceptions import ConditionUnmet, WorkflowError
from workflow.models import AuditEntry
from workflow.transitions import perform

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
#: The ways a task is completed (and ``stage_api``: the stage object's transition endpoint).
TASK_PATHS = ("tasks.complete", "portal", "api")


# -- helpers -----------------------------------------------------------------------------------

@pytest.fixture
def coordinator(sample_round):
    return ensure_user("coordinator", "coordinator")


def _free_cases(relation: str, count: int) -> list[Case]:
    """``count`` cases of the sample round without the stage object ``relation``."""
    found = list(Case.objects.filter(**{f"{relation}__isnull": True}).select_related("round").order_by("number")[:count])
    assert len(found) == count, f"the sample has fewer than {count} cases without a {relation}"
    return found


def _files(media_root: Path) -> set[str]:
    return {str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file()}


def _open_task(obj, transition: str):
    found = list(tasks.open_tasks_for(obj, transition))
    assert len(found) == 1, found
    return found[0]


def complete_via(path: str, task, user, *, transition: str | None = None, comment: str = "") -> tuple[int, str]:
    """Complete ``task`` as ``user`` along ``path``; ``(HTTP status, message)`` (200 and "" when done)."""
    if path == "tasks.complete":
        try:
            tasks.complete(task, user=user, transition=transition, comment=comment)
        except WorkflowError as exc:
            return exc.http_status, exc.message
        return 200, ""
    body = {"comment": comment, **({"transition": transition} if transition else {})}
    if path == "portal":
        client = Client()
        client.force_login(user)
        response = client.post(f"/inbox/tasks/{task.pk}/complete/", body)
        if response.status_code == 302:
            return 200, ""
        return response.status_code, response.content.decode()
    client = APIClient()
    client.force_login(user)
    response = client.post(f"/api/tasks/{task.pk}/complete/", body, format="json")
    if response.status_code == 200:
        return 200, ""
    return response.status_code, response.json()["message"]


def transition_via_api(obj, name: str, user, api_base: str) -> tuple[int, str]:
    """``POST /api/<api_base>/<id>/transitions/<name>/`` as ``user``: ``(status, message)``."""
    client = APIClient()
    client.force_login(user)
    response = client.post(f"/api/{api_base}/{obj.pk}/transitions/{name}/", {}, format="json")
    return response.status_code, "" if response.status_code == 200 else response.json()["message"]


def _stored_sha256(version: DocumentVersion) -> str:
    with default_storage.open(version.storage_key, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _new_entries(chain: str, after: int) -> list[tuple[str, str]]:
    return list(AuditEntry.objects.filter(chain=chain, seq__gt=after).order_by("seq")
                .values_list("object_type", "transition"))


def _last_seq(chain: str) -> int:
    entry = AuditEntry.objects.filter(chain=chain).order_by("-seq").first()
    return entry.seq if entry else 0


def _snapshot(case: Case, obj, task, media_root: Path) -> dict:
    """What a refused completion must leave as it was."""
    obj.refresh_from_db()
    task.refresh_from_db()
    return {"state": obj.state, "audit": _last_seq(case.ref), "task": (task.status, task.owner_id),
            "documents": DocumentVersion.objects.filter(document__owner_ref=case.ref).count(),
            "files": _files(media_root), "approvals": Approval.objects.filter(chain=case.ref).count()}


# -- the plan: "Review the plan and send it for signing" ---------------------------------------

def _plan_in_review(case: Case, coordinator) -> Plan:
    Case.objects.filter(pk=case.pk).update(state=Case.State.PLANNING)
    plan = Plan.objects.create(case=case, vision="Vision", governance="Governance")
    PlanAction.objects.create(plan=plan, position=1, measure="Cluster organisation", responsible="Body",
                              deadline="2018-06-30", budget_kzt=Decimal("15000000"), kpi="Members",
                              kpi_target=Decimal("45"), kpi_unit="firms")
    tasks.follow_up(plan)
    tasks.complete(_open_task(plan, "submit_for_review"), user=coordinator)
    plan.refresh_from_db()
    assert plan.state == "review"
    return plan


def _signing_result(plan: Plan, after: int) -> dict:
    """The consequences of sending ``plan`` for signing, with what each must equal checked."""
    plan.refresh_from_db()
    case = plan.case
    [document] = Document.objects.filter(owner_ref=case.ref, kind="development_plan")
    [version] = document.versions.all()
    assert version.sha256 == _stored_sha256(version)  # the stored file is the one whose hash is recorded
    sent = AuditEntry.objects.get(chain=case.ref, object_type="planning.plan", transition="send_for_signing")
    assert sent.data == {"version": version.number, "sha256": version.sha256}
    generated = AuditEntry.objects.get(chain=case.ref, transition="document_generated", object_id=str(version.pk))
    assert generated.data["sha256"] == version.sha256
    approval = plan.current_approval
    assert (approval.subject_id, approval.subject_sha256, approval.subject_version) == (
        version.pk, version.sha256, version.number)
    positions = list(case.round.signatories.order_by("position").values_list("user__username", flat=True))
    decisions = list(approval.decisions.order_by("position").select_related("signatory"))
    assert [d.signatory.username for d in decisions] == positions and positions
    asked = [tasks.task_data(_open_task(d, "approve")) for d in decisions]
    assert [a["assignee_id"] for a in asked] == [d.signatory_id for d in decisions]
    requested = AuditEntry.objects.get(chain=case.ref, transition="approval_requested")
    assert requested.data["signatories"] == positions and requested.data["sha256"] == version.sha256
    assert verify_chains([case.ref]).ok
    return {"state": plan.state, "approval": (approval.state, approval.policy, len(decisions)),
            "entries": _new_entries(case.ref, after)}


@pytest.mark.parametrize("path", TASK_PATHS)
def test_sending_the_plan_for_signing_from_the_inbox_is_the_stage_apis_step(path, coordinator):
    through_task, through_api = (_plan_in_review(c, coordinator) for c in _free_cases("plan", 2))
    starts = [_last_seq(p.case.ref) for p in (through_task, through_api)]
    task = _open_task(through_task, "send_for_signing")
    assert complete_via(path, task, coordinator, comment="Reviewed.") == (200, "")
    assert transition_via_api(through_api, "send_for_signing", coordinator, "plans") == (200, "")
    result = _signing_result(through_task, starts[0])
    assert result == _signing_result(through_api, starts[1])
    assert result["state"] == "signing" and result["approval"][0] == "open"
    task.refresh_from_db()
    assert (task.status, task.data["outcome"], task.data["completed_by"]) == (
        STATUS.DONE, "send_for_signing", coordinator.pk)
    sent = AuditEntry.objects.get(chain=through_task.case.ref, transition="send_for_signing")
    assert sent.comment == "Reviewed." and sent.actor_id == coordinator.pk
    # the stage API completed the other plan's task too: one path
    [other] = [t for t in tasks._of_object(tasks._act_tasks(), through_api)
               if tasks.task_data(t)["transition"] == "send_for_signing"]
    assert other.status == STATUS.DONE and other.data["outcome"] == "send_for_signing"


@pytest.mark.parametrize("path", TASK_PATHS)
def test_a_plan_whose_signatory_has_no_user_is_refused_and_nothing_changes(path, coordinator, media_root):
    [case] = _free_cases("plan", 1)
    plan = _plan_in_review(case, coordinator)
    position = case.round.signatories.order_by("position").first()
    case.round.signatories.filter(pk=position.pk).update(user=None)
    task = _open_task(plan, "send_for_signing")
    before = _snapshot(case, plan, task, media_root)
    status, message = complete_via(path, task, coordinator)
    assert status == 400 and "signatory positions without a user" in message and position.role in message
    assert _snapshot(case, plan, task, media_root) == before
    assert transition_via_api(plan, "send_for_signing", coordinator, "plans")[0] == 400
    assert _snapshot(case, plan, task, media_root) == before


def test_sending_for_signing_outside_review_or_by_another_role_changes_nothing(coordinator, media_root):
    [case] = _free_cases("plan", 1)
    plan = _plan_in_review(case, coordinator)
    task = _open_task(plan, "send_for_signing")
    auditor = ensure_user("auditor-routing", "auditor")
    before = _snapshot(case, plan, task, media_root)
    assert transition_via_api(plan, "send_for_signing", auditor, "plans")[0] in (403, 404)
    with pytest.raises(WorkflowError) as refused:
        tasks.take(plan, "send_for_signing", actor=auditor)
    assert refused.value.http_status == 403
    assert _snapshot(case, plan, task, media_root) == before
    perform(plan, "request_revision", actor=coordinator, comment="More detail.")
    with pytest.raises(WorkflowError) as wrong_state:
        tasks.take(plan, "send_for_signing", actor=coordinator)
    assert wrong_state.value.http_status == 409
    assert not Document.objects.filter(owner_ref=case.ref, kind="development_plan").exists()


# -- the diagnosis: "Assess the six areas and draft the report" --------------------------------

def _diagnosis_in_fieldwork(case: Case, coordinator) -> Diagnosis:
    Case.objects.filter(pk=case.pk).update(state=Case.State.DIAGNOSIS)
    diagnosis = Diagnosis.objects.create(case=case, assessors="KIID")
    tasks.follow_up(diagnosis)
    tasks.complete(_open_task(diagnosis, "start_fieldwork"), user=coordinator)
    diagnosis.refresh_from_db()
    assert diagnosis.state == "fieldwork"
    return diagnosis


def _areas(case: Case) -> list[tuple[str, Decimal, str]]:
    return [(name, Decimal(60 + i), f"finding {i}") for i, name in enumerate(case.round.diagnosis_areas, 1)]


def _report_result(diagnosis: Diagnosis, after: int) -> dict:
    diagnosis.refresh_from_db()
    case = diagnosis.case
    [version] = DocumentVersion.objects.filter(document__owner_ref=case.ref, document__kind="diagnosis_report")
    assert version.sha256 == _stored_sha256(version)
    generated = AuditEntry.objects.get(chain=case.ref, transition="document_generated", object_id=str(version.pk))
    assert generated.data["sha256"] == version.sha256
    values = [a.score_pct for a in diagnosis.areas.all()]
    assert diagnosis.overall_pct == sum(values) / len(values)
    assert verify_chains([case.ref]).ok
    return {"state": diagnosis.state, "overall_pct": diagnosis.overall_pct, "areas": len(values),
            "entries": _new_entries(case.ref, after)}


@pytest.mark.parametrize("path", TASK_PATHS)
def test_drafting_the_report_from_the_inbox_uses_the_recorded_areas(path, coordinator):
    through_task, through_api = (_diagnosis_in_fieldwork(c, coordinator) for c in _free_cases("diagnosis", 2))
    starts = []
    for diagnosis in (through_task, through_api):
        for position, (area, pct, finding) in enumerate(_areas(diagnosis.case), 1):  # e.g. imported
            DiagnosisArea.objects.create(diagnosis=diagnosis, position=position, area=area, score_pct=pct,
                                         finding=finding)
        starts.append(_last_seq(diagnosis.case.ref))
    task = _open_task(through_task, "draft_report")
    assert complete_via(path, task, coordinator, comment="Drafted.") == (200, "")
    assert transition_via_api(through_api, "draft_report", coordinator, "diagnoses") == (200, "")
    result = _report_result(through_task, starts[0])
    assert result == _report_result(through_api, starts[1])
    assert result["state"] == "draft_report" and result["areas"] == len(through_task.case.round.diagnosis_areas)
    task.refresh_from_db()
    assert task.status == STATUS.DONE and task.data["outcome"] == "draft_report"
    drafted = AuditEntry.objects.get(chain=through_task.case.ref, transition="draft_report")
    assert drafted.comment == "Drafted." and drafted.actor_id == coordinator.pk


@pytest.mark.parametrize("path", TASK_PATHS)
def test_drafting_the_report_without_the_assessment_is_refused_with_where_to_enter_it(path, coordinator,
                                                                                      media_root):
    [case] = _free_cases("diagnosis", 1)
    diagnosis = _diagnosis_in_fieldwork(case, coordinator)
    first = _areas(case)[0]
    DiagnosisArea.objects.create(diagnosis=diagnosis, position=1, area=first[0], score_pct=first[1])
    task = _open_task(diagnosis, "draft_report")
    before = _snapshot(case, diagnosis, task, media_root)
    status, message = complete_via(path, task, coordinator)
    assert status == 400
    assert f"/cases/{case.pk}/diagnosis/" in message and "/api/" not in message  # people read it (h5 finding 11)
    missing = case.round.diagnosis_areas[1]
    assert missing in message and first[0] not in message.split("missing:")[1].split(")")[0]
    assert _snapshot(case, diagnosis, task, media_root) == before
    assert list(diagnosis.areas.values_list("area", flat=True)) == [first[0]]


def test_the_refusal_is_a_condition_unmet_in_every_language_path(coordinator):
    [case] = _free_cases("diagnosis", 1)
    diagnosis = _diagnosis_in_fieldwork(case, coordinator)
    with pytest.raises(ConditionUnmet) as refused:
        tasks.take(diagnosis, "draft_report", actor=coordinator)
    assert f"/cases/{case.pk}/diagnosis/" in refused.value.reason
    client = APIClient()
    client.force_login(coordinator)
    answer = client.post(f"/api/diagnoses/{diagnosis.pk}/transitions/draft_report/", {}, format="json")
    assert answer.status_code == 400 and answer.json()["code"] == "condition_unmet"
    assert f"/cases/{case.pk}/diagnosis/" in answer.json()["message"] and "/api/" not in answer.json()["message"]
    # the assessment over the API then drafts the report and completes the same task
    task = _open_task(diagnosis, "draft_report")
    body = {"areas": [{"area": a, "score_pct": str(p), "finding": f} for a, p, f in _areas(case)]}
    assert client.post(f"/api/diagnoses/{diagnosis.pk}/assessment/", body, format="json").status_code == 200
    task.refresh_from_db()
    assert task.status == STATUS.DONE and task.data["completed_by"] == coordinator.pk


# -- the expert's sheet: "Score the application" -----------------------------------------------

@pytest.fixture
def scoring(round_file, coordinator):
    """Round TC-RT: A1 accepted and in scoring, two experts with a draft sheet and a task each."""
    from processes.rounds.importer import import_round
    from processes.selection.models import ScoreSheet
    from processes.selection.services import open_scoring
    from processes.submission.services import check_completeness, submit_application

    rnd = import_round(round_file(lambda doc: doc["round"].update(code="TC-RT"))).round
    perform(rnd, "open_applications", actor=coordinator)
    application = rnd.applications.get(ref="A1")
    submit_application(application=application, actor=coordinator)
    check_completeness(application=application, actor=coordinator)
    experts = [ensure_user("expert1", "expert"), ensure_user("expert2", "expert")]
    open_scoring(application=application, experts=experts)
    return [ScoreSheet.objects.get(application=application, expert=e) for e in experts]


def _scores(sheet) -> dict:
    return {c.code: (min(10, 3 + i), f"comment {i}") for i, c in enumerate(sheet.application.round.criteria.all())}


def _sheet_result(sheet, after: int) -> dict:
    sheet.refresh_from_db()
    case = sheet.application.case
    [version] = DocumentVersion.objects.filter(document__owner_ref=case.ref, document__kind="score_sheet",
                                               document__key=sheet.expert.username)
    assert version.sha256 == _stored_sha256(version)
    submitted = AuditEntry.objects.get(chain=case.ref, object_type="selection.scoresheet", object_id=str(sheet.pk),
                                       transition="submit")
    assert submitted.data["scores"] == {code: value for code, (value, _c) in _scores(sheet).items()}
    assert verify_chains([case.ref]).ok
    return {"state": sheet.state, "total": sheet.total, "entries": [
        e for e in _new_entries(case.ref, after) if e[0] != "selection.scoresheet" or e[1] != "scores_saved"]}


@pytest.mark.parametrize("path", TASK_PATHS)
def test_submitting_saved_scores_from_the_inbox_renders_the_score_sheet(path, scoring):
    from processes.selection.services import save_draft_scores, submit_score_sheet

    through_task, through_service = scoring
    ref = through_task.application.case.ref
    save_draft_scores(sheet=through_task, scores=_scores(through_task), actor=through_task.expert)
    start = _last_seq(ref)
    task = _open_task(through_task, "submit")
    assert complete_via(path, task, through_task.expert) == (200, "")
    mine = _sheet_result(through_task, start)
    start = _last_seq(ref)
    submit_score_sheet(sheet=through_service, scores=_scores(through_service), actor=through_service.expert)
    theirs = _sheet_result(through_service, start)
    assert mine == theirs and mine["state"] == "submitted"
    task.refresh_from_db()
    assert task.status == STATUS.DONE and task.data["outcome"] == "submit"


@pytest.mark.parametrize("path", TASK_PATHS)
def test_submitting_an_incomplete_sheet_from_the_inbox_is_refused(path, scoring, media_root):
    from processes.selection.services import save_draft_scores

    sheet = scoring[0]
    case = sheet.application.case
    partial = dict(list(_scores(sheet).items())[:1])
    save_draft_scores(sheet=sheet, scores=partial, actor=sheet.expert)
    task = _open_task(sheet, "submit")
    before = _snapshot(case, sheet, task, media_root)
    status, message = complete_via(path, task, sheet.expert)
    assert status == 400 and f"/expert/sheets/{sheet.pk}/" in message and "/api/" not in message
    assert _snapshot(case, sheet, task, media_root) == before
    assert sheet.scores.count() == 1


# -- the support measure: agree / decline conclude the coordination -----------------------------

def test_declining_over_the_api_while_a_body_has_not_answered_still_makes_the_sheet(coordinator):
    from processes.support.services import propose_measure, record_position

    [case] = _free_cases("support_measures", 1)
    Case.objects.filter(pk=case.pk).update(state=Case.State.SUPPORT)
    measure = propose_measure(case=case, title="Reimbursement", amount_kzt=Decimal("1000"),
                              reimbursement_pct=Decimal("50"), legal_basis="", bodies=["Ministry", "Akimat"],
                              actor=coordinator)
    record_position(position=measure.positions.get(body="Ministry"), agrees=False, comment="No budget.",
                    actor=coordinator)
    assert transition_via_api(measure, "agree", coordinator, "support-measures")[0] == 400
    assert not Document.objects.filter(owner_ref=case.ref, kind="support_coordination_sheet").exists()
    assert transition_via_api(measure, "decline", coordinator, "support-measures") == (200, "")
    measure.refresh_from_db()
    [version] = DocumentVersion.objects.filter(document__owner_ref=case.ref,
                                               document__kind="support_coordination_sheet")
    assert measure.state == "declined" and version.sha256 == _stored_sha256(version)
    assert verify_chains([case.ref]).ok


# -- every task is classified --------------------------------------------------------------------

#: Task transitions whose stage service has side effects (documents, approvals, notices): they
#: must be routed (``routed_transitions`` + ``take_task_transition``), to this service.
ROUTED = {
    ("diagnosis.diagnosis", "draft_report"): "processes.diagnosis.services.record_assessment",
    ("planning.plan", "send_for_signing"): "processes.planning.services.send_for_signing",
    ("selection.scoresheet", "submit"): "processes.selection.services.submit_score_sheet",
    ("approvals.decision", "approve"): "workflow.approvals.services.decide",
    ("approvals.decision", "reject"): "workflow.approvals.services.decide",
    # the concluding task, opened once every body has answered (SupportMeasure.task_ready)
    ("support.supportmeasure", "agree"): "processes.support.services.conclude_coordination",
    ("support.supportmeasure", "decline"): "processes.support.services.conclude_coordination",
}
#: Routed transitions that no task waits for today (the API, ``take`` and the admin's actions
#: still route them).
ROUTED_WITHOUT_TASK = {
    ("planning.plan", "approve"), ("planning.plan", "reject"),
}
#: Task transitions taken with ``perform`` alone, and why no side effect is lost.
PLAIN = {
    ("rounds.round", "start_scoring"): "no paperwork",
    ("rounds.round", "start_discussion"): "the ranking: Round.after_transition",
    ("rounds.round", "decide"): "the selection minutes: Round.after_transition",
    ("rounds.round", "publish"): "the decision notices: Round.after_transition",
    ("submission.application", "accept"): "receipt, case moves on: Application.after_transition",
    ("submission.application", "refuse"): "receipt, notice, case refused: Application.after_transition",
    ("submission.application", "return_for_revision"): "the revision deadline: Application.after_transition",
    ("selection.scoresheet", "declare_conflict"): "the note is the comment; no paperwork",
    ("selection.selection", "complete_scoring"): "the mean and divergences are computed by the transition",
    ("selection.selection", "discuss"): "no paperwork",
    ("selection.selection", "select"): "the commission's choice; the minutes come with Round.decide",
    ("selection.selection", "reject"): "the commission's choice, the comment is the reason",
    ("diagnosis.diagnosis", "start_fieldwork"): "no paperwork",
    ("diagnosis.diagnosis", "open_discussion"): "no paperwork",
    ("diagnosis.diagnosis", "approve"): "no paperwork",
    ("diagnosis.diagnosis", "return_to_draft"): "no paperwork",
    ("planning.plan", "submit_for_review"): "no paperwork (the plan's content is edited before)",
    ("planning.plan", "request_revision"): "the comment says what to change",
    ("planning.plan", "resubmit"): "no paperwork",
    ("planning.plan", "return_to_draft"): "no paperwork: the rejected version and its sheet stay; the next "
                                          "send_for_signing renders a new version",
    ("support.supportmeasure", "start_coordination"): "propose_measure creates the positions (input), then takes it",
    ("support.supportmeasure", "put_in_force"): "taken by conclude_coordination after the sheet; no paperwork",
    ("support.bodyposition", "agree"): "record_position is perform alone",
    ("support.bodyposition", "lodge_objection"): "record_position is perform alone",
    ("implementation.implementation", "start_reporting"): "the report is recorded afterwards (reporting state)",
    ("implementation.implementation", "complete"): "no paperwork",
    ("implementation.implementation", "accept_report"): "the monitoring report: Implementation.after_transition",
}
#: Tasks opened by services with ``open_task`` (not by a ``task_plan``): (file, first transition
#: argument) -> the model and its outcomes. A new call site fails the test until it is added here.
OPENED_BY_SERVICES = {
    ("processes/submission/services.py", "accept"): ("submission.application",
                                                     ("accept", "refuse", "return_for_revision")),
    ("processes/selection/services.py", "submit"): ("selection.scoresheet", ("submit", "declare_conflict")),
    ("workflow/approvals/services.py", "approve"): ("approvals.decision", ("approve", "reject")),
}


def _calls(tree, name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                yield node


def _literals(node) -> list[str]:
    """The string constants an argument can be (a constant, or either branch of ``a if c else b``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _sources():
    for path in sorted(list((REPO / "processes").rglob("*.py")) + list((REPO / "workflow").rglob("*.py"))):
        if "migrations" not in path.parts:
            yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def task_transitions() -> set[tuple[str, str]]:
    """``(model label, transition)`` of every outcome of every task the code can open."""
    found = set()
    for model in apps.get_models():
        if not getattr(model, "human_tasks", False):
            continue
        for rows in (getattr(model, "task_plan", None) or {}).values():
            for transition, _role, _title, *rest in rows:
                found.add((model._meta.label_lower, transition))
                found.update((model._meta.label_lower, t) for t in (rest[0] if rest else ()))
    for label, outcomes in OPENED_BY_SERVICES.values():
        found.update((label, t) for t in outcomes)
    return found


def test_every_open_task_call_site_is_known():
    sites = set()
    for name, tree in _sources():
        if name == "workflow/tasks.py":
            continue
        for call in _calls(tree, "open_task"):
            sites.update((name, t) for t in _literals(call.args[1]) if len(call.args) > 1)
    assert sites == set(OPENED_BY_SERVICES), "classify the new open_task call in OPENED_BY_SERVICES"


def test_every_task_transition_is_routed_to_its_service_or_known_to_need_none():
    known = task_transitions()
    unclassified = sorted(known - set(ROUTED) - set(PLAIN))
    assert not unclassified, f"classify these task transitions in ROUTED (with a service) or PLAIN: {unclassified}"
    assert not set(ROUTED) & set(PLAIN)
    assert set(ROUTED) <= known and set(PLAIN) <= known, "a classified transition is no task any more"
    for label, transition in list(ROUTED) + sorted(ROUTED_WITHOUT_TASK):
        assert _is_routed(label, transition), f"{label}.{transition} is not routed (take_task_transition)"
    for (label, transition), service in ROUTED.items():
        module, function = service.rsplit(".", 1)
        source = Path(REPO, *module.split(".")).with_suffix(".py").read_text(encoding="utf-8")
        assert f"def {function}(" in source, service


#: Side-effect calls: a service function that makes one of these and takes a task transition
#: must be the routed service of that transition (or the transition is known not to lose it).
SIDE_EFFECTS = {"generate", "generate_document", "request_approval", "plan_document", "notify",
                "attendance_list", "certificate", "briefing_note"}
#: (service file, function, transition) the scan finds that need no routing, and why.
SCAN_EXCEPTIONS = {
    ("processes/submission/services.py", "completeness_decided", "refuse"): "the case's refuse, not the application's",
    ("processes/support/services.py", "conclude_coordination", "agree"): "the measure's (routed) agree, not a body's",
    ("processes/support/services.py", "conclude_coordination", "put_in_force"):
        "taken after the routed agree made the sheet; put_in_force itself has no paperwork",
}


def _is_routed(label: str, transition: str) -> bool:
    """Does the model route ``transition`` to its service now (not by this file's tables)?"""
    model = apps.get_model(label)
    if label == "approvals.decision":  # its take_task_transition routes every outcome
        return getattr(model, "take_task_transition", None) is not None
    return transition in tasks.routed_transitions(model)


def test_a_service_with_side_effects_cannot_take_a_task_transition_unrouted():
    """Scan ``processes/*/services.py``: a function that renders, asks or notifies and takes a
    transition a task waits for must be routed (so the inbox gets the side effect too)."""
    known = task_transitions()
    problems = []
    for name, tree in _sources():
        if not (name.startswith("processes/") and name.endswith("/services.py")):
            continue
        app = name.split("/")[1]
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            effects = any(True for effect in SIDE_EFFECTS for _call in _calls(function, effect)) or any(
                isinstance(c.func, ast.Name) and c.func.id.startswith("generate_") for c in ast.walk(function)
                if isinstance(c, ast.Call))
            if not effects:
                continue
            taken = {t for verb in ("perform", "take") for call in _calls(function, verb) if len(call.args) > 1
                     for t in _literals(call.args[1])}
            for transition in taken:
                labels = [label for label, t in known if t == transition and label.startswith(f"{app}.")]
                for label in labels:
                    if _is_routed(label, transition) or (name, function.name, transition) in SCAN_EXCEPTIONS:
                        continue
                    problems.append(f"{name}:{function.name} takes {label}.{transition}")
    assert not problems, f"route these transitions to their service: {problems}"
