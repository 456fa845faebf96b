"""The case page's stage forms (processes/portal/stages.py): a coordinator creates the diagnosis
and records its area assessment, drafts/edits/submits the development plan and proposes a support
measure from the web UI, with the same results as the stage objects API (objects, documents with
their sha256, audit entries, chain intact); other roles get 403, a wrong stage or state 409, bad
input the form again with 400 and nothing changed.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from documents.models import DocumentVersion
from processes.diagnosis.models import Diagnosis
from processes.planning.models import Plan
from processes.rounds.models import Case
from processes.support.models import SupportMeasure
from workflow.audit import verify_chains
from workflow.models import AuditEntry

from . import roles_support
from .roles_support import as_user, user

people = roles_support.people  # the module's fixture (demo users)
pytestmark = pytest.mark.django_db

#: Roles refused by every stage form (403), whoever sees the case or not.
REFUSED = ("auditor", "expert1", "signatory1", "applicant-a1")


def bare_cases(count: int, state: str) -> list[Case]:
    """``count`` cases of the 2017 round without any stage object, put in ``state`` (as a
    selected case is after the matching ``advance_to_*``)."""
    found = list(Case.objects.filter(diagnosis__isnull=True, plan__isnull=True, support_measures__isnull=True)
                 .distinct().order_by("number")[:count])
    assert len(found) == count
    Case.objects.filter(pk__in=[c.pk for c in found]).update(state=state)
    return [Case.objects.select_related("round").get(pk=c.pk) for c in found]


def url(name: str, c: Case) -> str:
    return reverse(f"portal:stage-{name}", args=[c.pk])


def api_client(username: str = "coordinator") -> APIClient:
    client = APIClient()
    client.force_login(user(username))
    return client


def trail(c: Case, since: int = 0) -> list[tuple]:
    """The case's audit entries after ``since`` as (object type, transition, from, to)."""
    return list(AuditEntry.objects.filter(chain=c.ref, seq__gt=since).order_by("seq")
                .values_list("object_type", "transition", "from_state", "to_state"))


def contents(c: Case, since: int = 0) -> list[dict]:
    """The data of the case's content entries (created, content_changed, start_coordination) after ``since``."""
    return list(AuditEntry.objects.filter(chain=c.ref, seq__gt=since,
                                          transition__in=["created", "content_changed", "start_coordination"])
                .order_by("seq").values_list("data", flat=True))


def waiting(obj) -> list[str]:
    """The transitions of ``obj``'s open tasks (what the inbox now offers on it)."""
    from workflow.tasks import open_tasks_for, task_data

    return [task_data(t)["transition"] for t in open_tasks_for(obj)]


def head(c: Case) -> int:
    return AuditEntry.objects.filter(chain=c.ref).count()


def versions(c: Case) -> dict[str, list[str]]:
    """``{document kind: [sha256 of each version]}`` of the case's documents."""
    found: dict[str, list[str]] = {}
    for kind, sha in (DocumentVersion.objects.filter(document__owner_ref=c.ref).order_by("pk")
                      .values_list("document__kind", "sha256")):
        found.setdefault(kind, []).append(sha)
    return found


def snapshot(c: Case) -> tuple:
    """Everything a refused request must leave as it was."""
    c = Case.objects.get(pk=c.pk)
    diagnosis = Diagnosis.objects.filter(case=c).first()
    plan = Plan.objects.filter(case=c).first()
    return (c.state, head(c), versions(c),
            diagnosis and (diagnosis.state, diagnosis.assessors, list(diagnosis.areas.values_list("area", "score_pct"))),
            plan and (plan.state, plan.vision, list(plan.actions.values_list("measure", "budget_kzt", "deadline"))),
            list(SupportMeasure.objects.filter(case=c).values_list("title", "state")))


def page(client, name, c):
    response = client.get(url(name, c))
    return response, response.content.decode()


def fields_of(html: str) -> dict[str, str]:
    """The hidden inputs of a page (``state``, ``fingerprint``, ``measures``)."""
    return dict(re.findall(r'<input type="hidden" name="(state|fingerprint|measures)" value="([^"]*)">', html))


def scores(c: Case, pct="70", **extra) -> dict:
    return {**{f"score-{n}": pct for n in range(1, len(c.round.diagnosis_areas) + 1)},
            **{f"finding-{n}": f"finding {n}" for n in range(1, len(c.round.diagnosis_areas) + 1)}, **extra}


