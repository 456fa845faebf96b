"""The API's error messages in Kazakh and Russian (issue 6): the ``message`` follows the request's
language (``Accept-Language``, else the user's saved language), the ``code`` never changes, and
every 409 names the current state in ``details.state``.

Over the 2017 sample cycle plus the demo users (``world``), like ``test_api.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import get_resolver
from django.utils import translation

from documents.models import DocumentVersion
from workflow.models import UserPreference

from .conftest import assert_error, case, user
from .test_api import GOOD, approval, open_round  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

LANGUAGES = ("kk", "ru")


def in_language(language: str, msgid: str, **values) -> str:
    with translation.override(language):
        text = translation.gettext(msgid)
    return text % values if values else text


def english(msgid: str, **values) -> str:
    return msgid % values if values else msgid


# -- every view speaks the request's language ------------------------------------------------------

def _api_views():
    from api.urls import urlpatterns

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns)
            else:
                yield pattern.callback

    return list(walk(urlpatterns))


def test_every_api_view_has_the_language_mixin():
    from api.language import ApiLanguageMixin

    callbacks = _api_views()
    assert len(callbacks) > 15
    classes = {getattr(cb, "cls", None) for cb in callbacks} - {None}
    public = {cls for cls in classes if cls.__module__.startswith(("drf_spectacular", "api.docs"))}
    missing = sorted(cls.__name__ for cls in classes - public if not issubclass(cls, ApiLanguageMixin))
    assert missing == []
    assert get_resolver()  # the URLconf loads with the views


# -- one error per status, in kk and ru ------------------------------------------------------------

def _errors(api, language: str):
    """(status, code, response, msgid of the expected message or None) per status, asked in ``language``."""
    a1 = case("A1")
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    coordinator, applicant = api("coordinator"), api("applicant-a1")
    transitions = f"/api/cases/{a1.pk}/transitions/"
    rows = [
        (400, "invalid", coordinator.post(transitions + "suspend/", "[1, 2]", content_type="application/json",
                                          **headers),
         "The request body must be a JSON object."),
        (403, "permission_denied", coordinator.post("/api/applications/", {"round": "TC-2017", **GOOD}, format="json",
                                                    **headers),
         "Only applicants file applications."),
        (404, "not_found", coordinator.get("/api/versions/999999/", **headers),
         "No such document version, or not one you may see."),
        (404, "not_found", coordinator.get("/api/no-such-thing/", **headers), "No such API endpoint or object."),
        (415, "unsupported_type", applicant.post(f"/api/cases/{a1.pk}/attachments/",
                                                 {"file": _file("notes.txt", b"just text")}, format="multipart",
                                                 **headers), None),
        (415, "unsupported_media_type", coordinator.post(transitions + "suspend/", "<xml/>",
                                                         content_type="application/xml", **headers), None),
        (413, "too_large", coordinator.post(transitions + "suspend/", json.dumps({"comment": "x" * (3 * 1024 * 1024)}),
                                            content_type="application/json", **headers), None),
    ]
    return rows


def _file(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


@pytest.mark.parametrize("language", LANGUAGES)
def test_error_messages_follow_accept_language_and_codes_stay_english(api, language):
    english_bodies = {(status, code, i): assert_error(response, status, code)
                      for i, (status, code, response, _msgid) in enumerate(_errors(api, "en"))}
    for i, (status, code, response, msgid) in enumerate(_errors(api, language)):
        body = assert_error(response, status, code)
        assert response["Content-Language"] == language
        english_message = english_bodies[(status, code, i)]["message"]
        assert body["message"] != english_message, (status, code, body["message"])
        if msgid is not None:
            assert body["message"] == in_language(language, msgid)
            assert english_message == english(msgid)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_409_is_translated_and_names_the_state(api, language):
    url = f"/api/cases/{case('A1').pk}/transitions/advance_to_planning/"
    en = assert_error(api("coordinator").post(url, {}, format="json", HTTP_ACCEPT_LANGUAGE="en"), 409,
                      "transition_not_allowed")
    body = assert_error(api("coordinator").post(url, {}, format="json", HTTP_ACCEPT_LANGUAGE=language), 409,
                        "transition_not_allowed")
    assert body["details"] == en["details"] == {"transition": "advance_to_planning", "state": "implementation"}
    assert body["message"] != en["message"] and "TC-2017/A1" in body["message"]


def test_the_saved_language_is_used_without_an_accept_language_header(api):
    UserPreference.objects.update_or_create(user=user("coordinator"), defaults={"language": "kk"})
    client = api("coordinator")
    url = f"/api/cases/{case('A1').pk}/transitions/suspend/"
    saved = assert_error(client.post(url, "[1, 2]", content_type="application/json"), 400, "invalid")
    assert saved["message"] == in_language("kk", "The request body must be a JSON object.")
    header = assert_error(client.post(url, "[1, 2]", content_type="application/json", HTTP_ACCEPT_LANGUAGE="ru"),
                          400, "invalid")
    assert header["message"] == in_language("ru", "The request body must be a JSON object.")
    regional = client.post(url, "[1, 2]", content_type="application/json", HTTP_ACCEPT_LANGUAGE="de, ru-RU;q=0.8")
    assert regional.json()["message"] == header["message"] and regional["Content-Language"] == "ru"
    unknown = client.post(url, "[1, 2]", content_type="application/json", HTTP_ACCEPT_LANGUAGE="de")
    assert unknown.json()["message"] == saved["message"]  # a language Kelisim does not speak: the saved one
    plain = assert_error(api("auditor").post(url, "[1, 2]", content_type="application/json"), 400, "invalid")
    assert plain["message"] == "The request body must be a JSON object."  # no header, nothing saved: English


def test_a_401_follows_the_header(api):
    body = assert_error(api().get("/api/cases/", HTTP_ACCEPT_LANGUAGE="kk"), 401, "not_authenticated")
    assert body["message"] == in_language("kk", "Authentication credentials were not provided.")
    assert body["message"] != "Authentication credentials were not provided."


# -- every 409 names the current state ------------------------------------------------------------

def test_every_409_fills_details_state(api, open_round, approval, restore_file):  # noqa: F811
    from django.core.files.storage import default_storage

    from processes.selection.models import ScoreSheet

    seen = []

    def conflict(response, code=None):
        body = assert_error(response, 409, code)
        assert body["details"].get("state"), body
        seen.append(body["code"])
        return body["details"]["state"]

    a1, a2 = case("A1"), case("A2")
    assert conflict(api("coordinator").post(f"/api/cases/{a1.pk}/transitions/advance_to_planning/", {},
                                            format="json")) == "implementation"
    # filing in a round that is not open: the round's state
    assert conflict(api("applicant-a1").post("/api/applications/", {"round": "TC-2017", **GOOD}, format="json"),
                    "transition_not_allowed") == a1.round.state
    # changing an application that is no longer a draft: its state
    assert conflict(api("coordinator").patch(f"/api/applications/{a2.application.pk}/", {"city": "x"},
                                             format="json")) == a2.application.state
    # a submitted score sheet
    sheet = ScoreSheet.objects.filter(state="submitted").select_related("expert").first()
    code = sheet.application.round.criteria.first().code
    assert conflict(api(sheet.expert.username).patch(f"/api/score-sheets/{sheet.pk}/",
                                                     {"scores": {code: {"value": 1}}}, format="json")) == "submitted"
    # a task someone else already returned to its queue
    client = api("coordinator")
    queued = next(t for t in client.get("/api/tasks/").json()["results"] if t["queued"])
    assert conflict(client.post(f"/api/tasks/{queued['id']}/unassign/"), "stale_object")
    # a decision already taken
    signatory = api("signatory1")
    decision = signatory.get("/api/approvals/").json()["results"][0]
    assert signatory.post(f"/api/approvals/{decision['id']}/approve/", {}, format="json").status_code == 200
    assert conflict(signatory.post(f"/api/approvals/{decision['id']}/approve/", {}, format="json")) == "approved"
    # a stored file that no longer matches its sha256: the state of the case it belongs to
    version = DocumentVersion.objects.filter(document__owner_ref="TC-2017/A1").order_by("pk").first()
    restore_file(Path(default_storage.path(version.storage_key))).write_bytes(b"changed")
    assert conflict(api("applicant-a1").get(f"/api/versions/{version.pk}/download/"),
                    "checksum_mismatch") == "implementation"
    assert len(seen) == 7


def test_an_error_without_a_state_gets_the_objects_state():
    """The handler's safety net: a 409 whose error names no state gets the view's object's."""
    from types import SimpleNamespace

    from api.errors import ApiError, exception_handler

    a1 = case("A1")
    view = SimpleNamespace(kwargs={"pk": a1.pk}, get_object=lambda: a1)
    response = exception_handler(ApiError(409, "stale_object", "changed meanwhile"), {"view": view})
    assert response.data["details"] == {"state": "implementation"}
    broken = SimpleNamespace(kwargs={"pk": 1}, get_object=lambda: 1 / 0)
    assert exception_handler(ApiError(409, "x", "y"), {"view": broken}).data["details"] == {"state": ""}
