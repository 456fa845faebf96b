"""No dead ends after the signatories reject a plan, and no case-page link to a stage form that
would answer 409: a rejected plan opens the coordinators' task "Revise the development plan"
(``return_to_draft``, audited through ``perform``), after which the plan is drafted, edited and
signed anew; the case page links the stage form only while the form can be used.
"""

from __future__ import annotations

import pytest
from django.test import Client

from processes.planning.models import Plan
from processes.rounds.models import Case
from workflow import tasks as human_tasks
from workflow.models import AuditEntry

from .conftest import assert_error, user

pytestmark = pytest.mark.django_db

ACTION = {"measure": "Cluster organisation", "responsible": "Coordinating body", "deadline": "2018-06-30",
          "budget_kzt": "15000000.00", "kpi": "Members", "kpi_target": "45", "kpi_unit": "firms"}


def bare_case(state: str) -> Case:
    found = (Case.objects.filter(diagnosis__isnull=True, plan__isnull=True, support_measures__isnull=True)
             .order_by("number").first())
    Case.objects.filter(pk=found.pk).update(state=state)
    return Case.objects.select_related("round").get(pk=found.pk)


def ok(response, status=200) -> dict:
    assert response.status_code == status, response.content[:800]
    return response.json()


def page(c: Case) -> str:
    client = Client()
    client.force_login(user("coordinator"))
    response = client.get(f"/cases/{c.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def sign(api, c: Case, plan_id: int, verdict: str) -> dict:
    coordinator = api("coordinator")
    for position in c.round.signatories.select_related("user"):
        signatory = api(position.user.username)
        mine = [w for w in signatory.get("/api/approvals/").json()["results"] if w["approval"]["chain"] == c.ref]
        if mine:
            ok(signatory.post(f"/api/approvals/{mine[0]['id']}/{verdict}/", {"comment": verdict}, format="json"))
    return ok(coordinator.post(f"/api/plans/{plan_id}/transitions/{verdict}/", {}, format="json"))


def test_a_rejected_plan_goes_back_to_drafting_and_is_signed_anew(api):
    c = bare_case(Case.State.PLANNING)
    coordinator = api("coordinator")
    assert 'id="stage-form-link"' in page(c)  # no plan yet: the form creates it
    plan_id = ok(coordinator.post("/api/plans/", {"case": c.pk, "vision": "V", "actions": [ACTION]},
                                  format="json"), 201)["id"]
    ok(coordinator.post(f"/api/plans/{plan_id}/transitions/submit_for_review/", {}, format="json"))
    html = page(c)
    assert 'id="stage-form-link"' not in html and 'id="stage-form-rejected"' not in html  # review: the form is 409
    ok(coordinator.post(f"/api/plans/{plan_id}/transitions/send_for_signing/", {}, format="json"))
    assert sign(api, c, plan_id, "reject")["state"] == "rejected"

    plan = Plan.objects.get(pk=plan_id)
    [task] = human_tasks.open_tasks_for(plan)
    assert human_tasks.task_data(task)["transition"] == "return_to_draft"
    assert human_tasks.task_data(task)["title"] == "Revise the development plan"
    html = page(c)
    assert 'id="stage-form-link"' not in html and 'id="stage-form-rejected"' in html and "/inbox/" in html
    # only coordinators: 403 for a signatory, and nothing changed
    signatory = c.round.signatories.select_related("user").first().user.username
    assert_error(api(signatory).post(f"/api/plans/{plan_id}/transitions/return_to_draft/", {}, format="json"), 403)
    assert Plan.objects.get(pk=plan_id).state == "rejected"

    done = ok(coordinator.post(f"/api/tasks/{task.pk}/complete/", {"comment": "the ministry's remarks"},
                               format="json"))
    assert done["object"]["state"] == "drafting"
    entry = AuditEntry.objects.filter(chain=c.ref, object_type="planning.plan", transition="return_to_draft").get()
    assert (entry.from_state, entry.to_state, entry.comment) == ("rejected", "drafting", "the ministry's remarks")
    assert [human_tasks.task_data(t)["transition"] for t in human_tasks.open_tasks_for(plan)] == ["submit_for_review"]
    assert 'id="stage-form-link"' in page(c)
    # a second return is a conflict: the plan is drafted already
    assert_error(coordinator.post(f"/api/plans/{plan_id}/transitions/return_to_draft/", {}, format="json"), 409)

    ok(coordinator.patch(f"/api/plans/{plan_id}/", {"vision": "V2"}, format="json"))
    ok(coordinator.post(f"/api/plans/{plan_id}/transitions/submit_for_review/", {}, format="json"))
    ok(coordinator.post(f"/api/plans/{plan_id}/transitions/send_for_signing/", {}, format="json"))
    plan = Plan.objects.get(pk=plan_id)
    assert plan.current_approval.subject_version == 2 and plan.current_approval.state == "open"
    assert sign(api, c, plan_id, "approve")["state"] == "approved"
    assert ok(coordinator.post(f"/api/cases/{c.pk}/transitions/advance_to_support/", {},
                               format="json"))["state"] == "support"


def test_the_diagnosis_link_shows_only_while_the_form_can_be_used(api):
    c = bare_case(Case.State.DIAGNOSIS)
    coordinator = api("coordinator")
    assert 'id="stage-form-link"' in page(c)
    d = ok(coordinator.post("/api/diagnoses/", {"case": c.pk, "assessors": "KIID"}, format="json"), 201)
    assert 'id="stage-form-link"' in page(c)  # planned: the form starts the fieldwork
    ok(coordinator.post(f"/api/diagnoses/{d['id']}/transitions/start_fieldwork/", {}, format="json"))
    assert 'id="stage-form-link"' in page(c)
    areas = [{"area": name, "score_pct": 70, "finding": "f"} for name in c.round.diagnosis_areas]
    ok(coordinator.post(f"/api/diagnoses/{d['id']}/assessment/", {"areas": areas}, format="json"))
    assert 'id="stage-form-link"' not in page(c)  # the report is drafted: the form would answer 409
    client = Client()
    client.force_login(user("coordinator"))
    assert client.get(f"/cases/{c.pk}/diagnosis/").status_code == 409
