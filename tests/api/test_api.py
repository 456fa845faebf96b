"""The REST API: each endpoint's happy path per role, visibility (404), the 400/403/409/413/415
mapping, the JSON error shape, pagination, filters, token authentication and uploads.

Over the 2017 sample cycle plus the demo users (``world``); each test runs in its own
rolled-back transaction. A1 belongs to ``applicant-a1`` and is in implementation, like A4;
A2 was not selected; A9 was refused at submission.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from documents.models import Document, DocumentVersion
from processes.rounds.actors import ensure_user
from processes.selection.models import ScoreSheet
from tests.documents.uploadfiles import PDF, make_docm, make_docx
from workflow.models import AuditEntry, Deadline

from .conftest import assert_error, case, user

pytestmark = pytest.mark.django_db

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    return body["results"]


def refs(response) -> set[str]:
    return {row["ref"] for row in results(response)}


def entries(chain: str) -> int:
    return AuditEntry.objects.filter(chain=chain).count()


# -- authentication ------------------------------------------------------------------------------

def test_anonymous_requests_are_401_with_a_token_challenge(api):
    for url in ("/api/cases/", f"/api/cases/{case('A1').pk}/", "/api/tasks/", "/api/audit-entries/"):
        response = api().get(url)
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token"
    response = api().post(f"/api/cases/{case('A1').pk}/transitions/suspend/", {}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert case("A1").state == "implementation"


def test_a_token_made_with_drf_create_token_authenticates(api):
    out = io.StringIO()
    call_command("drf_create_token", "auditor", stdout=out)
    key = re.search(r"([0-9a-f]{40})", out.getvalue()).group(1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert len(results(client.get("/api/cases/"))) == 9
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert_error(client.get("/api/cases/"), 401, "authentication_failed")


def test_the_schema_and_its_docs_page_are_served(api):
    schema = api().get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    for path in ("/api/cases/", "/api/cases/{id}/transitions/{name}/", "/api/applications/",
                 "/api/score-sheets/{id}/", "/api/documents/{id}/versions/", "/api/versions/{id}/download/",
                 "/api/cases/{id}/attachments/", "/api/tasks/{id}/complete/", "/api/approvals/{id}/approve/",
                 "/api/audit-entries/"):
        assert path in paths, path
    transition = paths["/api/cases/{id}/transitions/{name}/"]["post"]
    assert {"400", "403", "404", "409"} <= set(transition["responses"])
    assert "suspend" in next(p for p in transition["parameters"] if p["name"] == "name")["schema"]["enum"]
    docs = api().get("/api/docs/")
    assert docs.status_code == 200
    text = docs.content.decode()
    assert "/api/cases/{id}/transitions/{name}/" in text and 'href="/api/schema/"' in text
    assert "<script" not in text  # works offline: no CDN script


# -- errors --------------------------------------------------------------------------------------

def test_error_shape_for_unknown_urls_methods_media_types_and_bad_json(api):
    client = api("coordinator")
    assert_error(client.get("/api/no-such-thing/"), 404, "not_found")
    assert_error(client.get("/api/cases/99999999999999999999999/"), 404, "not_found")
    assert_error(client.get("/api/cases/999999/"), 404, "not_found")
    assert_error(client.delete(f"/api/cases/{case('A1').pk}/"), 405, "method_not_allowed")
    url = f"/api/cases/{case('A1').pk}/transitions/suspend/"
    assert_error(client.post(url, "<xml/>", content_type="application/xml"), 415, "unsupported_media_type")
    assert_error(client.post(url, "{not json", content_type="application/json"), 400, "parse_error")
    assert_error(client.post(url, "[1, 2]", content_type="application/json"), 400, "invalid")
    body = assert_error(client.post(url, {"comment": "x" * 4001}, format="json"), 400, "invalid")
    assert "comment" in body["details"]["fields"]
    assert_error(client.post(url, {"data": {"a": "nul\x00"}}, format="json"), 400, "invalid")
    assert case("A1").state == "implementation"


@pytest.mark.parametrize("body", [
    '{"data": {"x": 1e400}}',  # overflows to infinity
    '{"data": ' + "[" * 5000 + "]" * 5000 + "}",  # deeper than Python's parser goes
    '{"data": {"x": ' + "[" * 40 + "]" * 40 + "}}",  # deeper than the API accepts
    '{"data": {"x": "\\ud800"}}',  # a lone surrogate: not UTF-8
    '{"comment": "\\ud800"}',
    '{"data": {"\\u0000": 1}}',  # NUL, which PostgreSQL refuses
])
def test_json_that_cannot_be_stored_is_400_not_500(api, body):
    before = entries("TC-2017/A1")
    response = api("coordinator").post(f"/api/cases/{case('A1').pk}/transitions/suspend/", body,
                                       content_type="application/json")
    assert_error(response, 400)
    assert (case("A1").state, entries("TC-2017/A1")) == ("implementation", before)


def test_an_application_with_a_lone_surrogate_is_400(api):
    a1 = case("A1").application
    response = api("coordinator").patch(f"/api/applications/{a1.pk}/", '{"city": "\\udfff"}',
                                        content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_a_json_body_over_the_limit_is_413_in_the_error_shape(api):
    big = json.dumps({"comment": "x" * (3 * 1024 * 1024)})
    before = entries("TC-2017/A1")
    response = api("coordinator").post(f"/api/cases/{case('A1').pk}/transitions/suspend/", big,
                                       content_type="application/json")
    body = assert_error(response, 413, "too_large")
    assert body["details"]["declared_bytes"] > body["details"]["limit_bytes"]
    assert (case("A1").state, entries("TC-2017/A1")) == ("implementation", before)


def test_a_body_too_big_for_django_is_413_even_without_the_middleware(api, settings):
    from django.core.exceptions import RequestDataTooBig

    from api.errors import describe_exception

    status, body, _ = describe_exception(RequestDataTooBig("too big"))
    assert status == 413 and body["code"] == "too_large"


# -- cases ---------------------------------------------------------------------------------------

def test_cases_per_role(api):
    assert len(refs(api("coordinator").get("/api/cases/"))) == 9
    assert len(refs(api("auditor").get("/api/cases/"))) == 9
    assert refs(api("applicant-a1").get("/api/cases/")) == {"TC-2017/A1"}
    assert "TC-2017/A9" not in refs(api("expert1").get("/api/cases/"))
    assert refs(api("signatory1").get("/api/cases/")) <= refs(api("coordinator").get("/api/cases/"))


def test_a_case_with_its_application_stage_object_and_transitions(api):
    body = api("coordinator").get(f"/api/cases/{case('A1').pk}/").json()
    assert (body["ref"], body["state"], body["round"], body["applicant"]) == (
        "TC-2017/A1", "implementation", "TC-2017", "applicant-a1")
    assert body["application"]["ref"] == "A1" and body["application"]["state"] == "accepted"
    assert body["application"]["rank"] is not None
    assert [(o["type"], o["state"]) for o in body["stage_objects"]] == [("implementation.implementation", "active")]
    options = {o["name"]: o for o in body["transitions"]}
    assert options["suspend"]["allowed"] is True and options["suspend"]["reason"] == ""
    assert options["close"]["allowed"] is False and "implementation must be completed" in options["close"]["reason"]
    mine = api("auditor").get(f"/api/cases/{case('A1').pk}/transitions/").json()
    assert {o["name"]: o["allowed"] for o in mine} == {"close": False, "suspend": False}


def test_another_applicants_case_is_404(api):
    client = api("applicant-a1")
    assert_error(client.get(f"/api/cases/{case('A2').pk}/"), 404, "not_found")
    assert_error(client.get(f"/api/cases/{case('A2').pk}/transitions/"), 404)
    assert_error(client.post(f"/api/cases/{case('A2').pk}/transitions/withdraw/", {}, format="json"), 404)


def test_case_filters_search_and_ordering(api):
    client = api("coordinator")
    assert refs(client.get("/api/cases/?state=not_selected")) == {
        c.ref for c in case("A1").round.cases.filter(state="not_selected")}
    assert refs(client.get("/api/cases/?round=TC-2017")) == refs(client.get("/api/cases/"))
    assert refs(client.get("/api/cases/?round=NOPE")) == set()
    assert refs(client.get("/api/cases/?search=A4")) == {"TC-2017/A4"}
    ordered = [r["ref"] for r in results(client.get("/api/cases/?ordering=-ref"))]
    assert ordered == sorted(ordered, reverse=True)
    assert_error(client.get("/api/cases/?state=bogus"), 400, "invalid")
    # a suspended case still counts in the stage it was suspended in
    client.post(f"/api/cases/{case('A4').pk}/transitions/suspend/", {"comment": "audit"}, format="json")
    assert "TC-2017/A4" in refs(client.get("/api/cases/?stage=implementation"))
    assert "TC-2017/A4" not in refs(client.get("/api/cases/?state=implementation"))
    # overdue: an open deadline of the case is past due
    assert refs(client.get("/api/cases/?overdue=true")) == set()
    Deadline.objects.create(chain="TC-2017/A1", label="late", due_at=timezone.now() - dt.timedelta(days=3))
    Deadline.objects.create(chain="TC-2017/A2", label="done", due_at=timezone.now() - dt.timedelta(days=3),
                            closed_at=timezone.now())
    assert refs(client.get("/api/cases/?overdue=true")) == {"TC-2017/A1"}
    assert "TC-2017/A1" not in refs(client.get("/api/cases/?overdue=false"))
    assert client.get(f"/api/cases/{case('A1').pk}/").json()["overdue"] is True
    assert_error(client.get("/api/cases/?overdue=maybe"), 400, "invalid")  # never silently ignored


def test_pagination_caps_the_page_size_at_100(api):
    client = api("auditor")
    assert AuditEntry.objects.count() > 100
    body = client.get("/api/audit-entries/?page_size=1000").json()
    assert len(body["results"]) == 100 and body["count"] == AuditEntry.objects.count()
    first = client.get("/api/cases/?page_size=2").json()
    assert len(first["results"]) == 2 and "page=2" in first["next"] and first["previous"] is None
    second = client.get(first["next"]).json()
    assert {r["ref"] for r in second["results"]}.isdisjoint({r["ref"] for r in first["results"]})
    assert_error(client.get("/api/cases/?page=999"), 404, "not_found")
    assert_error(client.get("/api/cases/?page=abc"), 404, "not_found")


# -- case transitions: 200 / 403 / 409 / 400 ------------------------------------------------------

def test_a_coordinator_suspends_a_case_with_comment_and_data(api):
    before = entries("TC-2017/A1")
    response = api("coordinator").post(f"/api/cases/{case('A1').pk}/transitions/suspend/",
                                       {"comment": "an audit", "data": {"ticket": 7}}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "suspended"
    assert case("A1").state == "suspended"
    entry = AuditEntry.objects.filter(chain="TC-2017/A1", transition="suspend", object_type="rounds.case").get()
    assert (entry.actor_username, entry.comment, entry.data) == ("coordinator", "an audit", {"ticket": 7})
    assert entries("TC-2017/A1") > before


def test_refused_transitions_map_to_403_409_400_and_change_nothing(api):
    url = f"/api/cases/{case('A1').pk}/transitions/"
    before = entries("TC-2017/A1")
    body = assert_error(api("auditor").post(url + "suspend/", {}, format="json"), 403, "permission_denied")
    assert body["details"]["transition"] == "suspend"
    body = assert_error(api("coordinator").post(url + "close/", {}, format="json"), 400, "condition_unmet")
    assert "implementation must be completed" in body["details"]["reason"]
    assert_error(api("coordinator").post(url + "advance_to_planning/", {}, format="json"), 409,
                 "transition_not_allowed")
    assert_error(api("coordinator").post(url + "no_such_thing/", {}, format="json"), 400, "unknown_transition")
    assert (case("A1").state, entries("TC-2017/A1")) == ("implementation", before)


def test_an_applicant_withdraws_its_own_case_in_selection_only(api):
    body = assert_error(api("applicant-a1").post(f"/api/cases/{case('A1').pk}/transitions/withdraw/", {},
                                                 format="json"), 409, "transition_not_allowed")
    assert body["details"]["state"] == "implementation"


# -- applications --------------------------------------------------------------------------------

GOOD = {"name_en": "Almaty apple cluster", "name_kk": "Алматы алма кластері", "region": "Almaty region",
        "sector": "food processing", "anchor_enterprises": 2, "smes": 14, "employees": 800,
        "export_share_pct": 12.5, "research_partners": 1}


@pytest.fixture
def open_round(round_file):
    from processes.rounds.importer import import_round
    from workflow.transitions import perform

    rnd = import_round(round_file(lambda d: d["round"].update(code="TC-API"))).round
    perform(rnd, "open_applications", actor=user("coordinator"))
    return rnd


def test_an_applicant_files_edits_and_submits_an_application(api, open_round):
    client = api("applicant-a1")
    response = client.post("/api/applications/", {"round": "TC-API", "language": "kk", **GOOD}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["state"], body["language"], body["applicant"], body["round"]) == (
        "draft", "kk", "applicant-a1", "TC-API")
    assert body["export_share_pct"] == "12.50" and body["name_kk"] == "Алматы алма кластері"
    url = f"/api/applications/{body['id']}/"
    changed = client.patch(url, {"city": "Talgar", "smes": 15}, format="json")
    assert changed.status_code == 200 and (changed.json()["city"], changed.json()["smes"]) == ("Talgar", 15)
    assert AuditEntry.objects.filter(chain=body["case_ref"], transition="application_updated").exists()
    submitted = client.post(url + "transitions/submit/", {"comment": "filed"}, format="json")
    assert submitted.status_code == 200 and submitted.json()["state"] == "submitted"
    # the coordinators' completeness check is waiting in their inbox
    tasks = results(api("coordinator").get("/api/tasks/?page_size=100"))
    assert any(t["case_ref"] == body["case_ref"] and t["transition"] == "accept" for t in tasks)
    assert_error(client.patch(url, {"city": "Esik"}, format="json"), 409, "transition_not_allowed")
    assert_error(api("applicant-a1").get("/api/applications/999999/"), 404)


def test_invalid_application_values_are_400_with_each_field(api, open_round):
    response = api("applicant-a1").post("/api/applications/", {"round": "TC-API", "employees": -1,
                                                               "smes": "many", "colour": "red"}, format="json")
    body = assert_error(response, 400, "invalid_application")
    assert set(body["details"]["fields"]) == {"employees", "smes", "colour", "name_en"}
    assert_error(api("applicant-a1").post("/api/applications/", {"round": "NOPE", **GOOD}, format="json"),
                 400, "invalid")
    assert_error(api("applicant-a1").post("/api/applications/", {**GOOD}, format="json"), 400, "invalid")


def test_filing_in_a_closed_round_is_409_and_only_applicants_file(api, open_round):
    assert_error(api("applicant-a1").post("/api/applications/", {"round": "TC-2017", **GOOD}, format="json"),
                 409, "transition_not_allowed")
    assert_error(api("coordinator").post("/api/applications/", {"round": "TC-API", **GOOD}, format="json"),
                 403, "permission_denied")


def test_applications_per_role_and_patch_by_others(api):
    assert {a["ref"] for a in results(api("applicant-a1").get("/api/applications/"))} == {"A1"}
    assert len(results(api("auditor").get("/api/applications/"))) == 9
    a2 = case("A2").application
    assert_error(api("applicant-a1").patch(f"/api/applications/{a2.pk}/", {"city": "x"}, format="json"), 404)
    assert_error(api("auditor").patch(f"/api/applications/{a2.pk}/", {"city": "x"}, format="json"), 403,
                 "permission_denied")
    assert_error(api("coordinator").patch(f"/api/applications/{a2.pk}/", {"city": "x"}, format="json"), 409)


# -- score sheets --------------------------------------------------------------------------------

def test_an_expert_sees_its_own_sheets_with_criteria_and_weights(api):
    mine = results(api("expert1").get("/api/score-sheets/?page_size=100"))
    assert mine and {s["expert"] for s in mine} == {"expert1"}
    sheet = mine[0]
    assert sum(score["weight"] for score in sheet["scores"]) == 100
    assert all(score["value"] is not None for score in sheet["scores"])
    assert len(results(api("coordinator").get("/api/score-sheets/?page_size=100"))) == ScoreSheet.objects.count()
    assert results(api("applicant-a1").get("/api/score-sheets/")) == []
    other = ScoreSheet.objects.exclude(expert__username="expert1").first()
    assert_error(api("expert1").get(f"/api/score-sheets/{other.pk}/"), 404)


@pytest.fixture
def draft_sheet(world):
    """expert3's draft sheet on A2, whose selection is put back in ``scoring`` (scoring is closed
    once the selection is decided)."""
    from processes.selection.models import Selection

    Selection.objects.filter(application=case("A2").application).update(state=Selection.State.SCORING)
    expert3 = ensure_user("expert3", "expert")
    return ScoreSheet.objects.create(application=case("A2").application, expert=expert3)


def test_an_expert_saves_draft_scores_then_submits(api, draft_sheet):
    client = APIClient()
    client.force_login(draft_sheet.expert)
    url = f"/api/score-sheets/{draft_sheet.pk}/"
    codes = [c.code for c in draft_sheet.application.round.criteria.all()]
    saved = client.patch(url, {"scores": {codes[0]: {"value": 7, "comment": "good"}}}, format="json")
    assert saved.status_code == 200, saved.content
    assert {s["code"]: s["value"] for s in saved.json()["scores"]}[codes[0]] == 7
    assert_error(client.patch(url, {"scores": {"NOPE": {"value": 1}}}, format="json"), 400, "invalid_scores")
    assert_error(client.patch(url, {"scores": {codes[0]: {"value": 11}}}, format="json"), 400, "invalid")
    assert_error(client.post(url + "transitions/submit/", {}, format="json"), 400, "condition_unmet")
    assert_error(api("coordinator").patch(url, {"scores": {codes[0]: {"value": 1}}}, format="json"), 403)
    submitted = client.post(url + "transitions/submit/", {"data": {"scores": {c: 8 for c in codes}}}, format="json")
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["state"] == "submitted" and submitted.json()["total"] == "80.00"
    assert_error(client.patch(url, {"scores": {codes[0]: {"value": 1}}}, format="json"), 409)


# -- documents, versions, downloads --------------------------------------------------------------

def test_documents_per_role(api):
    own = results(api("applicant-a1").get("/api/documents/?page_size=100"))
    assert own and {d["owner_ref"] for d in own} == {"TC-2017/A1"}
    staff = api("coordinator").get("/api/documents/?page_size=100").json()
    assert staff["count"] == Document.objects.count()
    other = Document.objects.filter(owner_ref="TC-2017/A2").first()
    assert_error(api("applicant-a1").get(f"/api/documents/{other.pk}/"), 404)
    versions = api("applicant-a1").get(f"/api/documents/{own[0]['id']}/versions/").json()
    assert [v["number"] for v in versions] == sorted(v["number"] for v in versions)


def test_a_version_is_downloaded_verified_and_a_changed_file_is_409(api, restore_file):
    from django.core.files.storage import default_storage

    version = DocumentVersion.objects.filter(document__owner_ref="TC-2017/A1").order_by("pk").first()
    client = api("applicant-a1")
    response = client.get(f"/api/versions/{version.pk}/download/")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == version.sha256 == response["X-Content-SHA256"]
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    assert client.get(f"/api/versions/{version.pk}/download/", HTTP_ACCEPT="application/octet-stream"
                      ).status_code == 200
    other = DocumentVersion.objects.filter(document__owner_ref="TC-2017/A2").first()
    assert_error(client.get(f"/api/versions/{other.pk}/download/"), 404)
    stored = restore_file(Path(default_storage.path(version.storage_key)))
    stored.write_bytes(b"changed")
    assert_error(client.get(f"/api/versions/{version.pk}/download/"), 409, "checksum_mismatch")


# -- uploads -------------------------------------------------------------------------------------

def upload(client, number: str, name: str, content: bytes):
    return client.post(f"/api/cases/{case(number).pk}/attachments/",
                       {"file": SimpleUploadedFile(name, content)}, format="multipart")


def attachments(number: str) -> int:
    return Document.objects.filter(owner_ref=f"TC-2017/{number}", kind="attachment").count()


def test_a_cyrillic_docx_round_trips_through_the_api(api):
    content = make_docx("Өтінім №5")
    client = api("applicant-a1")
    response = upload(client, "A1", "Өтінім №5.docx", content)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["original_name"], body["content_type"], body["sha256"]) == (
        "Өтінім №5.docx", DOCX, hashlib.sha256(content).hexdigest())
    download = client.get(body["download_url"])
    assert download.status_code == 200 and download.content == content
    encoded = re.search(r"filename\*=UTF-8''([^;]+)", download["Content-Disposition"]).group(1)
    assert unquote(encoded, encoding="utf-8") == "Өтінім №5.docx"
    assert download["Content-Disposition"].isascii()
    entry = AuditEntry.objects.filter(chain="TC-2017/A1").latest("seq")
    assert (entry.transition, entry.actor_username) == ("attachment_uploaded", "applicant-a1")


@pytest.mark.parametrize(("name", "content", "status", "code"), [
    ("macro.docx", make_docm(), 415, "macro_enabled"),
    ("empty.pdf", b"", 400, "empty"),
    ("notes.txt", b"just text", 415, "unsupported_type"),
])
def test_refused_uploads_store_nothing(api, name, content, status, code):
    before = (attachments("A1"), entries("TC-2017/A1"))
    assert_error(upload(api("applicant-a1"), "A1", name, content), status, code)
    assert (attachments("A1"), entries("TC-2017/A1")) == before


def test_upload_permissions_missing_file_and_size_limit(api):
    assert_error(upload(api("auditor"), "A1", "a.pdf", PDF), 403, "permission_denied")
    assert_error(upload(api("applicant-a1"), "A2", "a.pdf", PDF), 404, "not_found")
    assert_error(api("applicant-a1").post(f"/api/cases/{case('A1').pk}/attachments/", {"x": "y"},
                                          format="multipart"), 400, "no_file")
    assert upload(api("coordinator"), "A4", "a.pdf", PDF).status_code == 201
    before = attachments("A1")
    with override_settings(KELISIM_UPLOAD_MAX_BYTES=1000):
        assert_error(upload(api("applicant-a1"), "A1", "big.pdf", PDF + b"0" * 200_000), 413, "too_large")
    assert attachments("A1") == before


def test_the_upload_limit_is_enforced_while_streaming(api, monkeypatch):
    """Without a Content-Length check (middleware bypassed), the stream itself is cut at the limit."""
    from processes.portal import files as portal_files

    monkeypatch.setattr(portal_files, "upload_limit", lambda: 1000)
    before = attachments("A1")
    with override_settings(KELISIM_UPLOAD_MAX_BYTES=10**9):  # the middleware lets it through
        response = upload(api("applicant-a1"), "A1", "big.pdf", PDF + b"0" * 200_000)
    assert_error(response, 413, "too_large")
    assert attachments("A1") == before


# -- tasks ---------------------------------------------------------------------------------------

def test_a_coordinator_claims_unassigns_and_sees_its_inbox(api):
    client = api("coordinator")
    tasks = results(client.get("/api/tasks/"))
    queued = next(t for t in tasks if t["queued"])
    assert queued["role"] == "coordinator" and queued["object"]["type"]
    claimed = client.post(f"/api/tasks/{queued['id']}/claim/")
    assert claimed.status_code == 200 and (claimed.json()["owner"], claimed.json()["held_by_user"]) == (
        "coordinator", True)
    assert_error(api("partner").post(f"/api/tasks/{queued['id']}/claim/"), 404)
    back = client.post(f"/api/tasks/{queued['id']}/unassign/")
    assert back.status_code == 200 and back.json()["queued"] is True
    assert_error(client.post(f"/api/tasks/{queued['id']}/unassign/"), 409, "stale_object")
    assert_error(client.post(f"/api/tasks/{queued['id']}/complete/", {"transition": "nope"}, format="json"),
                 400, "unknown_transition")
    assert results(api("applicant-a1").get("/api/tasks/")) == []
    assert_error(api("applicant-a1").get(f"/api/tasks/{queued['id']}/"), 404)


# -- approvals -----------------------------------------------------------------------------------

@pytest.fixture
def approval(world):
    from workflow.approvals.services import Signatory, request_approval

    version = DocumentVersion.objects.filter(document__owner_ref="TC-2017/A1").order_by("pk").first()
    return request_approval(subject=version, sha256=version.sha256, version=version.number, key="api:A1",
                            chain="TC-2017/A1", title="API test", author=user("coordinator"),
                            signatories=[Signatory(user("signatory1")), Signatory(user("signatory2"))],
                            actor=user("coordinator"))


def test_a_signatory_sees_and_approves_its_decision(api, approval):
    client = api("signatory1")
    awaiting = results(client.get("/api/approvals/"))
    assert [(d["signatory"], d["approval"]["id"]) for d in awaiting] == [("signatory1", approval.pk)]
    decision = awaiting[0]
    assert decision["approval"]["subject_sha256"] == approval.subject_sha256 and decision["case"] == case("A1").pk
    assert results(api("signatory2").get("/api/approvals/"))[0]["signatory"] == "signatory2"
    assert_error(api("signatory2").post(f"/api/approvals/{decision['id']}/approve/", {}, format="json"), 403,
                 "permission_denied")
    assert_error(api("applicant-a1").post(f"/api/approvals/{decision['id']}/approve/", {}, format="json"), 403)
    assert_error(api("expert1").post(f"/api/approvals/{decision['id']}/approve/", {}, format="json"), 403)
    done = client.post(f"/api/approvals/{decision['id']}/approve/", {"comment": "ok"}, format="json")
    assert done.status_code == 200 and (done.json()["state"], done.json()["comment"]) == ("approved", "ok")
    assert done.json()["sha256"] == approval.subject_sha256
    assert results(client.get("/api/approvals/")) == []
    assert_error(client.post(f"/api/approvals/{decision['id']}/approve/", {}, format="json"), 409)


def test_a_rejection_with_a_comment_rejects_the_approval(api, approval):
    decision = approval.decisions.get(signatory__username="signatory2")
    response = api("signatory2").post(f"/api/approvals/{decision.pk}/reject/", {"comment": "fix p. 3"},
                                      format="json")
    assert response.status_code == 200 and response.json()["state"] == "rejected"
    approval.refresh_from_db()
    assert approval.state == "rejected"


def test_a_decision_on_an_invisible_case_is_404(api, approval):
    from workflow.approvals.services import Signatory, request_approval

    version = DocumentVersion.objects.filter(document__owner_ref="TC-2017/A2").order_by("pk").first()
    other = request_approval(subject=version, sha256=version.sha256, version=version.number, key="api:A2",
                             chain="TC-2017/A2", title="Other", author=user("coordinator"),
                             signatories=[Signatory(user("signatory2"))], actor=user("coordinator"))
    decision = other.decisions.get()
    assert_error(api("applicant-a1").post(f"/api/approvals/{decision.pk}/approve/", {}, format="json"), 404)
    assert_error(api("applicant-a1").get(f"/api/approvals/{decision.pk}/"), 404)


# -- audit entries -------------------------------------------------------------------------------

def test_audit_entries_per_role_and_filters(api):
    chains = {e["chain"] for e in results(api("applicant-a1").get("/api/audit-entries/?page_size=100"))}
    assert chains == {"TC-2017/A1"}
    auditor = api("auditor")
    assert auditor.get("/api/audit-entries/").json()["count"] == AuditEntry.objects.count()
    by_case = results(auditor.get(f"/api/audit-entries/?case={case('A4').pk}&page_size=100"))
    assert by_case and {e["chain"] for e in by_case} == {"TC-2017/A4"}
    assert [e["seq"] for e in by_case] == sorted(e["seq"] for e in by_case)
    suspend = results(auditor.get("/api/audit-entries/?transition=accept&actor=coordinator"))
    assert suspend and {(e["transition"], e["actor"]) for e in suspend} == {("accept", "coordinator")}
    today = timezone.localdate().isoformat()
    assert auditor.get(f"/api/audit-entries/?date_from={today}").json()["count"] == AuditEntry.objects.count()
    assert auditor.get("/api/audit-entries/?date_to=2000-01-01").json()["count"] == 0
    assert_error(auditor.get("/api/audit-entries/?date_from=yesterday"), 400, "invalid")
    assert auditor.get("/api/audit-entries/?case=1.5").json()["count"] == 0
    other = AuditEntry.objects.filter(chain="TC-2017/A2").first()
    assert_error(api("applicant-a1").get(f"/api/audit-entries/{other.pk}/"), 404)
    assert api("auditor").get(f"/api/audit-entries/{other.pk}/").json()["hash"] == other.hash


# -- CSRF: sessions need the token, tokens do not --------------------------------------------------

def api_post_rows() -> list[str]:
    from tests.portal.test_authorization_matrix import MATRIX

    return [name for name, endpoint in MATRIX.items() if name.startswith("api:") and "POST" in endpoint.expect
            and endpoint.expect["POST"]("admin", endpoint.ownerships[0]) != 405]


@pytest.mark.parametrize("name", api_post_rows())
def test_a_session_post_without_csrf_token_is_refused(world, name):
    """The matrix's POST of each API endpoint, by the superuser's session without the CSRF
    token: 403 in the error shape, nothing changed."""
    from tests.portal.test_authorization_matrix import MATRIX, Ctx

    endpoint = MATRIX[name]
    ctx, own = Ctx("admin"), endpoint.ownerships[0]
    url, data = endpoint.build(ctx, own)
    before = endpoint.snapshot(ctx, own) if endpoint.snapshot else None
    count = AuditEntry.objects.count()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user("admin"))
    response = client.post(url, data, format="json") if endpoint.json else client.post(url, data)
    body = assert_error(response, 403, "permission_denied")
    assert "CSRF" in body["message"]
    if endpoint.snapshot is not None:
        assert endpoint.snapshot(ctx, own) == before
    assert AuditEntry.objects.count() == count


def test_api_post_rows_cover_the_writes():
    assert {"api:case-transition", "api:case-attachments", "api:application-list", "api:task-complete",
            "api:approval-approve"} <= set(api_post_rows())


def test_a_session_upload_with_the_csrf_header_and_a_token_upload_without_it(api):
    from django.middleware.csrf import get_token
    from django.test import RequestFactory
    from rest_framework.authtoken.models import Token

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user("applicant-a1"))
    request = RequestFactory().get("/")
    token = get_token(request)
    client.cookies["csrftoken"] = request.META["CSRF_COOKIE"]
    response = client.post(f"/api/cases/{case('A1').pk}/attachments/", {"file": SimpleUploadedFile("a.pdf", PDF)},
                           format="multipart", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    key = Token.objects.create(user=user("applicant-a1")).key
    robot = APIClient(enforce_csrf_checks=True)
    robot.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert upload(robot, "A1", "b.pdf", PDF).status_code == 201