ROW = {"measure": "Cluster organisation", "responsible": "Coordinating body", "deadline": "30.06.2018",
       "budget_kzt": "15 000 000", "kpi": "Members", "kpi_target": "45", "kpi_unit": "firms"}
API_ACTION = {"measure": "Cluster organisation", "responsible": "Coordinating body", "deadline": "2018-06-30",
              "budget_kzt": "15000000.00", "kpi": "Members", "kpi_target": "45", "kpi_unit": "firms"}


def rows(*actions: dict) -> dict:
    return {f"row-{n}-{k}": v for n, action in enumerate(actions, 1) for k, v in action.items()}


# -- the happy paths, equal to the API's -----------------------------------------------------------

def test_the_diagnosis_form_does_what_the_api_does(people, client):
    web, api = bare_cases(2, Case.State.DIAGNOSIS)
    marks = {c.pk: head(c) for c in (web, api)}
    as_user(client, "coordinator")
    response, html = page(client, "diagnosis", web)
    assert response.status_code == 200 and 'id="diagnosis-create-form"' in html
    assert client.post(url("diagnosis", web), {"state": "", "assessors": "KIID"}).status_code == 302
    response, html = page(client, "diagnosis", web)
    assert fields_of(html) == {"state": "planned"}
    assert client.post(url("diagnosis", web), {"state": "planned"}).status_code == 302
    response, html = page(client, "diagnosis", web)
    assert fields_of(html) == {"state": "fieldwork"}
    for area in web.round.diagnosis_areas:
        assert area in html
    response = client.post(url("diagnosis", web), {"state": "fieldwork", **scores(web, "70,5")})
    assert response.status_code == 302 and response["Location"] == reverse("portal:case-detail", args=[web.pk])

    coordinator = api_client()
    d = coordinator.post("/api/diagnoses/", {"case": api.pk, "assessors": "KIID"}, format="json").json()
    coordinator.post(f"/api/diagnoses/{d['id']}/transitions/start_fieldwork/", {}, format="json")
    body = {"areas": [{"area": a, "score_pct": "70.5", "finding": f"finding {n}"}
                      for n, a in enumerate(api.round.diagnosis_areas, 1)]}
    assert coordinator.post(f"/api/diagnoses/{d['id']}/assessment/", body, format="json").status_code == 200

    made = {c.pk: Diagnosis.objects.get(case=c) for c in (web, api)}
    assert made[web.pk].state == made[api.pk].state == "draft_report"
    assert waiting(made[web.pk]) == waiting(made[api.pk]) == ["open_discussion"]
    assert made[web.pk].overall_pct == made[api.pk].overall_pct == Decimal("70.50")
    assert (list(made[web.pk].areas.values_list("position", "area", "score_pct", "finding"))
            == list(made[api.pk].areas.values_list("position", "area", "score_pct", "finding")))
    assert trail(web, marks[web.pk]) == trail(api, marks[api.pk])
    assert contents(web, marks[web.pk]) == contents(api, marks[api.pk]) == [{"assessors": "KIID"}]
    assert ("diagnosis.diagnosis", "created", "planned", "planned") in trail(web, marks[web.pk])
    assert ("diagnosis.diagnosis", "draft_report", "fieldwork", "draft_report") in trail(web, marks[web.pk])
    report = versions(web)["diagnosis_report"]
    assert len(report) == 1 and re.fullmatch(r"[0-9a-f]{64}", report[0])
    assert len(versions(api)["diagnosis_report"]) == 1
    assert verify_chains([web.ref, api.ref]).ok


