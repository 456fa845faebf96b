"""A suspended case's stage objects are frozen (docs/cycle.md, "Suspension"): no transition and no
content change of its diagnosis, plan, support measure, body positions or implementation by any
path (case-page forms, API, inbox tasks, ``workflow.tasks.take``), each refused with 409 naming
the suspension and nothing changed; reading stays allowed, and resuming the case lets the work
go on where it stopped.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from processes.diagnosis.models import Diagnosis
from processes.planning.models import Plan
from processes.rounds.models import Case
from workflow import tasks as human_tasks
from workflow.exceptions import TransitionNotAllowed
from workflow.models import AuditEntry

from .conftest import assert_error, user

pytestmark = pytest.mark.django_db

ACTION = {"measure": "Cluster organisation", "responsible": "Coordinating body", "deadline": "2018-06-30",
          "budget_kzt": "15000000.00", "kpi": "Members", "kpi_target": "45", "kpi_unit": "firms"}
ROW = {"row-1-measure": "Other", "row-1-responsible": "Body", "row-1-deadline": "30.06.2018",
       "row-1-budget_kzt": "1 000 000", "row-1-kpi": "Members", "row-1-kpi_target": "10", "row-1-kpi_unit": ""}


def bare_case(state: str) -> Case:
    """A case of the 2017 round without stage objects, put in ``state``."""
    found = (Case.objects.filter(diagnosis__isnull=True, plan__isnull=True, support_measures__isnull=True)
             .order_by("number").first())
    assert found is not None
    Case.objects.filter(pk=found.pk).update(state=state)
    return Case.objects.select_related("round").get(pk=found.pk)


def suspend(client, c: Case) -> None:
    response = client.post(f"/api/cases/{c.pk}/transitions/suspend/", {"comment": "audit of the grant"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "suspended", response.content[:500]


def resume(client, c: Case) -> None:
    response = client.post(f"/api/cases/{c.pk}/transitions/resume/", {}, format="json")
    assert response.status_code == 200, response.content[:500]


def portal(username: str = "coordinator") -> Client:
    client = Client()
    client.force_login(user(username))
    return client


def snapshot(c: Case) -> tuple:
    """What a refusal must leave as it was: the audit chain, the stage objects and their tasks."""
    plan = Plan.objects.filter(case=c).first()
    diagnosis = Diagnosis.objects.filter(case=c).first()
    return (Case.objects.get(pk=c.pk).state, AuditEntry.objects.filter(chain=c.ref).count(),
            plan and (plan.state, plan.vision, list(plan.actions.values_list("measure", "budget_kzt"))),
            plan and [t.pk for t in human_tasks.open_tasks_for(plan)],
            diagnosis and (diagnosis.state, list(diagnosis.areas.values_list("area", "score_pct"))),
            diagnosis and [t.pk for t in human_tasks.open_tasks_for(diagnosis)])


def names_suspension(text: str, c: Case) -> bool:
    return f"case {c.ref} is suspended: resume it first" in text


def test_a_suspended_cases_plan_is_frozen_on_the_api_and_the_plan_form(api):
    c = bare_case(Case.State.PLANNING)
    coordinator = api("coordinator")
    created = coordinator.post("/api/plans/", {"case": c.pk, "vision": "V", "governance": "G", "actions": [ACTION]},
                               format="json")
    assert created.status_code == 201
    plan_id = created.json()["id"]
    suspend(coordinator, c)
    before = snapshot(c)
    assert before[2][0] == "drafting" and before[3] == []  # the drafting task was cancelled

    body = assert_error(coordinator.patch(f"/api/plans/{plan_id}/", {"vision": "changed"}, format="json"), 409,
                        "transition_not_allowed")
    assert names_suspension(body["message"], c)
    body = assert_error(coordinator.post(f"/api/plans/{plan_id}/transitions/submit_for_review/", {}, format="json"),
                        409, "transition_not_allowed")
    assert names_suspension(body["message"], c)
    assert snapshot(c) == before

    page = portal()
    form = page.get(f"/cases/{c.pk}/plan/")  # reading stays allowed
    assert form.status_code == 200
    fingerprint = re.search(r'name="fingerprint" value="([^"]*)"', form.content.decode()).group(1)
    for do in ("save", "submit"):
        response = page.post(f"/cases/{c.pk}/plan/", {"fingerprint": fingerprint, "do": do, "vision": "W",
                                                       "governance": "G", **ROW})
        assert response.status_code == 409, (do, response.status_code)
        assert names_suspension(response.content.decode(), c)
        assert snapshot(c) == before

    # the API's reading and the transitions it lists say why
    shown = coordinator.get(f"/api/plans/{plan_id}/").json()
    submit = next(t for t in shown["transitions"] if t["name"] == "submit_for_review")
    assert submit["allowed"] is False and names_suspension(submit["reason"], c)

    resume(coordinator, c)
    assert coordinator.patch(f"/api/plans/{plan_id}/", {"vision": "changed"}, format="json").status_code == 200
    assert coordinator.post(f"/api/plans/{plan_id}/transitions/submit_for_review/", {},
                            format="json").json()["state"] == "review"


def test_a_suspended_cases_diagnosis_is_frozen_on_the_api_the_form_and_take(api):
    c = bare_case(Case.State.DIAGNOSIS)
    coordinator = api("coordinator")
    d = coordinator.post("/api/diagnoses/", {"case": c.pk, "assessors": "KIID"}, format="json").json()
    suspend(coordinator, c)
    before = snapshot(c)
    body = assert_error(coordinator.post(f"/api/diagnoses/{d['id']}/transitions/start_fieldwork/", {},
                                         format="json"), 409, "transition_not_allowed")
    assert names_suspension(body["message"], c)
    response = portal().post(f"/cases/{c.pk}/diagnosis/", {"state": "planned"})
    assert response.status_code == 409 and names_suspension(response.content.decode(), c)
    diagnosis = Diagnosis.objects.get(pk=d["id"])
    with pytest.raises(TransitionNotAllowed) as refused:
        human_tasks.take(diagnosis, "start_fieldwork", actor=user("coordinator"))
    assert names_suspension(refused.value.message, c)
    assert snapshot(c) == before

    # fieldwork reached before the suspension: the assessment (areas and report) is refused too
    resume(coordinator, c)
    assert coordinator.post(f"/api/diagnoses/{d['id']}/transitions/start_fieldwork/", {},
                            format="json").json()["state"] == "fieldwork"
    suspend(coordinator, c)
    before = snapshot(c)
    areas = [{"area": name, "score_pct": 70, "finding": "f"} for name in c.round.diagnosis_areas]
    body = assert_error(coordinator.post(f"/api/diagnoses/{d['id']}/assessment/", {"areas": areas}, format="json"),
                        409, "transition_not_allowed")
    assert names_suspension(body["message"], c)
    scores = {f"score-{n}": "70" for n in range(1, len(c.round.diagnosis_areas) + 1)}
    response = portal().post(f"/cases/{c.pk}/diagnosis/", {"state": "fieldwork", **scores})
    assert response.status_code == 409 and names_suspension(response.content.decode(), c)
    assert snapshot(c) == before


def test_a_suspended_cases_body_positions_and_measures_are_frozen(api):
    from processes.support.models import BodyPosition, SupportMeasure
    from processes.support.services import propose_measure

    c = bare_case(Case.State.SUPPORT)
    coordinator = api("coordinator")
    measure = propose_measure(case=c, title="Reimbursement", amount_kzt=1000, reimbursement_pct=50, legal_basis="",
                              bodies=["Ministry", "Akimat"], actor=user("coordinator"))
    first = BodyPosition.objects.filter(measure=measure).order_by("pk").first()
    [task] = human_tasks.open_tasks_for(first, "agree")
    suspend(coordinator, c)
    head = AuditEntry.objects.filter(chain=c.ref).count()
    position = BodyPosition.objects.get(pk=first.pk)
    with pytest.raises(TransitionNotAllowed) as refused:
        human_tasks.take(position, "agree", actor=user("coordinator"))
    assert names_suspension(refused.value.message, c)
    # the inbox task was cancelled by the suspension: completing it is a conflict, not a change
    assert_error(coordinator.post(f"/api/tasks/{task.pk}/complete/", {"transition": "agree"}, format="json"), 409)
    body = assert_error(coordinator.post(f"/api/support-measures/{measure.pk}/transitions/decline/", {},
                                         format="json"), 409, "transition_not_allowed")
    assert names_suspension(body["message"], c)
    assert BodyPosition.objects.get(pk=first.pk).state == "pending"
    assert SupportMeasure.objects.get(pk=measure.pk).state == "coordination"
    assert AuditEntry.objects.filter(chain=c.ref).count() == head


def test_a_suspended_cases_implementation_takes_no_report_until_resumed(api):
    from processes.implementation.models import Implementation
    from processes.implementation.services import next_quarter

    c = Case.objects.get(ref="TC-2017/A1")  # in implementation after the sample cycle
    impl = Implementation.objects.get(case=c)
    assert c.state == "implementation" and impl.state in ("active", "reporting")
    coordinator = api("coordinator")
    suspend(coordinator, c)
    impl.refresh_from_db()
    assert impl.state == "suspended"  # the case's own suspension passes (CaseStage.SUSPENSION_TRANSITIONS)
    year, quarter = next_quarter(impl)
    positions = list(impl.case.plan.actions.values_list("position", flat=True))
    report = {"year": year, "quarter": quarter, "summary": "s", "actuals": {str(p): 1 for p in positions}}
    head = AuditEntry.objects.filter(chain=c.ref).count()
    reports = impl.reports.count()
    body = assert_error(coordinator.post(f"/api/cases/{c.pk}/monitoring-reports/", report, format="json"), 409)
    assert names_suspension(body["message"], c)
    assert_error(coordinator.post(f"/api/implementations/{impl.pk}/transitions/resume/", {}, format="json"), 409)
    assert Implementation.objects.get(pk=impl.pk).state == "suspended" and impl.reports.count() == reports
    assert AuditEntry.objects.filter(chain=c.ref).count() == head
    resume(coordinator, c)
    assert Implementation.objects.get(pk=impl.pk).state == "active"
