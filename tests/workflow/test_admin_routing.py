"""An admin transition action takes its transition the way the inbox and the API do
(``workflow.admin.transition_action`` -> ``workflow.tasks.take``; docs/cycle.md, "Tasks and the
stage services").

The plan's admin actions "approve" / "reject" reach the planning service (the signed version,
the approval sheet) and give what ``POST /api/plans/<id>/transitions/<name>/`` gives; an action
on a transition a task waits for completes the task; a refusal (wrong state, unmet condition,
missing role, a service's refusal half-way through a selection) changes nothing (objects,
documents, stored files, audit) and shows the refusal's message on the admin page.
"""

from __future__ import annotations

import pytest
from django.contrib import admin, messages
from django.contrib.auth.models import Permission
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import Client, RequestFactory
from viewflow.workflow.status import STATUS

from documents.models import Document, DocumentVersion
from processes.planning.models import Plan
from processes.rounds.actors import ensure_user
from tests.workflow.test_task_routing import (
    _files, _free_cases, _last_seq, _new_entries, _open_task, _plan_in_review, _signing_result, _stored_sha256,
    transition_via_api,
)
from workflow import tasks
from workflow.approvals.models import Approval
from workflow.approvals.services import decide
from workflow.audit import verify_chains
from workflow.exceptions import StaleObject
from workflow.models import AuditEntry

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/planning/plan/"


@pytest.fixture
def coordinator(sample_round):
    return ensure_user("coordinator", "coordinator")


def _staff(username: str, role: str):
    """A staff user of ``role`` with the plan admin's view and change permissions (its actions)."""
    user = ensure_user(username, role)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="planning",
                                                         codename__in=["change_plan", "view_plan"]))
    return user


@pytest.fixture
def staff_coordinator(sample_round):
    return _staff("staff-coordinator-admin", "coordinator")


def _in_signing(case, coordinator, *, verdict: bool | None) -> Plan:
    """A plan sent for signing; its signatories all approve (``True``), the first rejects
    (``False``) or nobody has decided yet (``None``)."""
    plan = _plan_in_review(case, coordinator)
    tasks.take(plan, "send_for_signing", actor=coordinator)
    plan.refresh_from_db()
    if verdict is not None:
        for decision in plan.current_approval.decisions.order_by("position"):
            decide(decision=decision, actor=decision.signatory, approve=verdict)
            if not verdict:
                break
    assert plan.current_approval.state == {True: "approved", False: "rejected", None: "open"}[verdict]
    return plan


def admin_action(user, action: str, plans) -> tuple[int, list[tuple[int, str]]]:
    """Run the plan changelist's ``action`` on ``plans`` as ``user``: (status, [(level, message)])."""
    client = Client()
    client.force_login(user)
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [p.pk for p in plans]}, follow=True)
    return response.status_code, [(m.level, m.message) for m in response.context["messages"]]


def _conclusion_result(plan: Plan, after: int) -> dict:
    """What concluding the signing leaves, with what each must equal checked."""
    plan.refresh_from_db()
    case = plan.case
    approval = plan.current_approval
    [sheet] = DocumentVersion.objects.filter(document__owner_ref=case.ref, document__kind="approval_sheet")
    assert sheet.sha256 == _stored_sha256(sheet)
    generated = AuditEntry.objects.get(chain=case.ref, transition="document_generated", object_id=str(sheet.pk))
    assert generated.data["sha256"] == sheet.sha256
    signed = list(DocumentVersion.objects.filter(document__owner_ref=case.ref, document__kind="development_plan")
                  .order_by("number").values_list("number", "signed"))
    assert verify_chains([case.ref]).ok
    return {"state": plan.state, "approval": approval.state, "signed": signed,
            "entries": _new_entries(case.ref, after)}


