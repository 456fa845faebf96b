"""Interface translations (issue 6, item 4): complete and current catalogues, pages rendered in
Kazakh and Russian with local dates, and the language switcher with the saved preference.

The catalogues are ``locale/{kk,ru}/LC_MESSAGES/django.po`` (docs/i18n.md). "Complete": every
entry has a translation (every plural form), none is fuzzy, and each keeps the placeholders of
its msgid. "Current": ``makemessages`` run with the project's options on a copy of the sources
finds no interface string the catalogues lack, and none they keep that the code no longer has.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import polib
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from processes.rounds.actors import ensure_user
from processes.rounds.models import Case
from workflow.models import AuditEntry, UserPreference

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("kk", "ru")
#: The options of the catalogue update (docs/i18n.md); tests and the benchmark are not interface.
MAKEMESSAGES_IGNORE = [".venv", "var", "tests", "bench", "api/tests"]
#: Placeholders a translation must keep: %(name)s / %s style and {name} style.
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdif]|%[sdif]|\{[a-z_]*\}")


def catalogue(language: str, root: Path = ROOT) -> polib.POFile:
    return polib.pofile(str(root / "locale" / language / "LC_MESSAGES" / "django.po"))


def keys(po: polib.POFile) -> set[tuple[str | None, str, str]]:
    """The (context, msgid, plural msgid) of every live (not obsolete) entry."""
    return {(entry.msgctxt, entry.msgid, entry.msgid_plural) for entry in po if not entry.obsolete}


# -- complete --------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_and_none_is_fuzzy(language):
    po = catalogue(language)
    live = [entry for entry in po if not entry.obsolete]
    assert len(live) > 200  # the catalogue was found and read
    untranslated = [entry.msgid for entry in live if not entry.translated()]
    fuzzy = [entry.msgid for entry in live if entry.fuzzy]
    assert untranslated == [], f"{language}: {len(untranslated)} untranslated: {untranslated[:20]}"
    assert fuzzy == [], f"{language}: fuzzy: {fuzzy[:20]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders(language):
    wrong = []
    for entry in catalogue(language):
        if entry.obsolete or not entry.translated():  # untranslated: the test above
            continue
        if entry.msgid_plural:
            expected = set(PLACEHOLDER.findall(entry.msgid_plural)) | set(PLACEHOLDER.findall(entry.msgid))
            for form in entry.msgstr_plural.values():
                if not set(PLACEHOLDER.findall(form)) <= expected:
                    wrong.append((entry.msgid, form))
        elif sorted(PLACEHOLDER.findall(entry.msgstr)) != sorted(PLACEHOLDER.findall(entry.msgid)):
            wrong.append((entry.msgid, entry.msgstr))
    assert wrong == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_compiles_with_format_checks(language, tmp_path):
    po = ROOT / "locale" / language / "LC_MESSAGES" / "django.po"
    result = subprocess.run(["msgfmt", "--check-format", "-o", str(tmp_path / "django.mo"), str(po)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    header = catalogue(language).metadata
    assert header["Language"] == language
    assert header["Content-Type"] == "text/plain; charset=UTF-8"


# -- current ---------------------------------------------------------------------------------------

def _sources_only(directory: str, names: list[str]) -> set[str]:
    """shutil.copytree filter: the directories and the files makemessages reads (.py, .html,
    .txt), without the virtualenv, data, VCS and the catalogues themselves."""
    skipped = {".venv", "var", ".git", "__pycache__", "node_modules", ".pytest_cache", "locale"}
    ignored = set()
    for name in names:
        path = Path(directory) / name
        if name in skipped or name.endswith(".egg-info"):
            ignored.add(name)
        elif path.is_file() and path.suffix not in {".py", ".html", ".txt"}:
            ignored.add(name)
    return ignored


def test_the_catalogues_list_every_interface_string_of_the_code(tmp_path, monkeypatch):
    """``makemessages`` on a copy of the sources (same options as docs/i18n.md) neither adds
    nor retires an entry: the committed catalogues are current."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT, copy, ignore=_sources_only)
    for language in LANGUAGES:
        target = copy / "locale" / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        shutil.copy2(ROOT / "locale" / language / "LC_MESSAGES" / "django.po", target)
    monkeypatch.chdir(copy)
    with override_settings(LOCALE_PATHS=[copy / "locale"]):
        call_command("makemessages", locale=list(LANGUAGES), ignore_patterns=list(MAKEMESSAGES_IGNORE),
                     no_location=True, verbosity=0)
    for language in LANGUAGES:
        committed, fresh = keys(catalogue(language)), keys(catalogue(language, copy))
        missing = sorted(msgid for _, msgid, _ in fresh - committed)
        stale = sorted(msgid for _, msgid, _ in committed - fresh)
        assert missing == [], (f"{language}: {len(missing)} interface strings are not in the catalogue "
                               f"(run the makemessages command of docs/i18n.md and translate them): {missing[:20]}")
        assert stale == [], f"{language}: entries the code no longer has (run makemessages): {stale[:20]}"