def test_the_plan_form_creates_edits_and_submits_like_the_api(people, client):
    web, api = bare_cases(2, Case.State.PLANNING)
    marks = {c.pk: head(c) for c in (web, api)}
    as_user(client, "coordinator")
    response, html = page(client, "plan", web)
    assert response.status_code == 200 and fields_of(html) == {"fingerprint": ""}
    second = {**ROW, "budget_kzt": "5000000", "deadline": "2018-12-31"}  # ISO accepted too
    response = client.post(url("plan", web), {"fingerprint": "", "vision": "V", "governance": "G", "do": "save",
                                              **rows(ROW, second), "row-3-measure": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = Plan.objects.get(case=web)
    assert plan.state == "drafting" and plan.total_budget_kzt == Decimal("20000000")
    response, html = page(client, "plan", web)
    assert "30.06.2018" in html and "31.12.2018" in html  # shown as dd.mm.yyyy
    shown = fields_of(html)["fingerprint"]
    assert shown
    response = client.post(url("plan", web), {"fingerprint": shown, "vision": "V", "governance": "G",
                                              "do": "submit", **rows(ROW)})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.state == "review" and plan.total_budget_kzt == Decimal("15000000")

    coordinator = api_client()
    made = coordinator.post("/api/plans/", {"case": api.pk, "vision": "V", "governance": "G",
                                            "actions": [API_ACTION, {**API_ACTION, "budget_kzt": "5000000",
                                                                     "deadline": "2018-12-31"}]},
                            format="json").json()
    assert coordinator.patch(f"/api/plans/{made['id']}/", {"vision": "V", "governance": "G", "actions": [API_ACTION]},
                             format="json").status_code == 200
    coordinator.post(f"/api/plans/{made['id']}/transitions/submit_for_review/", {}, format="json")

    plans = {c.pk: Plan.objects.get(case=c) for c in (web, api)}
    fields = ("position", "measure", "responsible", "deadline", "budget_kzt", "kpi", "kpi_target", "kpi_unit")
    assert (list(plans[web.pk].actions.values_list(*fields)) == list(plans[api.pk].actions.values_list(*fields)))
    assert plans[web.pk].state == plans[api.pk].state == "review"
    assert waiting(plans[web.pk]) == waiting(plans[api.pk]) == ["send_for_signing"]
    assert trail(web, marks[web.pk]) == trail(api, marks[api.pk]) == [
        ("planning.plan", "created", "drafting", "drafting"),
        ("planning.plan", "content_changed", "drafting", "drafting"),
        ("planning.plan", "submit_for_review", "drafting", "review")]
    assert contents(web, marks[web.pk]) == contents(api, marks[api.pk])
    created = AuditEntry.objects.get(chain=web.ref, seq=marks[web.pk] + 1)
    assert created.data["actions"][0]["budget_kzt"] == "15000000.00" and created.data["actions"][0]["deadline"] == \
        "2018-06-30"
    assert verify_chains([web.ref, api.ref]).ok
    # the plan under review is not editable from the form any more
    response, html = page(client, "plan", web)
    assert response.status_code == 409 and "“review”" in html


def test_a_plan_returned_for_revision_is_edited_and_resubmitted(people, client):
    from workflow.transitions import perform

    [c] = bare_cases(1, Case.State.PLANNING)
    as_user(client, "coordinator")
    assert client.post(url("plan", c), {"fingerprint": "", "do": "submit", **rows(ROW)}).status_code == 302
    plan = Plan.objects.get(case=c)
    perform(plan, "request_revision", actor=user("partner"), comment="more firms")
    response, html = page(client, "plan", c)
    assert response.status_code == 200
    response = client.post(url("plan", c), {"fingerprint": fields_of(html)["fingerprint"], "do": "submit",
                                            **rows({**ROW, "kpi_target": "60"})})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.state == "resubmitted" and plan.actions.get().kpi_target == 60
    assert trail(c)[-2:] == [("planning.plan", "content_changed", "revision_requested", "revision_requested"),
                             ("planning.plan", "resubmit", "revision_requested", "resubmitted")]


def test_the_support_form_proposes_a_measure_like_the_api(people, client):
    web, api = bare_cases(2, Case.State.SUPPORT)
    marks = {c.pk: head(c) for c in (web, api)}
    as_user(client, "coordinator")
    response, html = page(client, "support", web)
    assert response.status_code == 200 and fields_of(html) == {"measures": "0"}
    response = client.post(url("support", web), {
        "measures": "0", "title": "Reimbursement", "amount_kzt": "60 000 000,00", "reimbursement_pct": "75",
        "legal_basis": "Order 1194", "bodies": "Ministry\r\n\r\nAkimat\r\n"})
    assert response.status_code == 302
    api_client().post("/api/support-measures/", {
        "case": api.pk, "title": "Reimbursement", "amount_kzt": "60000000", "reimbursement_pct": "75",
        "legal_basis": "Order 1194", "bodies": ["Ministry", "Akimat"]}, format="json")
    made = {c.pk: SupportMeasure.objects.get(case=c) for c in (web, api)}
    for field in ("title", "amount_kzt", "reimbursement_pct", "legal_basis", "state"):
        assert getattr(made[web.pk], field) == getattr(made[api.pk], field), field
    assert made[web.pk].state == "coordination"
    assert ([waiting(p) for p in made[web.pk].positions.all()] == [waiting(p) for p in made[api.pk].positions.all()]
            == [["agree"], ["agree"]])
    assert (list(made[web.pk].positions.values_list("body", "state"))
            == list(made[api.pk].positions.values_list("body", "state")) == [("Ministry", "pending"),
                                                                             ("Akimat", "pending")])
    assert trail(web, marks[web.pk]) == trail(api, marks[api.pk])
    assert contents(web, marks[web.pk]) == contents(api, marks[api.pk])
    assert trail(web, marks[web.pk])[-1] == ("support.supportmeasure", "start_coordination", "proposed", "coordination")
    assert verify_chains([web.ref, api.ref]).ok
    response, html = page(client, "support", web)
    assert fields_of(html) == {"measures": "1"} and "Reimbursement" in html


# -- who may use them ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,state", [("diagnosis", Case.State.DIAGNOSIS), ("plan", Case.State.PLANNING),
                                        ("support", Case.State.SUPPORT)])