@pytest.mark.parametrize("verdict, action", [(True, "approve"), (False, "reject")])
def test_concluding_a_plan_in_the_admin_is_the_stage_apis_step(verdict, action, coordinator, staff_coordinator):
    through_admin, through_api = (_in_signing(c, coordinator, verdict=verdict) for c in _free_cases("plan", 2))
    starts = [_last_seq(p.case.ref) for p in (through_admin, through_api)]
    status, shown = admin_action(staff_coordinator, f"transition_{action}", [through_admin])
    assert status == 200 and shown == [(messages.SUCCESS, f"{action}: 1 object done.")]
    assert transition_via_api(through_api, action, coordinator, "plans") == (200, "")
    result = _conclusion_result(through_admin, starts[0])
    assert result == _conclusion_result(through_api, starts[1])
    assert result["state"] == ("approved" if verdict else "rejected")
    assert result["signed"] == [(1, verdict)]  # only an approved plan's version is marked signed
    assert result["entries"][-2:] == [("planning.plan", action), ("documents.documentversion", "document_generated")]
    taken = AuditEntry.objects.get(chain=through_admin.case.ref, object_type="planning.plan", transition=action)
    assert (taken.actor_id, taken.comment) == (staff_coordinator.pk, "via the admin")


def _snapshot(plans, media_root) -> dict:
    refs = [p.case.ref for p in plans]
    for plan in plans:
        plan.refresh_from_db()
    return {"states": [p.state for p in plans], "audit": [_last_seq(r) for r in refs],
            "documents": DocumentVersion.objects.filter(document__owner_ref__in=refs).count(),
            "signed": DocumentVersion.objects.filter(document__owner_ref__in=refs, signed=True).count(),
            "approvals": [Approval.objects.get(pk=p.current_approval.pk).state for p in plans],
            "files": _files(media_root)}


def test_a_selection_with_an_undecided_plan_changes_nothing_and_shows_why(coordinator, staff_coordinator,
                                                                          media_root):
    ready, undecided = (_in_signing(c, coordinator, verdict=v) for c, v in zip(_free_cases("plan", 2), (True, None)))
    before = _snapshot([ready, undecided], media_root)
    api_status, api_message = transition_via_api(undecided, "approve", coordinator, "plans")
    assert api_status == 400 and "must be approved under the round's policy" in api_message
    status, shown = admin_action(staff_coordinator, "transition_approve", [ready, undecided])
    assert status == 200 and shown == [(messages.ERROR, f"Nothing was changed: {api_message}")]
    assert _snapshot([ready, undecided], media_root) == before  # the ready plan is not approved either
    assert not Document.objects.filter(owner_ref__in=[ready.case.ref, undecided.case.ref],
                                       kind="approval_sheet").exists()


def test_an_action_in_the_wrong_state_or_without_the_role_is_refused_with_the_apis_message(
        coordinator, staff_coordinator, media_root):
    [case] = _free_cases("plan", 1)
    plan = _in_signing(case, coordinator, verdict=True)
    outsider = _staff("staff-auditor-admin", "auditor")
    before = _snapshot([plan], media_root)
    api_status, api_message = transition_via_api(plan, "approve", outsider, "plans")
    assert api_status == 403 and api_message
    assert admin_action(outsider, "transition_approve", [plan]) == (200, [(messages.ERROR,
                                                                          f"Nothing was changed: {api_message}")])
    assert _snapshot([plan], media_root) == before
    # a state the transition does not leave: 409 in the API, the same words in the admin
    assert admin_action(staff_coordinator, "transition_approve", [plan])[1][0][0] == messages.SUCCESS
    after = _snapshot([plan], media_root)
    api_status, api_message = transition_via_api(plan, "reject", coordinator, "plans")
    assert api_status == 409
    assert admin_action(staff_coordinator, "transition_reject", [plan]) == (200, [(messages.ERROR,
                                                                                    f"Nothing was changed: {api_message}")])
    assert _snapshot([plan], media_root) == after and after["states"] == ["approved"]


def test_a_refusal_half_way_through_a_selection_rolls_back_and_deletes_the_rendered_files(
        coordinator, staff_coordinator, media_root, monkeypatch):
    from processes.planning import services

    first, second = (_in_signing(c, coordinator, verdict=True) for c in _free_cases("plan", 2))
    before = _snapshot([first, second], media_root)
    original, calls = services.conclude_signing, []

    def conclude_then_refuse(*, plan, actor, comment=""):
        calls.append(plan.pk)
        if len(calls) == 2:  # e.g. a concurrent change found by the service on the second plan
            raise StaleObject("the plan was changed by someone else; reload and try again", obj=plan)
        return original(plan=plan, actor=actor, comment=comment)

    monkeypatch.setattr(services, "conclude_signing", conclude_then_refuse)
    status, shown = admin_action(staff_coordinator, "transition_approve", [first, second])
    assert sorted(calls) == sorted([first.pk, second.pk])  # the first plan's sheet was rendered, then refused
    assert status == 200 and shown == [
        (messages.ERROR, "Nothing was changed: the plan was changed by someone else; reload and try again")]
    assert _snapshot([first, second], media_root) == before  # no row, no audit entry, no stored file


