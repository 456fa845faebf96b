"""The newcomer's security and data-integrity findings (/work/notes/breaker.md F1, F5-F8b, F14):
control characters, error pages, chunked bodies, scoring after the decision, audit redaction,
admin and delegation rules, auditors' comments.

Data: the session's 2017 sample cycle plus the demo users (``roles_support.people``); each
test runs in its own rolled-back transaction.
"""

from __future__ import annotations

import html
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from processes.rounds.models import Case
from workflow.models import AuditEntry

from . import roles_support
from .roles_support import as_user, case, user

people = roles_support.people

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return html.unescape(response.content.decode())


def snapshot():
    """Every case's state and the number of audit entries."""
    return dict(Case.objects.values_list("ref", "state")), AuditEntry.objects.count()


# -- F1: control characters -----------------------------------------------------------------------

def portal_posts():
    """(username, url, form) of the portal's state-changing forms with a free-text value."""
    a1 = case("A1")
    return [
        ("coordinator", reverse("portal:case-transition", args=[a1.pk, "suspend"]), {"comment": "a\x00b"}),
        ("coordinator", reverse("portal:case-bulk"), {"cases": [a1.pk], "transition": "suspend",
                                                       "comment": "bulk\x00nul"}),
        ("coordinator", reverse("portal:case-comment", args=[a1.pk]), {"text": "x\x01y"}),
        ("auditor", reverse("portal:audit-verify"), {"case": "\x00"}),
        ("applicant-a1", reverse("portal:case-comment", args=[a1.pk]), {"te\x00xt": "hello"}),
        ("coordinator", reverse("portal:case-transition", args=[a1.pk, "suspend"]), {"comment": "bell\x07"}),
    ]


@pytest.mark.parametrize("index", range(6))
def test_a_control_character_in_a_form_value_is_400_and_changes_nothing(people, client, index):
    username, url, form = portal_posts()[index]
    before = snapshot()
    response = as_user(client, username).post(url, form)
    assert response.status_code == 400, (url, response.status_code)
    assert "control character" in text(response)
    assert snapshot() == before