@pytest.mark.parametrize("username", REFUSED)
def test_other_roles_get_403_and_change_nothing(people, client, name, state, username):
    [c] = bare_cases(1, state)
    before = snapshot(c)
    as_user(client, username)
    assert client.get(url(name, c)).status_code == 403
    body = {"state": "", "fingerprint": "", "measures": "0", "title": "T", "amount_kzt": "1",
            "reimbursement_pct": "1", "bodies": "B", **rows(ROW)}
    assert client.post(url(name, c), body).status_code == 403
    assert snapshot(c) == before


@pytest.mark.parametrize("username", ["partner", "admin"])
def test_partner_coordinators_and_administrators_may_use_them(people, client, username):
    [c] = bare_cases(1, Case.State.DIAGNOSIS)
    as_user(client, username)
    assert client.post(url("diagnosis", c), {"state": ""}).status_code == 302
    assert Diagnosis.objects.get(case=c).state == "planned"


def test_anonymous_users_go_to_the_login_page_and_unknown_cases_are_404(people, client):
    [c] = bare_cases(1, Case.State.DIAGNOSIS)
    response = client.get(url("diagnosis", c))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    as_user(client, "coordinator")
    assert client.get(reverse("portal:stage-plan", args=[10 ** 9])).status_code == 404


def test_the_case_page_links_the_form_of_its_stage_for_coordinators_only(people, client):
    diagnosis, planning, support = bare_cases(3, Case.State.DIAGNOSIS)
    Case.objects.filter(pk=planning.pk).update(state=Case.State.PLANNING)
    Case.objects.filter(pk=support.pk).update(state=Case.State.SUPPORT)
    as_user(client, "coordinator")
    for c, name in ((diagnosis, "diagnosis"), (planning, "plan"), (support, "support")):
        html = client.get(reverse("portal:case-detail", args=[c.pk])).content.decode()
        assert f'href="{url(name, c)}"' in html
    implementation = Case.objects.get(ref="TC-2017/A1")
    assert 'id="stage-form-link"' not in client.get(reverse("portal:case-detail", args=[implementation.pk])).content.decode()
    as_user(client, "auditor")
    assert 'id="stage-form-link"' not in client.get(reverse("portal:case-detail", args=[planning.pk])).content.decode()


# -- wrong stage, wrong or stale state: 409 ----------------------------------------------------------

def test_a_case_in_another_stage_is_409_for_every_form(people, client):
    [c] = bare_cases(1, Case.State.IMPLEMENTATION)
    before = snapshot(c)
    as_user(client, "coordinator")
    for name in ("diagnosis", "plan", "support"):
        response = client.get(url(name, c))
        assert response.status_code == 409 and "“implementation”" in response.content.decode()
        assert client.post(url(name, c), {"state": "", "fingerprint": "", "measures": "0", "title": "T",
                                          "amount_kzt": "1", "reimbursement_pct": "1", "bodies": "B"}).status_code == 409
    assert snapshot(c) == before