def test_the_current_check_sees_a_new_string(tmp_path, monkeypatch):
    """The check above can fail: a new wrapped string in a copy of the code is picked up."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "processes" / "portal", copy / "processes" / "portal", ignore=_sources_only)
    (copy / "processes" / "portal" / "probe.py").write_text(
        'from django.utils.translation import gettext as _\n\nPROBE = _("A string nobody translated yet")\n')
    (copy / "locale" / "kk" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy2(ROOT / "locale" / "kk" / "LC_MESSAGES" / "django.po", copy / "locale" / "kk" / "LC_MESSAGES")
    monkeypatch.chdir(copy)
    with override_settings(LOCALE_PATHS=[copy / "locale"]):
        call_command("makemessages", locale=["kk"], no_location=True, verbosity=0)
    fresh = catalogue("kk", copy)
    assert fresh.find("A string nobody translated yet") is not None
    assert not fresh.find("A string nobody translated yet").translated()


# -- pages -----------------------------------------------------------------------------------------

class _Text(HTMLParser):
    """The visible text nodes of a page (whitespace collapsed, a trailing colon dropped,
    non-empty), outside <style> and <script> and outside the identifiers shown as such
    (<code>, <kbd>, <samp>: transition and state codes, usernames, checksums)."""

    SKIPPED = ("style", "script", "code", "kbd", "samp")

    def __init__(self):
        super().__init__()
        self.nodes: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in self.SKIPPED

    def handle_endtag(self, tag):
        self._skip -= tag in self.SKIPPED

    def handle_data(self, data):
        text = " ".join(data.split()).rstrip(":").rstrip()
        if not self._skip and text:
            self.nodes.append(text)


def text_nodes(response) -> list[str]:
    parser = _Text()
    parser.feed(response.content.decode())
    return parser.nodes


#: Strings of the base template (menu, switcher) that every page shows.
BASE_STRINGS = ("Cases", "Inbox", "Notifications", "Log out", "Switch", "Language")


@pytest.fixture
def coordinator(db):
    return ensure_user("coordinator-i18n", "coordinator")


def english_msgids(language: str) -> set[str]:
    """The catalogue's English strings whose translation differs (not "PDF", "Kelisim", ...)."""
    return {entry.msgid for entry in catalogue(language)
            if not entry.obsolete and not entry.msgid_plural and entry.msgstr != entry.msgid}


