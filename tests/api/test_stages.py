"""The stage objects after selection over the API (api/stages.py): a coordinator creates the
diagnosis and assesses its areas, drafts the plan with its actions and has it signed, proposes
the support measure and concludes its coordination, and starts the implementation; bad input is
a 400/403/404/409 in the error shape and changes nothing.
"""

from __future__ import annotations

import pytest

from documents.models import Document
from processes.rounds.models import Case
from workflow.audit import verify_chains
from workflow.models import AuditEntry

from .conftest import assert_error

pytestmark = pytest.mark.django_db


def diagnosis_case() -> Case:
    """A case of the 2017 round without stage objects, put in the diagnosis stage (as a
    selected case is after ``advance_to_diagnosis``)."""
    found = Case.objects.filter(diagnosis__isnull=True).order_by("number").first()
    assert found is not None
    Case.objects.filter(pk=found.pk).update(state=Case.State.DIAGNOSIS)
    return Case.objects.select_related("round").get(pk=found.pk)


def areas(c: Case, pct=70) -> list[dict]:
    return [{"area": name, "score_pct": pct, "finding": f"finding {i}"}
            for i, name in enumerate(c.round.diagnosis_areas, 1)]


ACTION = {"measure": "Cluster organisation", "responsible": "Coordinating body", "deadline": "2018-06-30",
          "budget_kzt": "15000000.00", "kpi": "Members", "kpi_target": "45", "kpi_unit": "firms"}


def task(client, obj, transition):
    label = f"{obj._meta.app_label}.{obj._meta.model_name}"
    rows = client.get("/api/tasks/", {"page_size": 100}).json()["results"]
    return [t for t in rows if t["object"] and t["object"]["type"] == label and t["object"]["id"] == obj.pk
            and t["transition"] == transition]


def post(client, url, body, status=200):
    response = client.post(url, body, format="json")
    assert response.status_code == status, response.content[:1000]
    return response.json()