def test_done_stage_objects_are_409(people, client):
    a1 = Case.objects.get(ref="TC-2017/A1")  # the cycle approved its diagnosis and plan
    Case.objects.filter(pk=a1.pk).update(state=Case.State.DIAGNOSIS)
    as_user(client, "coordinator")
    response = client.get(url("diagnosis", a1))
    assert response.status_code == 409 and "“approved”" in response.content.decode()
    Case.objects.filter(pk=a1.pk).update(state=Case.State.PLANNING)
    before = snapshot(a1)
    response = client.post(url("plan", a1), {"fingerprint": "", "do": "save", **rows(ROW)})
    assert response.status_code == 409 and "“approved”" in response.content.decode()
    assert snapshot(a1) == before


def test_stale_forms_are_409_and_change_nothing(people, client):
    diagnosis_case, plan_case, support_case = bare_cases(3, Case.State.DIAGNOSIS)
    as_user(client, "coordinator")
    # the diagnosis: a second "create" (double click) once it exists
    assert client.post(url("diagnosis", diagnosis_case), {"state": ""}).status_code == 302
    before = snapshot(diagnosis_case)
    assert client.post(url("diagnosis", diagnosis_case), {"state": ""}).status_code == 409
    # a form shown in fieldwork, posted while the diagnosis is still planned
    assert client.post(url("diagnosis", diagnosis_case), {"state": "fieldwork", **scores(diagnosis_case)}).status_code \
        == 409
    assert snapshot(diagnosis_case) == before
    # the plan: changed by somebody else (the API) after the page was shown
    Case.objects.filter(pk=plan_case.pk).update(state=Case.State.PLANNING)
    assert client.post(url("plan", plan_case), {"fingerprint": "", "do": "save", **rows(ROW)}).status_code == 302
    shown = fields_of(page(client, "plan", plan_case)[1])["fingerprint"]
    api_client("partner").patch(f"/api/plans/{Plan.objects.get(case=plan_case).pk}/", {"vision": "theirs"},
                                format="json")
    before = snapshot(plan_case)
    response = client.post(url("plan", plan_case), {"fingerprint": shown, "vision": "mine", "do": "save", **rows(ROW)})
    assert response.status_code == 409 and "Nothing was saved" in response.content.decode()
    # a creation form posted twice
    assert client.post(url("plan", plan_case), {"fingerprint": "", "do": "save", **rows(ROW)}).status_code == 409
    assert snapshot(plan_case) == before
    # the support measure: a second post of the same form does not propose it twice
    Case.objects.filter(pk=support_case.pk).update(state=Case.State.SUPPORT)
    body = {"measures": "0", "title": "T", "amount_kzt": "1", "reimbursement_pct": "50", "bodies": "Ministry"}
    assert client.post(url("support", support_case), body).status_code == 302
    before = snapshot(support_case)
    assert client.post(url("support", support_case), body).status_code == 409
    assert snapshot(support_case) == before


# -- bad input: 400, the form again, nothing changed ---------------------------------------------------

def problems_of(response) -> str:
    assert response.status_code == 400, response.status_code
    html = response.content.decode()
    assert 'id="stage-problems"' in html or 'id="stage-general"' in html
    return html


@pytest.mark.parametrize("bad", [
    {}, {"score-1": ""}, {"score-1": "-5"}, {"score-1": "101"}, {"score-1": "100.001"}, {"score-1": "abc"},
    {"score-1": "1e2"}, {"score-1": "9" * 40}, {"score-1": "٥٠"}, {"finding-2": "x" * 4001}, {"score-99": "50"},
])
def test_bad_area_scores_are_400_and_change_nothing(people, client, bad):
    [c] = bare_cases(1, Case.State.DIAGNOSIS)
    as_user(client, "coordinator")
    client.post(url("diagnosis", c), {"state": ""})
    client.post(url("diagnosis", c), {"state": "planned"})
    before = snapshot(c)
    body = {"state": "fieldwork", **(scores(c) if bad else {}), **bad}
    html = problems_of(client.post(url("diagnosis", c), body))
    assert 'id="diagnosis-assessment-form"' in html
    assert snapshot(c) == before and Diagnosis.objects.get(case=c).state == "fieldwork"


