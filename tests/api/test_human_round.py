"""A round run by people, over the API and the pages only (breaker findings F2, F3, F4, F12, F13).

The completeness check does on every path what ``run_cycle`` does (the case moves on, receipt
and decision notice); the selection and round steps are tasks in the coordinators' queue and
transitions by name (``/api/selections/``, ``/api/rounds/``, the round and case pages); a
quarter's report is entered before it can be accepted; ``resume`` shows the state it returns
to; ``run_cycle`` refuses a round with people's work.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from documents.models import Document
from processes.rounds.models import Case, Round
from processes.selection.models import ScoreSheet, Selection
from processes.submission.models import Application
from workflow.audit import verify_chains
from workflow.models import AuditEntry

from tests.portal import roles_support

from .conftest import assert_error, case, user

pytestmark = pytest.mark.django_db

FIGURES = {"region": "Almaty", "city": "Almaty", "sector": "food processing", "anchor_enterprises": 3, "smes": 40,
           "employees": 1200, "export_share_pct": "12.5", "research_partners": 2}


def open_round(code: str = "T-HUMAN") -> Round:
    """A new round open for applications, with the 2017 round's criteria (pass mark 60, 2 places)."""
    return roles_support.open_round(code)


def filed(api, rnd: Round, name: str = "Human cluster", **values) -> Application:
    """An application filed and submitted over the API by applicant-a1."""
    applicant = api("applicant-a1")
    response = applicant.post("/api/applications/", {"round": rnd.code, "name_en": name, **FIGURES, **values},
                              format="json")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert applicant.post(f"/api/applications/{pk}/transitions/submit/", {}, format="json").status_code == 200
    return Application.objects.get(pk=pk)


def task_of(client, obj, transition: str) -> dict:
    """The open task of ``obj`` for ``transition`` in the client's ``/api/tasks/``."""
    label = f"{obj._meta.app_label}.{obj._meta.model_name}"
    tasks = client.get("/api/tasks/", {"page_size": 100}).json()["results"]
    found = [t for t in tasks if t["object"] and t["object"]["type"] == label and t["object"]["id"] == obj.pk
             and t["transition"] == transition]
    assert found, (label, obj.pk, transition, [(t["object"], t["transition"]) for t in tasks])
    return found[0]


def documents(owner: str) -> list[str]:
    return sorted(Document.objects.filter(owner_ref=owner).values_list("kind", flat=True))


# -- F3: the human completeness check ---------------------------------------------------------------

def test_accepting_in_the_inbox_moves_the_case_on_and_generates_the_receipt(api):
    rnd = open_round()
    application = filed(api, rnd)
    coordinator = api("coordinator")
    task = task_of(coordinator, application, "accept")
    response = coordinator.post(f"/api/tasks/{task['id']}/complete/", {"transition": "accept"}, format="json")
    assert response.status_code == 200, response.content
    application.refresh_from_db()
    assert (application.state, application.case.state) == ("accepted", "selection")
    assert documents(application.case.ref) == ["application_receipt"]
    transitions = list(AuditEntry.objects.filter(chain=application.case.ref).values_list("transition", flat=True))
    assert transitions[-3:] == ["accept", "document_generated", "advance_to_selection"]
    # the next step is offered: the work page shows the expert assignment form for the case
    work = coordinator.get(reverse("portal:coordinator"), {"round": rnd.code}).content.decode()
    assert f'id="assign-{application.case.pk}"' in work


def test_accepting_by_the_application_transition_does_the_same(api):
    rnd = open_round()
    application = filed(api, rnd)
    response = api("coordinator").post(f"/api/applications/{application.pk}/transitions/accept/", {},
                                       format="json")
    assert response.status_code == 200, response.content
    application.refresh_from_db()
    assert application.case.state == "selection"
    assert documents(application.case.ref) == ["application_receipt"]