def test_a_case_goes_from_diagnosis_to_implementation_over_the_api(api):
    c = diagnosis_case()
    coordinator = api("coordinator")
    d = post(coordinator, "/api/diagnoses/", {"case": c.pk, "assessors": "KIID"}, 201)
    assert d["state"] == "planned" and d["case_ref"] == c.ref and d["areas"] == []
    assert {t["name"] for t in d["transitions"] if t["allowed"]} == {"start_fieldwork"}
    assert post(coordinator, f"/api/diagnoses/{d['id']}/transitions/start_fieldwork/", {})["state"] == "fieldwork"
    done = post(coordinator, f"/api/diagnoses/{d['id']}/assessment/", {"areas": areas(c)})
    assert done["state"] == "draft_report" and done["overall_pct"] == "70.00" and len(done["areas"]) == 6
    assert "diagnosis_report" in Document.objects.filter(owner_ref=c.ref).values_list("kind", flat=True)
    for name in ("open_discussion", "approve"):
        post(coordinator, f"/api/diagnoses/{d['id']}/transitions/{name}/", {})
    assert post(coordinator, f"/api/cases/{c.pk}/transitions/advance_to_planning/", {})["state"] == "planning"

    plan = post(coordinator, "/api/plans/", {"case": c.pk, "vision": "V", "governance": "G",
                                             "actions": [ACTION, {**ACTION, "budget_kzt": "5000000"}]}, 201)
    assert plan["state"] == "drafting" and plan["total_budget_kzt"] == "20000000.00"
    assert [a["position"] for a in plan["actions"]] == [1, 2]
    changed = coordinator.patch(f"/api/plans/{plan['id']}/", {"actions": [ACTION]}, format="json")
    assert changed.status_code == 200 and changed.json()["total_budget_kzt"] == "15000000.00"
    post(coordinator, f"/api/plans/{plan['id']}/transitions/submit_for_review/", {})
    signing = post(coordinator, f"/api/plans/{plan['id']}/transitions/send_for_signing/", {})
    assert signing["state"] == "signing"
    assert "development_plan" in Document.objects.filter(owner_ref=c.ref).values_list("kind", flat=True)
    # not yet approved by the signatories: approve's condition is unmet
    assert_error(coordinator.post(f"/api/plans/{plan['id']}/transitions/approve/", {}, format="json"), 400,
                 "condition_unmet")
    for position in c.round.signatories.select_related("user"):
        signatory = api(position.user.username)
        waiting = signatory.get("/api/approvals/").json()["results"]
        mine = [w for w in waiting if w["approval"]["chain"] == c.ref]
        assert mine, waiting
        post(signatory, f"/api/approvals/{mine[0]['id']}/approve/", {"comment": "ok"})
    assert post(coordinator, f"/api/plans/{plan['id']}/transitions/approve/", {})["state"] == "approved"
    assert "approval_sheet" in Document.objects.filter(owner_ref=c.ref).values_list("kind", flat=True)
    assert_error(coordinator.patch(f"/api/plans/{plan['id']}/", {"vision": "late"}, format="json"), 409)
    post(coordinator, f"/api/cases/{c.pk}/transitions/advance_to_support/", {})

    measure = post(coordinator, "/api/support-measures/", {
        "case": c.pk, "title": "Reimbursement", "amount_kzt": "60000000", "reimbursement_pct": "75",
        "legal_basis": "Order 1194", "bodies": ["Ministry", "Akimat"]}, 201)
    assert measure["state"] == "coordination" and len(measure["positions"]) == 2
    from processes.support.models import BodyPosition

    for position in BodyPosition.objects.filter(measure_id=measure["id"]):
        [t] = task(coordinator, position, "agree")
        post(coordinator, f"/api/tasks/{t['id']}/complete/", {"transition": "agree"})
    assert post(coordinator, f"/api/support-measures/{measure['id']}/transitions/agree/", {})["state"] == "in_force"
    assert "support_coordination_sheet" in Document.objects.filter(owner_ref=c.ref).values_list("kind", flat=True)
    post(coordinator, f"/api/cases/{c.pk}/transitions/advance_to_implementation/", {})

    impl = post(coordinator, "/api/implementations/", {"case": c.pk, "started_on": "2018-01-01"}, 201)
    assert impl["state"] == "active"
    from processes.implementation.models import Implementation

    assert task(coordinator, Implementation.objects.get(pk=impl["id"]), "start_reporting")
    created = AuditEntry.objects.filter(chain=c.ref, transition__in=["created", "content_changed"])
    assert sorted(created.values_list("object_type", flat=True)) == [
        "diagnosis.diagnosis", "implementation.implementation", "planning.plan", "planning.plan"]
    assert verify_chains([c.ref]).ok