@pytest.mark.parametrize("bad,field", [
    ({"budget_kzt": "-1"}, "row-1-budget_kzt"),
    ({"budget_kzt": "10000000000000"}, "row-1-budget_kzt"),  # above 9 999 999 999 999.99
    ({"budget_kzt": "1" * 200}, "row-1-budget_kzt"),
    ({"budget_kzt": "12.345"}, "row-1-budget_kzt"),
    ({"budget_kzt": "NaN"}, "row-1-budget_kzt"),
    ({"kpi_target": "1000000000000"}, "row-1-kpi_target"),
    ({"deadline": "31.02.2018"}, "row-1-deadline"),
    ({"deadline": "2018-13-01"}, "row-1-deadline"),
    ({"deadline": "06/30/2018"}, "row-1-deadline"),
    ({"deadline": "tomorrow"}, "row-1-deadline"),
    ({"kpi": ""}, "row-1-kpi"),
    ({"responsible": "x" * 301}, "row-1-responsible"),
    ({"colour": "red"}, "row-1-colour"),
])
def test_bad_plan_rows_are_400_and_change_nothing(people, client, bad, field):
    [c] = bare_cases(1, Case.State.PLANNING)
    as_user(client, "coordinator")
    before = snapshot(c)
    html = problems_of(client.post(url("plan", c), {"fingerprint": "", "do": "save", **rows({**ROW, **bad})}))
    assert f'data-field="{field}"' in html
    assert 'id="plan-form"' in html and snapshot(c) == before and not Plan.objects.filter(case=c).exists()


def test_the_plan_form_keeps_what_was_typed_and_refuses_an_empty_submission(people, client):
    [c] = bare_cases(1, Case.State.PLANNING)
    as_user(client, "coordinator")
    before = snapshot(c)
    assert 'data-field="do"' in problems_of(client.post(url("plan", c), {}))  # neither button: nothing created
    assert 'data-field="do"' in problems_of(client.post(url("plan", c), {"fingerprint": "", "do": "fly", **rows(ROW)}))
    response = client.post(url("plan", c), {"fingerprint": "", "do": "save", "vision": "kept",
                                            **rows({**ROW, "deadline": "32.01.2018"})})
    html = problems_of(response)
    assert "kept" in html and "32.01.2018" in html and "Cluster organisation" in html
    # submitting a plan without any action: the condition is unmet, the new plan is not kept either
    html = problems_of(client.post(url("plan", c), {"fingerprint": "", "do": "submit", "vision": "v"}))
    assert 'id="stage-general"' in html and "“submit for review”" in html
    assert 'name="row-1-measure"' in html  # empty rows to fill in
    assert snapshot(c) == before and not Plan.objects.filter(case=c).exists()


@pytest.mark.parametrize("bad,field", [
    ({"title": ""}, "title"), ({"title": "x" * 301}, "title"), ({"amount_kzt": ""}, "amount_kzt"),
    ({"amount_kzt": "-5"}, "amount_kzt"), ({"amount_kzt": "1" * 30}, "amount_kzt"),
    ({"amount_kzt": "1,5,5"}, "amount_kzt"), ({"reimbursement_pct": "150"}, "reimbursement_pct"),
    ({"bodies": ""}, "bodies"), ({"bodies": "Ministry\nministry "}, "bodies"),
    ({"bodies": "\n".join(f"Body {i}" for i in range(21))}, "bodies"), ({"bodies": "x" * 301}, "bodies"),
])
def test_bad_measures_are_400_and_change_nothing(people, client, bad, field):
    [c] = bare_cases(1, Case.State.SUPPORT)
    as_user(client, "coordinator")
    before = snapshot(c)
    good = {"measures": "0", "title": "T", "amount_kzt": "1", "reimbursement_pct": "50", "bodies": "Ministry"}
    html = problems_of(client.post(url("support", c), {**good, **bad}))
    assert f'data-field="{field}"' in html and snapshot(c) == before


@pytest.mark.parametrize("name,state,body", [
    ("diagnosis", Case.State.DIAGNOSIS, {"state": "", "assessors": "KI\x00ID"}),
    ("plan", Case.State.PLANNING, {"fingerprint": "", "do": "save", **rows({**ROW, "measure": "a\x00b"})}),
    ("support", Case.State.SUPPORT, {"measures": "0", "title": "T\x00", "amount_kzt": "1", "reimbursement_pct": "1",
                                     "bodies": "B"}),
])
def test_nul_characters_are_400_and_change_nothing(people, client, name, state, body):
    [c] = bare_cases(1, state)
    as_user(client, "coordinator")
    before = snapshot(c)
    assert client.post(url(name, c), body).status_code == 400
    assert snapshot(c) == before