def test_refusing_in_the_inbox_refuses_the_case_with_the_reason_and_a_decision_notice(api):
    rnd = open_round()
    application = filed(api, rnd)
    coordinator = api("coordinator")
    task = task_of(coordinator, application, "accept")
    entries = AuditEntry.objects.filter(chain=application.case.ref).count()
    missing = coordinator.post(f"/api/tasks/{task['id']}/complete/", {"transition": "refuse"}, format="json")
    assert_error(missing, 400)  # no reason: nothing happens
    assert AuditEntry.objects.filter(chain=application.case.ref).count() == entries
    response = coordinator.post(f"/api/tasks/{task['id']}/complete/",
                                {"transition": "refuse", "data": {"reason": "incomplete", "detail": "no annex"}},
                                format="json")
    assert response.status_code == 200, response.content
    application.refresh_from_db()
    assert (application.state, application.refusal_reason, application.case.state) == ("refused", "incomplete",
                                                                                       "refused")
    assert documents(application.case.ref) == ["application_receipt", "decision_notice"]
    refuse = AuditEntry.objects.filter(chain=application.case.ref, object_type="rounds.case", transition="refuse").get()
    assert refuse.comment == "no annex"
    # nothing is left waiting: no open task of the application or its case
    tasks = api("coordinator").get("/api/tasks/", {"page_size": 100}).json()["results"]
    assert not [t for t in tasks if t["case"] == application.case.pk]


def test_returning_for_revision_keeps_the_case_in_submission(api):
    rnd = open_round()
    application = filed(api, rnd)
    coordinator = api("coordinator")
    task = task_of(coordinator, application, "accept")
    response = coordinator.post(f"/api/tasks/{task['id']}/complete/",
                                {"transition": "return_for_revision", "comment": "add the annex"}, format="json")
    assert response.status_code == 200
    application.refresh_from_db()
    assert (application.state, application.case.state) == ("returned_for_revision", "submission")
    assert documents(application.case.ref) == []


def test_experts_are_assigned_only_while_the_case_is_in_selection(api):
    from processes.selection.services import open_scoring
    from workflow.exceptions import TransitionNotAllowed

    rnd = open_round()
    application = filed(api, rnd)
    coordinator = api("coordinator")
    assert coordinator.post(f"/api/applications/{application.pk}/transitions/accept/", {},
                            format="json").status_code == 200
    assert coordinator.post(f"/api/cases/{application.case.pk}/transitions/withdraw/", {},
                            format="json").status_code == 200
    application.refresh_from_db()
    assert (application.state, application.case.state) == ("accepted", "withdrawn")
    experts = [user("expert1").pk, user("expert2").pk]
    response = coordinator.post(reverse("portal:scoring-assign", args=[application.case.pk]), {"experts": experts})
    assert response.status_code == 409
    with pytest.raises(TransitionNotAllowed):
        open_scoring(application=application, experts=[user("expert1"), user("expert2")])
    assert not ScoreSheet.objects.filter(application=application).exists()
    assert not Selection.objects.filter(application=application).exists()


# -- F2: the selection and the round, step by step, by people ----------------------------------------