def test_bad_input_is_refused_and_changes_nothing(api):
    c = diagnosis_case()
    coordinator = api("coordinator")
    before = AuditEntry.objects.filter(chain=c.ref).count()
    assert_error(coordinator.post("/api/diagnoses/", {"case": "x"}, format="json"), 400, "invalid")
    assert_error(coordinator.post("/api/diagnoses/", {"case": c.pk, "colour": 1}, format="json"), 400, "invalid")
    assert_error(coordinator.post("/api/diagnoses/", [1], format="json"), 400)
    assert_error(coordinator.post("/api/diagnoses/", {"case": 10 ** 17}, format="json"), 404)
    assert_error(api("applicant-a1").post("/api/diagnoses/", {"case": c.pk}, format="json"), 404)
    assert_error(api("auditor").post("/api/diagnoses/", {"case": c.pk}, format="json"), 403)
    body = assert_error(coordinator.post("/api/plans/", {"case": c.pk}, format="json"), 409)
    assert body["details"]["state"] == "diagnosis"
    russian = assert_error(coordinator.post("/api/plans/", {"case": c.pk}, format="json", HTTP_ACCEPT_LANGUAGE="ru"),
                           409)
    assert russian["message"].startswith("Дело находится в состоянии «"), russian
    assert_error(coordinator.post("/api/implementations/", {"case": c.pk, "started_on": "2018-01-01"},
                                  format="json"), 409)
    assert AuditEntry.objects.filter(chain=c.ref).count() == before

    d = post(coordinator, "/api/diagnoses/", {"case": c.pk}, 201)
    assert_error(coordinator.post("/api/diagnoses/", {"case": c.pk}, format="json"), 409, "already_exists")
    url = f"/api/diagnoses/{d['id']}/assessment/"
    body = assert_error(coordinator.post(url, {"areas": areas(c)}, format="json"), 409)  # still planned
    assert body["details"]["state"] == "planned"
    post(coordinator, f"/api/diagnoses/{d['id']}/transitions/start_fieldwork/", {})
    unknown = areas(c)[:-1] + [{"area": "Astrology", "score_pct": 50}]
    body = assert_error(coordinator.post(url, {"areas": unknown}, format="json"), 400, "invalid")
    assert "5" in body["details"]["fields"]["areas"] and body["details"]["fields"]["areas"]["missing"]
    assert_error(coordinator.post(url, {"areas": areas(c, pct=101)}, format="json"), 400)
    assert_error(coordinator.post(url, {"areas": areas(c, pct="lots")}, format="json"), 400)
    assert_error(coordinator.post(url, {"areas": areas(c) + areas(c)[:1]}, format="json"), 400)
    assert_error(api("auditor").post(url, {"areas": areas(c)}, format="json"), 403)
    assert_error(api("applicant-a1").get(f"/api/diagnoses/{d['id']}/"), 404)
    assert not c.diagnosis.areas.exists()

    Case.objects.filter(pk=c.pk).update(state=Case.State.PLANNING)
    for action in ({**ACTION, "budget_kzt": "-1"}, {**ACTION, "budget_kzt": "abc"}, {**ACTION, "kpi_unknown": "x"},
                   {**ACTION, "deadline": "30.06.2018"}, {k: v for k, v in ACTION.items() if k != "kpi"}):
        body = assert_error(coordinator.post("/api/plans/", {"case": c.pk, "actions": [action]}, format="json"), 400)
        assert body["details"]["fields"]["actions"], body
    from processes.planning.models import Plan

    assert not Plan.objects.filter(case=c).exists()
    plan = post(coordinator, "/api/plans/", {"case": c.pk, "actions": [ACTION]}, 201)
    assert_error(api("partner").patch(f"/api/plans/{plan['id']}/", {"actions": "x"}, format="json"), 400)
    assert_error(api("auditor").patch(f"/api/plans/{plan['id']}/", {"vision": "x"}, format="json"), 403)
    assert_error(coordinator.post(f"/api/plans/{plan['id']}/transitions/fly/", {}, format="json"), 400,
                 "unknown_transition")
    assert_error(coordinator.post(f"/api/plans/{plan['id']}/transitions/send_for_signing/", {}, format="json"), 409)

    Case.objects.filter(pk=c.pk).update(state=Case.State.SUPPORT)
    good = {"case": c.pk, "title": "T", "amount_kzt": "1", "reimbursement_pct": "50", "bodies": ["Ministry"]}
    for bad in ({"amount_kzt": "-5"}, {"reimbursement_pct": "150"}, {"bodies": []}, {"bodies": "Ministry"}):
        assert_error(coordinator.post("/api/support-measures/", {**good, **bad}, format="json"), 400)
    assert_error(api("signatory1").post("/api/support-measures/", good, format="json"), 404)
    measure = post(coordinator, "/api/support-measures/", good, 201)
    # the body has not answered yet: the measure cannot be agreed
    assert_error(coordinator.post(f"/api/support-measures/{measure['id']}/transitions/agree/", {}, format="json"),
                 400, "condition_unmet")
    assert verify_chains([c.ref]).ok