def test_the_api_refuses_a_government_body_named_twice(people):
    [c] = bare_cases(1, Case.State.SUPPORT)
    before = snapshot(c)
    response = api_client().post("/api/support-measures/", {
        "case": c.pk, "title": "T", "amount_kzt": "1", "reimbursement_pct": "50", "bodies": ["Ministry", "Ministry"]},
        format="json")
    assert response.status_code == 400 and "bodies" in response.json()["details"]["fields"]
    assert snapshot(c) == before


# -- the shared parsers ----------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [("15 000 000", "15000000"), ("15\u00a0000\u00a0000,50", "15000000.50"),
                                        ("0", "0.00"), ("0.5", "0.50"), ("9999999999999.99", "9999999999999.99")])
def test_amounts_accept_grouping_and_a_decimal_comma(text, value):
    from processes.planning.forms import MAX_KZT
    from processes.stages import parse_decimal

    assert parse_decimal(text, high=MAX_KZT) == Decimal(value)


@pytest.mark.parametrize("text", ["30.06.2018", "2018-06-30", " 30.06.2018 "])
def test_dates_accept_the_shown_and_the_iso_form(text):
    import datetime as dt

    from processes.stages import parse_date

    assert parse_date(text) == dt.date(2018, 6, 30)


# -- a round that names no areas; the pages in Kazakh and Russian ----------------------------------

def test_a_round_without_named_areas_takes_six_named_by_the_assessors(people, client):
    from processes.rounds.models import Round

    [c] = bare_cases(1, Case.State.DIAGNOSIS)
    Round.objects.filter(pk=c.round_id).update(diagnosis_areas=[])
    as_user(client, "coordinator")
    client.post(url("diagnosis", c), {"state": ""})
    client.post(url("diagnosis", c), {"state": "planned"})
    names = {f"area-{n}": f"Area {n}" for n in range(1, 7)}
    before = snapshot(c)
    repeated = {**names, "area-6": "Area 1", **{f"score-{n}": "50" for n in range(1, 7)}}
    html = problems_of(client.post(url("diagnosis", c), {"state": "fieldwork", **repeated}))
    assert 'data-field="areas"' in html and 'name="area-6"' in html
    assert problems_of(client.post(url("diagnosis", c), {"state": "fieldwork", **names, "area-2": "",
                                                         **{f"score-{n}": "50" for n in range(1, 7)}}))
    assert snapshot(c) == before
    response = client.post(url("diagnosis", c), {"state": "fieldwork", **names,
                                                 **{f"score-{n}": str(10 * n) for n in range(1, 7)}})
    assert response.status_code == 302
    diagnosis = Diagnosis.objects.get(case=c)
    assert diagnosis.state == "draft_report" and diagnosis.overall_pct == Decimal("35.00")
    assert list(diagnosis.areas.values_list("area", flat=True)) == [f"Area {n}" for n in range(1, 7)]


@pytest.mark.parametrize("language,title,problem", [
    ("kk", "Даму жоспары", "күн болуы тиіс: кк.аа.жжжж (немесе жжжж-аа-кк)"),
    ("ru", "План развития", "должно быть датой: дд.мм.гггг (или гггг-мм-дд)"),
])
def test_the_plan_form_speaks_the_readers_language(people, client, language, title, problem):
    [c] = bare_cases(1, Case.State.PLANNING)
    as_user(client, "coordinator")
    client.cookies["django_language"] = language
    html = client.get(url("plan", c)).content.decode()
    assert f"<title>{c.ref} · {title}" in html
    html = problems_of(client.post(url("plan", c), {"fingerprint": "", "do": "save",
                                                    **rows({**ROW, "deadline": "31.02.2018"})}))
    assert problem in html


def test_the_plan_form_makes_no_query_per_action(people, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from processes.planning.forms import fingerprint

    [c] = bare_cases(1, Case.State.PLANNING)
    as_user(client, "coordinator")
    counts = []
    for n in (1, 100):
        body = {"do": "save", "fingerprint": fingerprint(Plan.objects.filter(case=c).first()), **rows(*[ROW] * n)}
        with CaptureQueriesContext(connection) as posted:
            assert client.post(url("plan", c), body).status_code == 302
        with CaptureQueriesContext(connection) as shown:
            assert client.get(url("plan", c)).status_code == 200
        counts.append((len(posted), len(shown)))
    assert Plan.objects.get(case=c).actions.count() == 100
    assert counts[1][1] == counts[0][1] and counts[1][0] <= counts[0][0], counts