def test_a_round_run_by_people_from_filing_to_publication(api):
    rnd = open_round()
    strong = filed(api, rnd, "Strong cluster")
    weak = filed(api, rnd, "Weak cluster")
    coordinator, partner = api("coordinator"), api("partner")

    # the round page offers closing the call; the API takes it
    page = coordinator.get(reverse("portal:round-detail", args=[rnd.code])).content.decode()
    assert 'id="round-transitions-close_applications"' in page
    response = coordinator.post(f"/api/rounds/{rnd.code}/transitions/close_applications/", {}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "closed"
    for application in (strong, weak):
        task = task_of(coordinator, application, "accept")
        assert coordinator.post(f"/api/tasks/{task['id']}/complete/", {}, format="json").status_code == 200
    task = task_of(coordinator, rnd, "start_scoring")
    assert coordinator.post(f"/api/tasks/{task['id']}/complete/", {}, format="json").status_code == 200

    # experts assigned on the work page, each scores through the API
    experts = [user("expert1"), user("expert2")]
    for application in (strong, weak):
        assign = coordinator.post(reverse("portal:scoring-assign", args=[application.case.pk]),
                                  {"experts": [e.pk for e in experts]})
        assert assign.status_code == 302
    for application, mark in ((strong, 8), (weak, 3)):
        for expert in experts:
            sheet = ScoreSheet.objects.get(application=application, expert=expert)
            scores = {c.code: mark for c in rnd.criteria.all()}
            response = api(expert.username).post(f"/api/score-sheets/{sheet.pk}/transitions/submit/",
                                                 {"data": {"scores": scores}}, format="json")
            assert response.status_code == 200, response.content

    # closing the scoring: a task in the coordinators' queue for each selection
    for application in (strong, weak):
        selection = Selection.objects.get(application=application)
        task = task_of(coordinator, selection, "complete_scoring")
        assert coordinator.post(f"/api/tasks/{task['id']}/complete/", {}, format="json").status_code == 200
    strong_selection, weak_selection = (Selection.objects.get(application=a) for a in (strong, weak))
    assert (strong_selection.state, strong_selection.score, weak_selection.score) == ("scored", 80, 30)

    # discussing needs the ranking: computed when the round's discussion starts
    early = coordinator.post(f"/api/selections/{strong_selection.pk}/transitions/discuss/", {}, format="json")
    assert_error(early, 400, "condition_unmet")
    task = task_of(coordinator, rnd, "start_discussion")
    assert coordinator.post(f"/api/tasks/{task['id']}/complete/", {}, format="json").status_code == 200
    assert [(s.application_id, s.rank) for s in Selection.objects.filter(round=rnd).order_by("rank")] == [
        (strong.pk, 1), (weak.pk, 2)]
    for selection in (strong_selection, weak_selection):  # the partner discusses, by name
        response = partner.post(f"/api/selections/{selection.pk}/transitions/discuss/", {"comment": "jointly"},
                                format="json")
        assert response.status_code == 200 and response.json()["state"] == "discussed"

    # the decision: select (a task), reject with the reason (the case page)
    task = task_of(coordinator, strong_selection, "select")
    assert task["outcomes"] == ["select", "reject"]
    assert coordinator.post(f"/api/tasks/{task['id']}/complete/", {"transition": "select"},
                            format="json").status_code == 200
    below = coordinator.post(f"/api/selections/{weak_selection.pk}/transitions/select/", {}, format="json")
    assert_error(below, 400, "condition_unmet")
    case_page = coordinator.get(reverse("portal:case-detail", args=[weak.case.pk])).content.decode()
    assert 'id="selection-transitions-reject"' in case_page
    response = coordinator.post(reverse("portal:selection-transition", args=[weak.case.pk, "reject"]),
                                {"comment": "Score 30 is below the pass mark 60."})
    assert response.status_code == 302
    weak_selection.refresh_from_db()
    assert (weak_selection.state, weak_selection.decision_reason) == ("not_selected",
                                                                     "Score 30 is below the pass mark 60.")

    # the round: decide (minutes) and publish (decision notices), from the round page
    task = task_of(coordinator, rnd, "decide")
    assert coordinator.post(f"/api/tasks/{task['id']}/complete/", {}, format="json").status_code == 200
    assert documents(rnd.code) == ["selection_minutes"]
    response = coordinator.post(reverse("portal:round-transition", args=[rnd.code, "publish"]))
    assert response.status_code == 302
    rnd.refresh_from_db()
    assert rnd.state == "published"
    assert documents(strong.case.ref) == ["application_receipt", "decision_notice", "score_sheet", "score_sheet"]

    # the cases follow the decision; nothing is left in the coordinators' queue for this round
    assert coordinator.post(f"/api/cases/{strong.case.pk}/transitions/advance_to_diagnosis/", {},
                            format="json").status_code == 200
    assert coordinator.post(f"/api/cases/{weak.case.pk}/transitions/close_not_selected/", {},
                            format="json").status_code == 200
    tasks = coordinator.get("/api/tasks/", {"page_size": 100}).json()["results"]
    assert not [t for t in tasks if t["case"] in (strong.case.pk, weak.case.pk)
                or (t["object"] and t["object"]["type"] == "rounds.round" and t["object"]["id"] == rnd.pk)]
    assert verify_chains(chains=[strong.case.ref, weak.case.ref, rnd.code]).ok


def test_selection_and_round_endpoints_refuse_bad_requests(api):
    selection = Selection.objects.get(application__case=case("A1"))
    coordinator = api("coordinator")
    entries = AuditEntry.objects.count()
    assert_error(coordinator.post(f"/api/rounds/TC-2017/transitions/nope/", {}, format="json"), 400)
    assert_error(coordinator.post("/api/rounds/TC-2017/transitions/open_applications/", {}, format="json"), 409)
    assert_error(api("applicant-a1").post("/api/rounds/TC-2017/transitions/close_applications/", {},
                                          format="json"), 403)
    assert_error(coordinator.get("/api/rounds/NO-SUCH/"), 404)
    assert coordinator.get("/api/rounds/TC%002017/").status_code == 404
    assert_error(coordinator.post(f"/api/selections/{selection.pk}/transitions/discuss/", {}, format="json"), 409)
    assert_error(coordinator.post(f"/api/selections/{selection.pk}/transitions/discuss/", {"data": "x"},
                                  format="json"), 400)
    for outsider in ("applicant-a1", "expert1", "signatory1"):
        assert_error(api(outsider).get(f"/api/selections/{selection.pk}/"), 404)
        assert_error(api(outsider).post(f"/api/selections/{selection.pk}/transitions/reject/", {},
                                        format="json"), 404)
    assert_error(api("auditor").post(f"/api/selections/{selection.pk}/transitions/reject/", {}, format="json"), 403)
    portal = api("coordinator")
    assert portal.post(reverse("portal:round-transition", args=["NO-SUCH", "publish"])).status_code == 404
    assert portal.post(reverse("portal:round-transition", args=["TC-2017", "nope"])).status_code == 400
    assert portal.get(reverse("portal:round-transition", args=["TC-2017", "publish"])).status_code == 405
    assert portal.post(reverse("portal:selection-transition", args=[case("A9").pk, "reject"])).status_code == 404
    assert portal.post(reverse("portal:selection-transition", args=[case("A1").pk, "nope"])).status_code == 400
    assert AuditEntry.objects.count() == entries


def test_selection_and_round_are_readable_with_their_transitions(api):
    body = api("auditor").get("/api/rounds/TC-2017/").json()
    assert body["state"] == "published" and body["transitions"] == []
    selections = api("coordinator").get("/api/selections/", {"round__code": "TC-2017", "state": "selected"}).json()
    assert sorted(s["case_ref"] for s in selections["results"]) == [f"TC-2017/{n}" for n in ("A1", "A4", "A5", "A7")]
    assert api("applicant-a1").get("/api/selections/").json()["results"] == []


# -- F4: a quarter's report before its acceptance ----------------------------------------------------

def test_a_quarter_is_accepted_only_with_its_own_report(api):
    c = case("A5")
    implementation = c.implementation
    coordinator = api("coordinator")
    task = task_of(coordinator, implementation, "start_reporting")
    assert coordinator.post(f"/api/tasks/{task['id']}/complete/", {}, format="json").status_code == 200
    task = task_of(coordinator, implementation, "accept_report")
    early = coordinator.post(f"/api/tasks/{task['id']}/complete/", {}, format="json")
    assert_error(early, 400, "condition_unmet")  # Q1 was accepted; Q2 has no report yet
    implementation.refresh_from_db()
    assert implementation.state == "reporting"

    positions = list(c.plan.actions.order_by("position").values_list("position", flat=True))
    url = f"/api/cases/{c.pk}/monitoring-reports/"
    q1 = implementation.reports.get()
    bad = [{"year": q1.year, "quarter": 5, "actuals": {str(p): 1 for p in positions}},
           {"year": "soon", "quarter": 2, "actuals": {str(p): 1 for p in positions}},
           {"year": q1.year, "quarter": 2, "actuals": {str(p): 1 for p in positions[1:]}},
           {"year": q1.year, "quarter": 2, "actuals": {**{str(p): 1 for p in positions}, "99": 1}},
           {"year": q1.year, "quarter": 2, "actuals": {**{str(p): 1 for p in positions}, "1": "NaN"}},
           {"year": q1.year, "quarter": 2, "actuals": {**{str(p): 1 for p in positions}, "1": -4}},
           {"year": q1.year, "quarter": 2, "actuals": {str(p): 1 for p in positions}, "summary": "a\x00b"},
           {"year": q1.year, "quarter": 2, "actuals": "all"},
           {"year": q1.year, "quarter": 2, "actuals": {**{str(p): 1 for p in positions}, "²": 1}},
           {"year": "²⁰¹⁸", "quarter": 2, "actuals": {str(p): 1 for p in positions}},
           {"year": q1.year, "quarter": [2], "actuals": {str(p): {"v": 1} for p in positions}}]
    for body in bad:
        answer = assert_error(coordinator.post(url, body, format="json"), 400)
        assert answer["details"]["fields"], body
    assert_error(coordinator.post(url, {"year": q1.year, "quarter": 1, "actuals": {str(p): 1 for p in positions}},
                                  format="json"), 409)  # Q1 is accepted already
    assert_error(api("auditor").post(url, {"year": q1.year, "quarter": 2, "actuals": {}}, format="json"), 403)
    assert_error(api("applicant-a1").post(url, {"year": q1.year, "quarter": 2, "actuals": {}}, format="json"), 404)
    assert implementation.reports.count() == 1

    response = coordinator.post(url, {"year": q1.year, "quarter": 2, "summary": "second quarter",
                                      "actuals": {str(p): f"{p}.5" for p in positions}}, format="json")
    assert response.status_code == 201, response.content
    report = response.json()
    assert (report["quarter"], report["accepted_at"], len(report["values"])) == (2, None, len(positions))
    response = coordinator.post(f"/api/tasks/{task['id']}/complete/", {}, format="json")
    assert response.status_code == 200, response.content
    implementation.refresh_from_db()
    assert implementation.state == "active"
    assert implementation.reports.get(quarter=2).accepted_at is not None
    assert Document.objects.filter(owner_ref=c.ref, kind="monitoring_report", key=f"{q1.year}Q2").exists()
    recorded = AuditEntry.objects.filter(chain=c.ref, transition="report_recorded").latest("seq")
    assert recorded.data["actuals"]["1"] == "1.5"


def test_the_report_page_records_a_quarter(api):
    c = case("A4")
    coordinator = api("coordinator")
    url = reverse("portal:monitoring-report", args=[c.pk])
    page = coordinator.get(url)
    assert page.status_code == 200 and 'name="actual-1"' in page.content.decode()
    assert api("auditor").get(url).status_code == 403
    year = c.implementation.reports.get().year
    actions = list(c.plan.actions.order_by("position"))
    bad = coordinator.post(url, {"year": year, "quarter": "2", "actual-1": "x"})
    assert bad.status_code == 400 and 'id="report-problems"' in bad.content.decode()
    complete = {f"actual-{a.position}": "3" for a in actions}
    for values in ({"year": year, "quarter": "9", **complete}, {"year": "20x8", "quarter": "2", **complete},
                   {"year": year, "quarter": "2", **complete, "actual-99": "1"},
                   {"year": year, "quarter": "2", **complete, "actual-1": "1e999999"},
                   {"year": year, "quarter": "2", **complete, "summary": "x" * 4001}):
        assert coordinator.post(url, values).status_code == 400, values
    assert c.implementation.reports.count() == 1
    done = coordinator.post(url, {"year": year, "quarter": "2", "summary": "ok",
                                  **{f"actual-{a.position}": "3" for a in actions}})
    assert done.status_code == 302
    implementation = type(c.implementation).objects.get(pk=c.implementation.pk)
    assert implementation.state == "reporting" and implementation.reports.filter(quarter=2, accepted_at=None).exists()
    case_page = coordinator.get(reverse("portal:case-detail", args=[c.pk])).content.decode()
    assert 'id="monitoring-report-link"' in case_page


# -- F12: the target of resume ----------------------------------------------------------------------

def test_resume_shows_the_stage_it_returns_to(api):
    coordinator = api("coordinator")
    c = case("A7")
    assert coordinator.post(f"/api/cases/{c.pk}/transitions/suspend/", {}, format="json").status_code == 200
    options = {o["name"]: o for o in coordinator.get(f"/api/cases/{c.pk}/transitions/").json()}
    assert options["resume"]["target"] == "implementation"
    detail = coordinator.get(f"/api/cases/{c.pk}/").json()
    assert {o["name"]: o["target"] for o in detail["transitions"]}["resume"] == "implementation"
    page = coordinator.get(reverse("portal:case-detail", args=[c.pk])).content.decode()
    assert "RETURN_VALUE" not in page and "object at 0x" not in page
    # nothing recorded to return to: null, never a repr
    Case.objects.filter(pk=c.pk).update(suspended_from="")
    options = {o["name"]: o for o in coordinator.get(f"/api/cases/{c.pk}/transitions/").json()}
    assert options["resume"]["target"] is None


# -- F13: run_cycle and people's work ---------------------------------------------------------------

def test_run_cycle_refuses_a_round_with_people_s_work(api, round_file):
    from processes.rounds.importer import import_round
    from processes.submission.services import file_new_application

    path = round_file(lambda d: d["round"].update(code="TC-PEOPLE"))
    rnd = import_round(path).round
    from workflow.transitions import perform

    perform(rnd, "open_applications", actor=user("coordinator"))
    application = file_new_application(round=rnd, applicant=user("applicant-a1"),
                                       values={"name_en": "A person's draft", **FIGURES})
    entries = AuditEntry.objects.count()
    with pytest.raises(CommandError) as info:
        call_command("run_cycle", str(path), stdout=io.StringIO())
    assert info.value.returncode == 3
    assert f"{application.case.ref} belongs to applicant applicant-a1" in str(info.value)
    application.refresh_from_db()
    assert application.state == "draft" and AuditEntry.objects.count() == entries


def test_run_cycle_never_submits_an_expert_s_draft(api):
    from processes.cycle import CycleRunner, HumanWork, human_work
    from processes.rounds.actors import ensure_cycle_actors
    from processes.selection.models import Score

    rnd = open_round("T-DRAFT")
    application = filed(api, rnd)
    coordinator = api("coordinator")
    assert coordinator.post(f"/api/applications/{application.pk}/transitions/accept/", {},
                            format="json").status_code == 200
    actors = ensure_cycle_actors(rnd)
    from processes.selection.services import open_scoring, save_draft_scores

    application.refresh_from_db()

    open_scoring(application=application, experts=actors.experts)
    sheet = ScoreSheet.objects.get(application=application, expert=user("expert1"))
    save_draft_scores(sheet=sheet, scores={"C1": (5, "")}, actor=user("expert1"))
    found = human_work(rnd, actors)
    assert any("expert1 has saved draft scores" in line for line in found), found
    entries = AuditEntry.objects.count()
    with pytest.raises(HumanWork):
        CycleRunner(rnd).run()
    sheet.refresh_from_db()
    assert sheet.state == "draft" and Score.objects.filter(sheet=sheet).count() == 1
    assert AuditEntry.objects.count() == entries