# -- an action on a transition a task waits for completes the task ----------------------------

def _run_action(name: str, user, queryset) -> list[tuple[int, str]]:
    """Call ``transition_action(name)`` of the plan admin directly (no plan admin action takes
    a task's transition today; any admin built with it must complete the task)."""
    from workflow.admin import transition_action

    request = RequestFactory().post(CHANGELIST)
    request.user = user
    request._messages = CookieStorage(request)
    transition_action(name, name)(admin.site._registry[Plan], request, queryset)
    return [(m.level, m.message) for m in request._messages]


def test_an_admin_action_on_a_tasks_transition_completes_the_task_through_the_service(coordinator,
                                                                                      staff_coordinator):
    through_admin, through_api = (_plan_in_review(c, coordinator) for c in _free_cases("plan", 2))
    starts = [_last_seq(p.case.ref) for p in (through_admin, through_api)]
    task = _open_task(through_admin, "send_for_signing")
    shown = _run_action("send_for_signing", staff_coordinator, Plan.objects.filter(pk=through_admin.pk))
    assert shown == [(messages.SUCCESS, "send_for_signing: 1 object done.")]
    assert transition_via_api(through_api, "send_for_signing", coordinator, "plans") == (200, "")
    result = _signing_result(through_admin, starts[0])
    assert result == _signing_result(through_api, starts[1]) and result["state"] == "signing"
    task.refresh_from_db()
    assert (task.status, task.data["outcome"], task.data["completed_by"]) == (
        STATUS.DONE, "send_for_signing", staff_coordinator.pk)


def test_an_admin_action_refused_by_the_service_leaves_the_task_open(coordinator, staff_coordinator, media_root):
    [case] = _free_cases("plan", 1)
    plan = _plan_in_review(case, coordinator)
    position = case.round.signatories.order_by("position").first()
    case.round.signatories.filter(pk=position.pk).update(user=None)
    task = _open_task(plan, "send_for_signing")
    before = _snapshot_task(plan, task, media_root)
    [(level, message)] = _run_action("send_for_signing", staff_coordinator, Plan.objects.filter(pk=plan.pk))
    assert level == messages.ERROR and message.startswith("Nothing was changed: ")
    assert "signatory positions without a user" in message and position.role in message
    assert _snapshot_task(plan, task, media_root) == before


def _snapshot_task(plan, task, media_root) -> dict:
    task.refresh_from_db()
    plan.refresh_from_db()
    return {"plan": plan.state, "task": (task.status, task.owner_id), "audit": _last_seq(plan.case.ref),
            "documents": DocumentVersion.objects.filter(document__owner_ref=plan.case.ref).count(),
            "files": _files(media_root), "approvals": Approval.objects.filter(chain=plan.case.ref).count()}


def test_an_admin_action_on_a_suspended_cases_plan_is_refused_and_changes_nothing(coordinator, staff_coordinator,
                                                                                  media_root):
    """h6: the admin's "approve" of a plan whose case is suspended gets the API's 409 naming the
    suspension (``CaseStage.closed_reason``), before the approval sheet is rendered."""
    [case] = _free_cases("plan", 1)
    plan = _in_signing(case, coordinator, verdict=True)
    from processes.rounds.models import Case
    from workflow.transitions import perform

    Case.objects.filter(pk=case.pk).update(state="planning")
    perform(Case.objects.get(pk=case.pk), "suspend", actor=coordinator, comment="audit")
    plan = Plan.objects.get(pk=plan.pk)
    before = _snapshot([plan], media_root)
    api_status, api_message = transition_via_api(plan, "approve", coordinator, "plans")
    assert api_status == 409 and f"case {case.ref} is suspended: resume it first" in api_message
    assert admin_action(staff_coordinator, "transition_approve", [plan]) == (
        200, [(messages.ERROR, f"Nothing was changed: {api_message}")])
    assert _snapshot([plan], media_root) == before and before["states"] == ["signing"]