@pytest.mark.parametrize("language", LANGUAGES)
def test_case_list_and_case_page_speak_the_cookie_language(client, coordinator, language):
    """No text of the page is an interface string left in English, and the menu is translated."""
    client.force_login(coordinator)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    case = Case.objects.get(ref="TC-2017/A1")
    pages = {"list": client.get(reverse("portal:case-list")),
             "case": client.get(reverse("portal:case-detail", args=[case.pk]))}
    # Usernames are data, even when one is spelt like a role ("coordinator").
    english = english_msgids(language) - set(get_user_model().objects.values_list("username", flat=True))
    with translation.override(language):
        translated_menu = {translation.gettext(s) for s in BASE_STRINGS}
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert response["Content-Language"] == language
        assert f'<html lang="{language}">' in response.content.decode()
        nodes = set(text_nodes(response))
        assert nodes & english == set(), f"{name} page shows English interface strings in {language}"
        assert translated_menu <= nodes, f"{name} page lacks {translated_menu - nodes}"
    history_times = [n for n in text_nodes(pages["case"]) if re.fullmatch(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}", n)]
    assert history_times, "the audit history shows dd.mm.yyyy times"
    assert not [n for n in text_nodes(pages["case"]) if re.search(r"\b\d{4}-\d{2}-\d{2}\b", n)]


def test_dates_on_the_case_page_are_in_almaty_time(client, coordinator):
    client.force_login(coordinator)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "kk"
    case = Case.objects.get(ref="TC-2017/A1")
    first = AuditEntry.objects.filter(chain=case.ref).order_by("seq").first()
    response = client.get(reverse("portal:case-detail", args=[case.pk]))
    expected = first.created_at.astimezone(ZoneInfo("Asia/Almaty")).strftime("%d.%m.%Y %H:%M:%S")
    assert expected in text_nodes(response)


# -- the switcher and the saved preference --------------------------------------------------------

def test_the_switcher_is_on_every_page_with_the_three_languages(client, coordinator):
    for response in (client.get(reverse("login")), client.force_login(coordinator) or client.get(reverse("portal:case-list"))):
        html = response.content.decode()
        assert 'id="language-switcher"' in html and 'id="language-submit"' in html
        assert f'action="{reverse("portal:set-language")}"' in html
        for code, name in (("kk", "Қазақша"), ("ru", "Русский"), ("en", "English")):
            assert re.search(rf'<option value="{code}" lang="{code}"[^>]*>{name}</option>', html)


def test_switching_saves_the_preference_of_a_logged_in_user(client, coordinator):
    client.force_login(coordinator)
    url = reverse("portal:case-list")
    response = client.post(reverse("portal:set-language"), {"language": "kk", "next": url})
    assert response.status_code == 302 and response["Location"] == url
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "kk"
    assert UserPreference.objects.get(user=coordinator).language == "kk"
    page = client.get(url)
    assert page["Content-Language"] == "kk"
    client.post(reverse("portal:set-language"), {"language": "ru", "next": url})
    assert UserPreference.objects.get(user=coordinator).language == "ru"


def test_an_anonymous_switch_sets_only_the_cookie(client, db):
    before = UserPreference.objects.count()
    response = client.post(reverse("portal:set-language"), {"language": "ru", "next": reverse("login")})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    assert UserPreference.objects.count() == before
    login_page = client.get(reverse("login"))
    assert login_page["Content-Language"] == "ru"
    with translation.override("ru"):
        assert translation.gettext("Log in") in text_nodes(login_page)


@pytest.mark.parametrize("language", ["", "de", "KK", "kk-x", "ru\n"])
def test_an_unknown_language_is_refused_and_changes_nothing(client, coordinator, language):
    client.force_login(coordinator)
    UserPreference.objects.create(user=coordinator, language="ru")
    response = client.post(reverse("portal:set-language"), {"language": language, "next": "/"})
    assert response.status_code == 400
    assert "Қазақша (kk)" in response.content.decode()
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert UserPreference.objects.get(user=coordinator).language == "ru"


def test_get_is_not_a_switch(client):
    assert client.get(reverse("portal:set-language"), {"language": "kk"}).status_code == 405


def test_a_login_switches_to_the_saved_language(client, db):
    person = get_user_model().objects.create_user("kk-speaker", password="a-long-test-password")
    UserPreference.objects.create(user=person, language="kk")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(reverse("login"), {"username": "kk-speaker", "password": "a-long-test-password"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "kk"
    assert client.get(reverse("portal:case-list"))["Content-Language"] == "kk"


def test_a_login_without_a_saved_language_keeps_the_browser_language(client, db):
    get_user_model().objects.create_user("no-preference", password="a-long-test-password")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    response = client.post(reverse("login"), {"username": "no-preference", "password": "a-long-test-password"})
    assert response.status_code == 302
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert client.get(reverse("portal:case-list"))["Content-Language"] == "ru"


# -- labels of the workflow's codes ------------------------------------------------------------------

def fsm_transition_names() -> set[str]:
    from django.apps import apps

    return {name for model in apps.get_models() for name in dir(model)
            if getattr(getattr(model, name, None), "_django_fsm", None) is not None}


def test_every_transition_and_every_model_with_states_has_a_label():
    from django.apps import apps
    from django_fsm import FSMFieldMixin

    from processes.portal.labels import MODEL_LABELS, TRANSITION_LABELS

    names = fsm_transition_names()
    assert len(names) > 40
    assert names - set(TRANSITION_LABELS) == set()
    stateful = {model._meta.label_lower for model in apps.get_models()
                if any(isinstance(field, FSMFieldMixin) for field in model._meta.get_fields())}
    assert len(stateful) > 10
    assert stateful - set(MODEL_LABELS) == set()


@pytest.mark.parametrize(("language", "expected"), [("en", "advance to selection"), ("ru", "перевести на отбор"),
                                                     ("kk", "іріктеуге өткізу")])
def test_transition_and_state_labels_follow_the_language(language, expected):
    from processes.portal.labels import model_label, state_label, transition_label

    with translation.override(language):
        assert transition_label("advance_to_selection") == expected
        assert state_label("in_force", "support.supportmeasure") == translation.gettext("in force")
        assert state_label("implementation") == translation.gettext("implementation")  # a case's state
        assert model_label("planning.plan") == translation.gettext("development plan")
    assert transition_label("no_such_transition") == "no_such_transition"
    assert model_label("no.such_model") == "no.such_model"
    assert state_label("in_force", "no.such_model") == "in_force"
    assert state_label("", "rounds.case") == ""


@pytest.mark.parametrize(("language", "expected"), [("en", "1,234,567.50"), ("ru", "1\xa0234\xa0567,50"),
                                                     ("kk", "1\xa0234\xa0567,50")])
def test_amounts_are_grouped_in_the_language_of_the_page(language, expected):
    from django.template import Context, Template

    template = Template("{% load portal_tags %}{{ amount|grouped:2 }}|{{ score }}|{{ 'n/a'|grouped }}")
    with translation.override(language):
        rendered = template.render(Context({"amount": 1234567.5, "score": Decimal("36.75")}))
    assert rendered == f"{expected}|{'36.75' if language == 'en' else '36,75'}|n/a"


@pytest.mark.parametrize("language", LANGUAGES)
def test_refusals_of_files_and_application_values_are_in_the_readers_language(language):
    """What an applicant reads when a file or a value is refused comes from the catalogue."""
    from documents.uploads import UploadRejected, inspect_upload
    from processes.submission.services import ApplicationInvalid, clean_application_values

    with translation.override(language):
        with pytest.raises(UploadRejected) as refused:
            inspect_upload(b"", name="Өтінім №5.docx")
        with pytest.raises(ApplicationInvalid) as invalid:
            clean_application_values({"employees": "many", "name_en": "Cluster"})
        expected_upload = translation.gettext("%(label)s is empty (0 bytes).") % {
            "label": translation.gettext("“%(name)s”") % {"name": "Өтінім №5.docx"}}
        expected_value = translation.gettext("must be a whole number >= 0")
    assert refused.value.message == expected_upload and "Өтінім №5.docx" in expected_upload
    assert expected_upload != "“Өтінім №5.docx” is empty (0 bytes)."  # translated, not the English
    assert invalid.value.problems == {"employees": expected_value} and expected_value != "must be a whole number >= 0"


@pytest.mark.parametrize(("language", "expected"), [("kk", "2026 ж. 29 қараша 18:07"), ("ru", "29 ноября 2026 г. 18:07"),
                                                     ("en", "29 November 2026 18:07")])
def test_long_dates_read_as_each_language_writes_them(language, expected):
    import datetime as dt

    from django.utils.formats import date_format

    with translation.override(language):
        assert date_format(dt.datetime(2026, 11, 29, 18, 7), "DATETIME_FORMAT") == expected
        assert date_format(dt.date(2026, 11, 29), "SHORT_DATE_FORMAT") == "29.11.2026"
