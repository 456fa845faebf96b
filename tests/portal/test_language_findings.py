"""Pages in Kazakh and Russian show no English (the newcomer's language findings F9-F23,
/work/notes/breaker.md): double submits, engine-written reasons, the login form, 404 and CSRF
pages, Cyrillic search on SQLite, refusal messages, the dossier check, number grouping and
the language switcher."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from processes.rounds.models import Case
from processes.submission import services as submission
from processes.submission.models import Application
from workflow.models import AuditEntry

from . import roles_support
from .roles_support import COMPLETE, as_user, case, open_round, user

people = roles_support.people  # the module's fixture (demo users)

pytestmark = pytest.mark.django_db


def in_language(client, language: str):
    client.cookies["django_language"] = language
    return client


def text_of(response) -> str:
    return response.content.decode()


def tr(language: str, msgid: str, **params) -> str:
    """``msgid`` in ``language`` from the catalogue (failing when kk or ru lacks it), with ``params``."""
    from django.utils import translation

    with translation.override(language):
        text = translation.gettext(msgid)
    if language != "en":
        assert text != msgid, f"{language}: not translated: {msgid}"
    return text % params if params else text


# -- F9: a second submit says "already submitted" -----------------------------------------------

@pytest.fixture
def draft(people):
    rnd = open_round()
    return submission.file_new_application(round=rnd, applicant=user("applicant-a1"), values=COMPLETE).case


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_a_second_submit_leads_to_the_case_page_saying_already_submitted(draft, client, language):
    client = in_language(as_user(client, "applicant-a1"), language)
    url = reverse("portal:application-edit", args=[draft.pk])
    first = client.post(url, {"action": "submit"})
    assert first.status_code == 302
    entries = AuditEntry.objects.filter(chain=draft.ref).count()
    second = client.post(url, {"action": "submit"}, follow=True)
    assert second.redirect_chain == [(reverse("portal:case-detail", args=[draft.pk]), 302)]
    html = text_of(second)
    assert tr(language, "Application %(case)s is already submitted; you can follow its state here.",
              case=draft.ref) in html
    assert "The application was refused" not in html and "Заявка отклонена" not in html
    assert AuditEntry.objects.filter(chain=draft.ref).count() == entries  # nothing more written


def test_a_concurrent_second_submit_is_not_told_refused(draft, client, monkeypatch):
    """The race: this request read the draft, another one filed it before this one locked the
    row (simulated: the page is handed the draft as it was read before the other filing)."""
    from processes.portal.roles import applicant

    read_before = Application.objects.get(case=draft)
    submission.submit_application(application=Application.objects.get(case=draft), actor=user("applicant-a1"))
    monkeypatch.setattr(applicant, "_related", lambda obj, name: read_before)
    entries = AuditEntry.objects.filter(chain=draft.ref).count()
    client = in_language(as_user(client, "applicant-a1"), "ru")
    response = client.post(reverse("portal:application-edit", args=[draft.pk]), {"action": "submit"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:case-detail", args=[draft.pk])
    assert Application.objects.get(case=draft).state == "submitted"
    assert AuditEntry.objects.filter(chain=draft.ref).count() == entries


# -- F11: the login form's messages ---------------------------------------------------------------

@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_a_wrong_password_is_told_in_the_language_of_the_page(people, client, language):
    expected = tr(language, "The user name or the password is wrong. Both are case-sensitive.")
    response = in_language(client, language).post(reverse("login"), {"username": "coordinator",
                                                                     "password": "wrong"})
    assert response.status_code == 200
    html = text_of(response)
    assert expected in html
    assert "Please enter a correct" not in html and "Қолданушы атауы" not in html


def test_empty_login_fields_show_their_errors(people, client):
    response = in_language(client, "kk").post(reverse("login"), {"username": "", "password": ""})
    html = text_of(response)
    assert 'id="id_username_error"' in html and 'id="id_password_error"' in html
    assert html.count('<ul class="errorlist" id="id_') == 2 and "This field is required" not in html


# -- F15: 404 pages -------------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["kk", "ru"])
def test_404_pages_show_a_translated_message_never_an_exception(people, client, language):
    client = in_language(as_user(client, "applicant-a1"), language)
    generic = tr(language, "There is no such page, or you may not see it.")
    for url in (reverse("portal:case-detail", args=[case("A2").pk]),  # another applicant's case
                reverse("portal:case-detail", args=[999999]), "/nope/"):
        response = client.get(url)
        assert response.status_code == 404, url
        html = text_of(response)
        assert generic in html, url
        assert "matches the given query" not in html and "Resolver404" not in html and "Case" not in html


# -- F16: the CSRF failure page --------------------------------------------------------------------

@pytest.mark.parametrize("language", ["kk", "ru"])
def test_a_csrf_failure_is_the_portals_translated_problem_page(people, language):
    expected = tr(language, "The form has expired")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user("applicant-a1"))
    client.cookies["django_language"] = language
    before = AuditEntry.objects.count()
    response = client.post(reverse("portal:case-comment", args=[case("A1").pk]), {"text": "hello"})
    assert response.status_code == 403
    html = text_of(response)
    assert expected in html
    assert "CSRF" not in html and "DEBUG" not in html and "Forbidden" not in html
    assert AuditEntry.objects.count() == before


# -- F10: engine-written reasons and comments in the reader's language ---------------------------

def test_a_coded_reason_renders_in_each_language_with_its_numbers():
    from decimal import Decimal

    from processes.reasons import coded, english, render

    message = coded("score_below_pass_mark", score=Decimal("57.75"), pass_mark=Decimal("60.00"))
    assert message == {"code": "score_below_pass_mark", "params": {"score": "57.75", "pass_mark": "60.00"}}
    assert english(message) == "Score 57.75 is below the pass mark 60.00."
    for language in ("kk", "ru"):
        assert render(message, language=language) == tr(
            language, "Score %(score)s is below the pass mark %(pass_mark)s.", score="57,75", pass_mark="60,00")
    incomplete = coded("incomplete", fields="region, smes")
    assert render(incomplete, language="ru") == tr("ru", "Please complete: %(fields)s.", fields=", ".join(
        [tr("ru", "region"), tr("ru", "SMEs")]))
    with pytest.raises(KeyError):
        coded("no_such_code")
    assert render({"code": "no_such_code"}, fallback="as stored") == "as stored"


def test_an_entry_without_a_code_is_shown_as_stored():
    from processes.reasons import entry_comment

    older = AuditEntry(comment="Score 57.75 is below the pass mark 60.00.", data={})
    person = AuditEntry(comment="Please call me", data={"message": "not a coded message"})
    assert entry_comment(older) == "Score 57.75 is below the pass mark 60.00."
    assert entry_comment(person) == "Please call me"


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_selection_reasons_on_the_ranking_and_case_pages(people, client, language):
    from processes.reasons import render

    def reason(number, transition):
        entry = AuditEntry.objects.get(chain=f"TC-2017/{number}", object_type="selection.selection",
                                       transition=transition)
        return render(entry.data["message"], language=language)

    below, reaches = reason("A8", "reject"), reason("A1", "select")
    assert ",00" in below and ",00" in reaches  # the language's decimal separator
    client = in_language(as_user(client, "coordinator"), language)
    ranking = text_of(client.get(reverse("portal:round-ranking", args=["TC-2017"])))
    assert below in ranking and reaches in ranking
    assert "pass mark" not in ranking and "below the" not in ranking
    a1 = text_of(client.get(reverse("portal:case-detail", args=[case("A1").pk])))
    assert reaches in a1 and "pass mark" not in a1
    a8 = text_of(client.get(reverse("portal:case-detail", args=[case("A8").pk])))
    assert below in a8 and "is below the pass mark" not in a8
    entry = AuditEntry.objects.get(chain="TC-2017/A8", object_type="selection.selection", transition="reject")
    assert entry.data["message"]["code"] == "score_below_pass_mark"
    assert entry.comment.startswith("Score ") and "is below the pass mark 60.00" in entry.comment  # English record


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_the_excluded_sector_reason_is_in_the_readers_language(people, client, language):
    from processes.reasons import render

    entry = AuditEntry.objects.get(chain="TC-2017/A9", object_type="submission.application", transition="refuse")
    expected = render(entry.data["message"], language=language)
    assert expected and "excluded from the round" not in expected
    client = in_language(as_user(client, "coordinator"), language)
    html = text_of(client.get(reverse("portal:case-detail", args=[case("A9").pk])))
    assert expected in html
    assert "is excluded from the round" not in html
    auditor = in_language(as_user(Client(), "auditor"), language)
    audit = text_of(auditor.get(reverse("portal:audit"), {"case": "TC-2017/A9"}))
    assert expected in audit and "is excluded from the round" not in audit


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_suspend_and_resume_comments_are_in_the_readers_language(people, client, language):
    suspended = tr(language, "Case %(case)s suspended.", case="TC-2017/A1")
    resumed = tr(language, "Case %(case)s resumed.", case="TC-2017/A1")
    client = in_language(as_user(client, "coordinator"), language)
    a1 = case("A1")
    for name in ("suspend", "resume"):
        response = client.post(reverse("portal:case-transition", args=[a1.pk, name]), {"comment": ""})
        assert response.status_code == 302, name
    html = text_of(client.get(reverse("portal:case-detail", args=[a1.pk])))
    assert suspended in html and resumed in html
    assert "case TC-2017/A1 suspended" not in html.lower()


# -- F22: the switcher names each language in that language ---------------------------------------

@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_the_switcher_names_each_language_in_itself(client, db, language):
    html = text_of(in_language(client, language).get(reverse("login")))
    for code, name in (("kk", "Қазақша"), ("ru", "Русский"), ("en", "English")):
        assert f'<option value="{code}" lang="{code}"' in html and f">{name}</option>" in html
    assert "Ағылшын" not in html and "Английский" not in html


# -- F23: a language chosen on the login page wins at login ---------------------------------------

def test_a_language_chosen_before_login_wins_and_becomes_the_preference(client, db):
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from workflow.models import UserPreference

    person = get_user_model().objects.create_user("ru-saved", password="a-long-test-password")
    UserPreference.objects.create(user=person, language="ru")
    assert client.post(reverse("portal:set-language"), {"language": "kk", "next": reverse("login")}).status_code == 302
    response = client.post(reverse("login"), {"username": "ru-saved", "password": "a-long-test-password"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "kk"
    assert UserPreference.objects.get(user=person).language == "kk"
    assert client.get(reverse("portal:case-list"))["Content-Language"] == "kk"
    client.logout()  # the choice was used once: the next login follows the (new) preference
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    again = client.post(reverse("login"), {"username": "ru-saved", "password": "a-long-test-password"})
    assert again.cookies[settings.LANGUAGE_COOKIE_NAME].value == "kk"


# -- F19: the dossier check page --------------------------------------------------------------------

def _dossier(number="A1") -> bytes:
    import io

    from documents.dossier import build_dossier

    stream = io.BytesIO()
    build_dossier(case(number), stream=stream)
    return stream.getvalue()


def _upload(content: bytes, name="dossier.zip"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/zip")


def test_an_intact_dossier_shows_its_time_in_local_time(people, client):
    import datetime as dt
    import json
    import zipfile
    from io import BytesIO
    from zoneinfo import ZoneInfo

    content = _dossier()
    manifest = json.loads(zipfile.ZipFile(BytesIO(content)).read("manifest.json"))
    made = dt.datetime.fromisoformat(manifest["generated_at"]).astimezone(ZoneInfo("Asia/Almaty"))
    client = in_language(as_user(client, "auditor"), "ru")
    html = text_of(client.post(reverse("portal:dossier-verify"), {"file": _upload(content)}))
    assert 'data-ok="true"' in html
    assert made.strftime("%d.%m.%Y %H:%M:%S") in html and manifest["generated_at"] not in html.split("datetime=")[0]
    assert "+00:00<" not in html


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_dossier_problem_kinds_are_translated(people, client, language):
    changed, missing = tr(language, "changed"), tr(language, "missing")
    import io
    import zipfile

    original = zipfile.ZipFile(io.BytesIO(_dossier()))
    tampered = io.BytesIO()
    documents = [i.filename for i in original.infolist() if i.filename.startswith("documents/")]
    with zipfile.ZipFile(tampered, "w") as out:
        for info in original.infolist():
            if info.filename == documents[1]:
                continue  # dropped: missing
            data = original.read(info)
            out.writestr(info, data + b"x" if info.filename == documents[0] else data)
    client = in_language(as_user(client, "auditor"), language)
    response = client.post(reverse("portal:dossier-verify"), {"file": _upload(tampered.getvalue())})
    html = text_of(response)
    assert 'data-kind="changed"' in html and 'data-kind="missing"' in html
    assert f"<td>{changed}</td>" in html and f"<td>{missing}</td>" in html
    assert "<code>changed</code>" not in html


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_a_file_that_is_not_a_zip_is_refused_without_the_librarys_english(people, client, language):
    client = in_language(as_user(client, "auditor"), language)
    response = client.post(reverse("portal:dossier-verify"), {"file": _upload(b"plain text", "notes.zip")})
    assert response.status_code == 400
    assert "File is not a zip file" not in text_of(response) and "notes.zip" in text_of(response)


# -- F20, F21: grouped numbers and no library text in refusals ----------------------------------------

@pytest.mark.parametrize(("language", "grouped"), [("kk", "3\xa0145\xa0728"), ("ru", "3\xa0145\xa0728"),
                                                   ("en", "3,145,728")])
def test_a_413_groups_the_byte_count_as_the_language_does(people, client, language, grouped):
    from django.test import override_settings

    client = in_language(as_user(client, "applicant-a1"), language)
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024):
        response = client.generic("POST", reverse("portal:case-comment", args=[case("A1").pk]),
                                  data=b"x" * 3_145_728, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert grouped in text_of(response)


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_a_damaged_office_file_is_refused_without_the_librarys_english(language):
    from django.utils import translation

    from documents.uploads import UploadRejected, inspect_upload

    with translation.override(language), pytest.raises(UploadRejected) as refused:
        inspect_upload(b"PK\x03\x04garbage" + b"\x00" * 64, name="broken.docx")
    assert "File is not a zip file" not in refused.value.message and "broken.docx" in refused.value.message


# -- F18: refusals name models, transitions and states by their labels ------------------------------

@pytest.mark.parametrize("language", ["kk", "ru"])
def test_refusals_name_the_model_transition_and_states_by_their_labels(people, language):
    from django.utils import translation

    from processes.portal.labels import state_label, transition_label
    from workflow.exceptions import TransitionNotAllowed
    from workflow.transitions import perform

    with translation.override(language), pytest.raises(TransitionNotAllowed) as refused:
        perform(case("A2"), "suspend", actor=user("coordinator"))  # A2 was not selected
    message = refused.value.message
    with translation.override(language):
        assert f"{Case._meta.verbose_name} TC-2017/A2" in message
        for label in (transition_label("suspend"), state_label("not_selected"), state_label("diagnosis")):
            assert label in message and label not in ("suspend", "not_selected", "diagnosis")
    for code in ("Case ", "'suspend'", "not_selected", "diagnosis,", "'"):
        assert code not in message


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_the_work_page_explains_unavailable_actions_without_codes(people, client, language):
    html = text_of(in_language(as_user(client, "coordinator"), language).get(reverse("portal:coordinator")))
    assert "Case TC-2017/" not in html and "&#x27;close&#x27;" not in html and "'close'" not in html


def test_a_refused_language_is_named_by_its_label_not_its_key(people, client):
    from .roles_support import open_round

    rnd = open_round()
    client = in_language(as_user(client, "applicant-a1"), "kk")
    response = client.post(reverse("portal:application-new", args=[rnd.code]), {**COMPLETE, "language": "de"})
    assert response.status_code == 400
    html = text_of(response)
    assert f"{tr('kk', 'Language')}: " in html and "language: " not in html


# -- minor: a GET on a POST-only address is a page, not an empty 405 --------------------------------

@pytest.mark.parametrize("language", ["kk", "ru"])
def test_a_get_on_a_post_only_address_is_a_translated_405_page(people, client, language):
    client = in_language(as_user(client, "auditor"), language)
    response = client.get(reverse("portal:audit-verify"))
    assert response.status_code == 405 and "POST" in response["Allow"]
    assert tr(language, "Not available this way") in text_of(response)
    api = in_language(as_user(client, "coordinator"), language).get("/api/cases/1/transitions/suspend/")
    assert api.status_code == 405 and api["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_the_audit_search_shows_coded_reasons_without_loading_data(people, client, language,
                                                                    django_assert_max_num_queries):
    from processes.reasons import render

    entry = AuditEntry.objects.get(chain="TC-2017/A8", object_type="selection.selection", transition="reject")
    shown = render(entry.data["message"], language=language)
    assert shown != entry.comment and "." not in shown.split()[1]  # e.g. 29,25: the reader's decimal comma
    client = in_language(as_user(client, "auditor"), language)
    with django_assert_max_num_queries(30):  # data is not loaded per row (only its message, annotated)
        html = text_of(client.get(reverse("portal:audit"), {"case": "TC-2017/A8"}))
    assert shown in html and entry.comment not in html