def test_tab_cr_and_lf_are_still_accepted(people, client):
    url = reverse("portal:case-transition", args=[case("A1").pk, "suspend"])
    response = as_user(client, "coordinator").post(url, {"comment": "line one\r\n\tline two"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(chain="TC-2017/A1", object_type="rounds.case", transition="suspend")
    assert entry.comment == "line one\r\n\tline two"


@pytest.mark.parametrize("url", ["/rounds/%00/apply/", "/rounds/TC%00/", "/rounds/%00/dashboard/",
                                 "/rounds/TC-2017%00/ranking/", "/rounds/TC-2017%1F/"])
def test_a_control_character_in_a_url_path_is_404(people, client, url):
    before = snapshot()
    response = as_user(client, "coordinator").get(url)
    assert response.status_code == 404
    assert "There is no such page" in text(response)
    assert as_user(Client(), "applicant-a1").post(url, {"x": "1"}).status_code == 404
    assert snapshot() == before


def test_a_control_character_in_a_query_value_is_400(people, client):
    response = as_user(client, "coordinator").get(reverse("portal:coordinator"), {"q": "a\x00b"})
    assert response.status_code == 400
    assert "“q”" in text(response)


def test_the_refusal_is_in_the_readers_language(people, client):
    client = as_user(client, "coordinator")
    client.cookies["django_language"] = "ru"
    response = client.get(reverse("portal:coordinator"), {"q": "\x00"})
    assert response.status_code == 400
    assert '<html lang="ru">' in response.content.decode()
    with translation.override("ru"):
        from processes.portal.controlchars import refusal_message

        assert refusal_message("q") in text(response)


def test_the_api_refuses_control_characters_in_its_own_shape(people):
    client = as_user(Client(), "coordinator")
    response = client.get("/api/cases/", {"search": "a\x00"})
    assert response.status_code == 400
    assert response.json()["code"] == "control_character"
    assert response.json()["details"] == {"field": "search"}
    response = client.get("/api/cases/%00/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    before = snapshot()
    response = client.post(f"/api/cases/{case('A1').pk}/transitions/suspend/", "comment=a%00b",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.json()["code"] == "control_character"
    assert snapshot() == before


# -- F1: Kelisim's own error pages --------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "kk", "ru"])
def test_an_unexpected_error_is_kelisims_own_page_in_the_readers_language(people, monkeypatch, language):
    from processes.portal import selectors

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "visible_cases", broken)
    client = as_user(Client(raise_request_exception=False), "coordinator")
    client.cookies["django_language"] = language
    response = client.get(reverse("portal:case-list"))
    assert response.status_code == 500
    page = text(response)
    assert f'<html lang="{language}">' in page
    assert "¯\\_(ツ)_/¯" not in page and "site administrators" not in page
    with translation.override(language):
        assert translation.gettext("An unexpected error occurred; nothing was changed. It was logged.") in page


def test_an_unexpected_api_error_is_json(people, monkeypatch):
    from processes.portal.errors import server_error
    from django.test import RequestFactory

    response = server_error(RequestFactory().get("/api/cases/"))
    assert response.status_code == 500
    import json

    assert json.loads(response.content)["code"] == "server_error"


# -- F7: a body without Content-Length ------------------------------------------------------------

def chunked(client, path: str, body: bytes, *, content_type="application/json", terminated=True, **extra):
    """POST ``body`` the way gunicorn hands a ``Transfer-Encoding: chunked`` request to Django:
    no ``CONTENT_LENGTH``, ``wsgi.input`` readable to its end (``wsgi.input_terminated``)."""
    environ = {"CONTENT_LENGTH": "", "CONTENT_TYPE": content_type, "HTTP_TRANSFER_ENCODING": "chunked",
               "wsgi.input": io.BytesIO(body)}
    if terminated:
        environ["wsgi.input_terminated"] = True
    return client.generic("POST", path, b"", **environ, **extra)


def test_a_chunked_api_body_is_read_not_dropped(people):
    client = as_user(Client(), "coordinator")
    a1 = case("A1")
    response = chunked(client, f"/api/cases/{a1.pk}/transitions/suspend/",
                       b'{"comment": "suspended via a chunked body", "data": {"ticket": 1}}')
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get(chain=a1.ref, object_type="rounds.case", transition="suspend")
    assert entry.comment == "suspended via a chunked body" and entry.data == {"ticket": 1}


def test_a_chunked_portal_form_is_read(people):
    client = as_user(Client(), "coordinator")
    a1 = case("A1")
    response = chunked(client, reverse("portal:case-transition", args=[a1.pk, "suspend"]),
                       b"comment=chunked+form", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 302
    entry = AuditEntry.objects.get(chain=a1.ref, object_type="rounds.case", transition="suspend")
    assert entry.comment == "chunked form"


def test_a_chunked_body_over_the_limit_is_413_and_changes_nothing(people, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = as_user(Client(), "coordinator")
    before = snapshot()
    big = b'{"comment": "' + b"x" * 5000 + b'"}'
    response = chunked(client, f"/api/cases/{case('A1').pk}/transitions/suspend/", big)
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    response = chunked(client, reverse("portal:case-transition", args=[case("A1").pk, "suspend"]),
                       b"comment=" + b"x" * 5000, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert snapshot() == before


def test_a_chunked_body_the_server_cannot_delimit_is_411(people):
    client = as_user(Client(), "coordinator")
    before = snapshot()
    response = chunked(client, f"/api/cases/{case('A1').pk}/transitions/suspend/", b'{"comment": "x"}',
                       terminated=False)
    assert response.status_code == 411 and response.json()["code"] == "length_required"
    response = chunked(client, reverse("portal:case-transition", args=[case("A1").pk, "suspend"]),
                       b"comment=x", content_type="application/x-www-form-urlencoded", terminated=False)
    assert response.status_code == 411
    assert snapshot() == before


# -- F5: scoring is closed once the selection has left "scoring" ---------------------------------

@pytest.fixture
def late_sheet(people):
    """A third expert's draft sheet on A1, whose selection is decided (selected)."""
    from django.contrib.auth.models import Group

    from processes.selection.models import ScoreSheet

    expert3 = user("expert1").__class__.objects.create_user("expert3", password="x")
    expert3.groups.add(Group.objects.get(name="expert"))
    application = case("A1").application
    assert application.selection.state == "selected"
    return ScoreSheet.objects.create(application=application, expert=expert3)


def scores_of(sheet) -> dict:
    return {c.code: 0 for c in sheet.application.round.criteria.all()}


def sheet_snapshot(sheet):
    from processes.selection.models import Score

    sheet.refresh_from_db()
    return sheet.state, sheet.total, Score.objects.filter(sheet=sheet).count(), AuditEntry.objects.count()


@pytest.mark.parametrize("action", ["save", "submit", "conflict"])
def test_a_late_sheet_cannot_be_saved_submitted_or_recused_in_the_portal(late_sheet, client, action):
    before = sheet_snapshot(late_sheet)
    form = {"action": action, "conflict_note": "my cousin"}
    form.update({f"score-{code}": "0" for code in scores_of(late_sheet)})
    response = as_user(client, "expert3").post(reverse("portal:score-sheet", args=[late_sheet.pk]), form)
    assert response.status_code == 409, text(response)[:2000]
    assert "scoring is closed" in text(response)
    assert sheet_snapshot(late_sheet) == before


def test_a_late_sheet_cannot_be_submitted_or_saved_through_the_api(late_sheet):
    client = as_user(Client(), "expert3")
    before = sheet_snapshot(late_sheet)
    response = client.post(f"/api/score-sheets/{late_sheet.pk}/transitions/submit/",
                           {"data": {"scores": scores_of(late_sheet)}}, content_type="application/json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "transition_not_allowed" and "scoring is closed" in response.json()["message"]
    response = client.patch(f"/api/score-sheets/{late_sheet.pk}/",
                            {"scores": {"C1": {"value": 5}}}, content_type="application/json")
    assert response.status_code == 409, response.content
    assert sheet_snapshot(late_sheet) == before


def test_the_ranking_is_unchanged_by_a_late_sheet(late_sheet):
    from processes.selection import services
    from workflow.exceptions import TransitionNotAllowed

    selection = late_sheet.application.selection
    score = selection.score
    scores = {code: (0, "") for code in scores_of(late_sheet)}
    with pytest.raises(TransitionNotAllowed):
        services.submit_score_sheet(sheet=late_sheet, scores=scores, actor=late_sheet.expert)
    selection.refresh_from_db()
    assert selection.score == score
    assert late_sheet.application.score_sheets.filter(state="submitted").count() == 2


def test_no_expert_is_assigned_after_the_decision(late_sheet, client):
    from processes.selection.services import open_scoring
    from workflow.exceptions import TransitionNotAllowed

    application = case("A2").application  # not selected
    experts = [user("expert1"), late_sheet.expert]
    with pytest.raises(TransitionNotAllowed):
        open_scoring(application=application, experts=experts)
    before = application.score_sheets.count()
    response = as_user(client, "coordinator").post(reverse("portal:scoring-assign", args=[case("A2").pk]),
                                                   {"experts": [late_sheet.expert.pk]})
    assert response.status_code == 409
    assert application.score_sheets.count() == before


def test_the_portal_refuses_an_unknown_criterion_like_the_api(late_sheet, client):
    before = sheet_snapshot(late_sheet)
    response = as_user(client, "expert3").post(reverse("portal:score-sheet", args=[late_sheet.pk]),
                                               {"action": "save", "score-C1": "5", "score-C99": "5"})
    assert response.status_code == 400
    assert "unknown criterion 'C99'" in text(response)
    assert sheet_snapshot(late_sheet) == before


# -- F6: the audit API and the timeline withhold other experts' scoring and names -------------------

def all_entries(client, query: str) -> list[dict]:
    """Every entry of ``/api/audit-entries/?<query>``, following the pages."""
    url, entries = f"/api/audit-entries/?page_size=100&{query}", []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        entries += body["results"]
        url = body["next"]
    return entries


def test_an_expert_reads_neither_another_experts_scores_nor_name(people):
    client = as_user(Client(), "expert1")
    assert all_entries(client, "actor=expert2") == []
    entries = all_entries(client, "chain=TC-2017/A1")
    assert entries, "expert1 scored A1 and sees its chain"
    dump = repr(entries)
    assert "expert2" not in dump
    sheets = [e for e in entries if e["object_type"] == "selection.scoresheet"]
    own = [e for e in sheets if not e["redacted"]]
    others = [e for e in sheets if e["redacted"]]
    assert own and others
    assert all(e["actor"] == "expert1" and e["hash"] for e in own)
    assert any("scores" in e["data"] for e in own if e["transition"] == "submit")
    for entry in others:
        assert entry["data"] == {} and entry["comment"] == "" and entry["object_repr"] == "" and entry["hash"] == ""
        assert entry["actor"] == "" and entry["actor_role"] == "expert"
    assert all(e["prev_hash"] == "" for e in entries)
    one = client.get(f"/api/audit-entries/{others[0]['id']}/").json()
    assert one["redacted"] and one["data"] == {} and one["actor"] == ""


def test_an_applicant_reads_no_scores_and_no_expert_names(people):
    entries = all_entries(as_user(Client(), "applicant-a1"), "")
    assert {e["chain"] for e in entries} == {"TC-2017/A1"}
    dump = repr(entries)
    assert "expert1" not in dump and "expert2" not in dump
    assert not any("scores" in e["data"] for e in entries)
    assert any(e["actor_role"] == "expert" for e in entries)
    assert any(e["redacted"] and e["object_type"] == "documents.documentversion" for e in entries)


@pytest.mark.parametrize("username", ["coordinator", "auditor"])
def test_staff_read_every_entry_in_full(people, username):
    entries = all_entries(as_user(Client(), username), "chain=TC-2017/A1")
    assert not any(e["redacted"] or e["actor_role"] for e in entries)
    assert {"expert1", "expert2"} <= {e["actor"] for e in entries}
    assert all(e["hash"] and e["prev_hash"] for e in entries)
    assert sum("scores" in e["data"] for e in entries) == 2


def test_the_case_page_timeline_hides_expert_names_from_the_applicant(people, client):
    response = as_user(client, "applicant-a1").get(reverse("portal:case-detail", args=[case("A1").pk]))
    history = response.context["history"]
    assert not {"expert1", "expert2"} & {e.actor_username for e in history}
    assert any(e.actor_role == "expert" for e in history)
    timeline = text(response).split('id="history"', 1)[1].split('id="comments"', 1)[0]
    assert "expert1" not in timeline and "expert2" not in timeline


# -- F14: auditors do not comment; applicants do not read an expert's name ---------------------------

def test_an_auditor_may_not_comment(people, client):
    from processes.portal.models import CaseComment

    before = snapshot(), CaseComment.objects.count()
    client = as_user(client, "auditor")
    response = client.post(reverse("portal:case-comment", args=[case("A1").pk]), {"text": "auditor comment"})
    assert response.status_code == 403
    assert (snapshot(), CaseComment.objects.count()) == before
    page = client.get(reverse("portal:case-detail", args=[case("A1").pk]))
    assert reverse("portal:case-comment", args=[case("A1").pk]) not in page.content.decode()


def test_an_experts_comment_shows_the_role_to_the_applicant(people):
    from processes.portal.comments import add_comment

    add_comment(case=case("A1"), author=user("expert1"), text="Please add the export figures.")
    page = as_user(Client(), "applicant-a1").get(reverse("portal:case-detail", args=[case("A1").pk]))
    comments = text(page).split('id="comments"', 1)[1]
    assert "Please add the export figures." in comments and "expert1" not in comments
    assert [c.author_label for c in page.context["comments"]][-1] == "expert"
    name = user("expert1").get_full_name() or "expert1"
    assert name not in comments
    staff = as_user(Client(), "coordinator").get(reverse("portal:case-detail", args=[case("A1").pk]))
    assert name in text(staff).split('id="comments"', 1)[1]


# -- F8: the case admin is read-only ----------------------------------------------------------------

def test_the_admin_cannot_hand_a_case_to_another_applicant(people, client):
    a9 = case("A9")
    owner, entries = a9.applicant_id, AuditEntry.objects.filter(chain=a9.ref).count()
    client.force_login(user("admin"))
    url = reverse("admin:rounds_case_change", args=[a9.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="applicant"' not in page.content.decode()
    response = client.post(url, {"applicant": user("applicant-a1").pk, "state": "draft"})
    assert response.status_code == 403
    a9.refresh_from_db()
    assert a9.applicant_id == owner
    assert AuditEntry.objects.filter(chain=a9.ref).count() == entries
    assert as_user(Client(), "applicant-a1").get(f"/api/cases/{a9.pk}/").status_code == 404


# -- F8b: a deputy is a signatory, never an applicant; sane dates -----------------------------------

def delegation_form(owner, deputy, starts="2026-11-01", ends="2026-12-31"):
    return {"owner": user(owner).pk, "deputy": user(deputy).pk, "kind": "delegation",
            "starts_on": starts, "ends_on": ends, "reason": "holiday"}


@pytest.mark.parametrize(("deputy", "starts", "ends", "field"), [
    ("applicant-a1", None, None, "deputy"),
    ("expert1", None, None, "deputy"),
    ("signatory2", "0001-01-01", "9999-12-31", "ends_on"),
    ("signatory2", "2090-01-01", "2090-01-02", "starts_on"),
])
def test_the_admin_refuses_a_bad_delegation(people, client, deputy, starts, ends, field):
    import datetime as dt

    from workflow.approvals.models import Delegation

    today = dt.date.today()
    starts = starts or str(today)
    ends = ends or str(today + dt.timedelta(days=30))
    before = Delegation.objects.count(), AuditEntry.objects.filter(chain="delegations").count()
    client.force_login(user("admin"))
    response = client.post(reverse("admin:approvals_delegation_add"),
                           delegation_form("signatory1", deputy, starts, ends))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert (Delegation.objects.count(), AuditEntry.objects.filter(chain="delegations").count()) == before


def test_the_admin_records_a_good_delegation(people, client):
    import datetime as dt

    from workflow.approvals.models import Delegation

    today = dt.date.today()
    client.force_login(user("admin"))
    response = client.post(reverse("admin:approvals_delegation_add"), delegation_form(
        "signatory1", "signatory2", str(today), str(today + dt.timedelta(days=30))))
    assert response.status_code == 302
    assert Delegation.objects.filter(owner=user("signatory1"), deputy=user("signatory2")).exists()
    assert AuditEntry.objects.filter(chain="delegations", transition="delegation_granted").exists()


def test_the_service_refuses_an_applicant_deputy(people):
    import datetime as dt

    from workflow.approvals.services import delegate

    today = dt.date.today()
    with pytest.raises(ValueError, match="applicant"):
        delegate(owner=user("signatory1"), deputy=user("applicant-a1"), starts_on=today, ends_on=today,
                 actor=user("admin"))
    with pytest.raises(ValueError, match="signatory role"):
        delegate(owner=user("signatory1"), deputy=user("auditor"), starts_on=today, ends_on=today,
                 actor=user("admin"))


# -- F4 (side note): completing a task with an empty transition is a 400 ----------------------------

def open_task_of(client) -> dict:
    tasks = client.get("/api/tasks/").json()["results"]
    assert tasks, "the coordinator's inbox holds the quarterly reports after the cycle"
    return tasks[0]


def test_an_empty_transition_does_not_complete_a_task(people):
    client = as_user(Client(), "coordinator")
    task = open_task_of(client)
    before = snapshot()
    response = client.post(f"/api/tasks/{task['id']}/complete/", {"transition": ""},
                           content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "unknown_transition"
    response = client.post(reverse("portal:task-complete", args=[task["id"]]), {"transition": ""})
    assert response.status_code == 400
    assert snapshot() == before
    assert client.get(f"/api/tasks/{task['id']}/").json()["status"] == task["status"]


def test_an_unsized_body_is_judged_by_the_same_limits_as_a_declared_one(settings):
    from django.test import RequestFactory

    from processes.portal import files

    settings.KELISIM_DOSSIER_VERIFY_MAX_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 2**20, 2**20
    multipart = "multipart/form-data; boundary=x"
    form = RequestFactory().generic("POST", "/cases/1/attachments/", b"", CONTENT_TYPE=multipart)
    dossier = RequestFactory().generic("POST", reverse("portal:dossier-verify"), b"", CONTENT_TYPE=multipart)
    json_body = RequestFactory().generic("POST", "/api/cases/1/transitions/suspend/", b"",
                                         CONTENT_TYPE="application/json")
    assert files.body_limit(form) == files.upload_limit() + files.MULTIPART_SLACK
    assert files.body_limit(dossier) == 10 * 2**20 + files.MULTIPART_SLACK
    assert files.body_limit(json_body) == 2**20


def test_the_applicant_does_not_see_the_experts_score_sheets(people):
    from documents.models import Document

    sheets = Document.objects.filter(owner_ref="TC-2017/A1", kind="score_sheet")
    assert sheets.count() == 2
    applicant = as_user(Client(), "applicant-a1")
    listed = applicant.get("/api/documents/", {"owner_ref": "TC-2017/A1", "page_size": 100}).json()["results"]
    assert listed and not any(d["kind"] == "score_sheet" for d in listed)
    for document in sheets:
        assert applicant.get(f"/api/documents/{document.pk}/").status_code == 404
    page = applicant.get(reverse("portal:case-detail", args=[case("A1").pk]))
    assert not any(d.kind == "score_sheet" for d in page.context["documents"])
    staff = as_user(Client(), "coordinator").get("/api/documents/", {"owner_ref": "TC-2017/A1", "page_size": 100})
    assert sum(d["kind"] == "score_sheet" for d in staff.json()["results"]) == 2
