"""The portal (case list, case page, downloads), the admin and ``create_demo_users``.

The data is one full run of ``run_cycle`` on the 2017 sample plus the demo users, built once
per module inside a transaction that is rolled back at the end (each test runs in its own
savepoint on top of it), with documents stored under a temporary MEDIA_ROOT.
"""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import formats, translation

from documents.models import Document, DocumentVersion
from processes.rounds.models import Case, Round
from workflow.admin import fsm_field_names
from workflow.models import AuditChain, AuditEntry

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "samples" / "pilot-selection-2017.json")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def cycle(django_db_setup, django_db_blocker, tmp_path_factory):
    """The 2017 sample after ``run_cycle`` plus the demo users; yields the storage location.

    When the round is not in the database yet, the cycle runs here with documents stored under
    a temporary MEDIA_ROOT; when a session fixture already ran it, its data and storage are
    used as they are (the files must be read where they were written). Everything done here
    is rolled back at the end of the module.
    """
    fast_hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock():
        overrides = {"PASSWORD_HASHERS": fast_hashers}
        if not Round.objects.filter(code="TC-2017").exists():
            media = tmp_path_factory.mktemp("portal-media")
            overrides.update(MEDIA_ROOT=str(media), STORAGES={
                **settings.STORAGES,
                "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                            "OPTIONS": {"location": str(media)}}})
        with override_settings(**overrides), transaction.atomic():
            if not Round.objects.filter(code="TC-2017").exists():
                call_command("run_cycle", SAMPLE, stdout=io.StringIO())
            call_command("create_demo_users", stdout=io.StringIO())
            yield Path(default_storage.location)
            transaction.set_rollback(True)


def user(username):
    return get_user_model().objects.get(username=username)


@pytest.fixture
def coordinator_client(cycle, client):
    client.force_login(user("coordinator"))
    return client


@pytest.fixture
def applicant_client(cycle, client):
    client.force_login(user("applicant-a1"))
    return client


def case(number: str) -> Case:
    return Case.objects.get(ref=f"TC-2017/{number}")


def docx_version(number: str) -> DocumentVersion:
    return (DocumentVersion.objects.filter(document__owner_ref=f"TC-2017/{number}", content_type=DOCX)
            .select_related("document").order_by("pk").first())


# -- login -------------------------------------------------------------------------------

def test_demo_coordinator_logs_in_with_the_demo_password(cycle, client):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'action="/i18n/set/"' in page.content

    response = client.post(reverse("login"), {"username": "coordinator", "password": "kelisim-coordinator"})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:case-list")
    assert client.get(reverse("portal:case-list")).status_code == 200


def test_wrong_password_is_refused(cycle, client):
    response = client.post(reverse("login"), {"username": "coordinator", "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("name", ["case-list", "case-detail", "document-download", "round-detail"])
def test_anonymous_users_are_sent_to_login(cycle, client, name):
    args = {"case-list": [], "case-detail": [case("A1").pk], "document-download": [docx_version("A1").pk],
            "round-detail": ["TC-2017"]}[name]
    url = reverse(f"portal:{name}", args=args)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={quote(url)}"


# -- case list -----------------------------------------------------------------------------

def case_links(response) -> set[str]:
    return set(re.findall(r'href="/cases/(\d+)/"', response.content.decode()))


def test_coordinator_sees_all_nine_cases_with_score_and_rank(coordinator_client):
    response = coordinator_client.get(reverse("portal:case-list"))
    assert response.status_code == 200
    assert len(response.context["cases"]) == 9
    assert case_links(response) == {str(c.pk) for c in Case.objects.all()}
    html = response.content.decode()
    a5 = case("A5").application.selection
    assert a5.rank == 1
    with translation.override(settings.LANGUAGE_CODE):  # the page is rendered in the default language
        assert re.search(rf'{re.escape(formats.localize(a5.score))}</td>\s*<td class="num">1</td>', html)
    assert 'action="/i18n/set/"' in html and 'value="kk"' in html


def test_language_switcher_changes_the_page_language(coordinator_client):
    url = reverse("portal:case-detail", args=[case("A1").pk])
    response = coordinator_client.post("/i18n/setlang/", {"language": "en", "next": url})
    assert response.status_code == 302 and response["Location"] == url
    page = coordinator_client.get(url)
    assert page["Content-Language"] == "en"
    assert case("A1").name("en") in page.content.decode()


def test_case_list_filters_by_state(coordinator_client):
    response = coordinator_client.get(reverse("portal:case-list"), {"state": "not_selected"})
    assert {c.ref for c in response.context["cases"]} == {"TC-2017/A2", "TC-2017/A3", "TC-2017/A6", "TC-2017/A8"}
    unknown = coordinator_client.get(reverse("portal:case-list"), {"state": "nonsense"})
    assert len(unknown.context["cases"]) == 9


def test_case_list_query_count_does_not_grow_with_cases(coordinator_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        response = coordinator_client.get(reverse("portal:case-list"))
    assert len(response.context["cases"]) == 9


def test_applicant_sees_only_its_own_case(applicant_client):
    response = applicant_client.get(reverse("portal:case-list"))
    assert response.status_code == 200
    assert [c.ref for c in response.context["cases"]] == ["TC-2017/A1"]
    assert case_links(response) == {str(case("A1").pk)}


# -- case page -----------------------------------------------------------------------------

def test_case_page_shows_history_documents_and_transitions(coordinator_client):
    a1 = case("A1")
    response = coordinator_client.get(reverse("portal:case-detail", args=[a1.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    history = list(response.context["history"])
    assert history == list(AuditEntry.objects.filter(chain=a1.ref).order_by("seq"))
    assert len(history) > 10
    assert "advance_to_diagnosis" in html and "applicant-a1" in html
    documents = Document.objects.filter(owner_ref=a1.ref)
    assert documents.count() == 9
    for version in DocumentVersion.objects.filter(document__in=documents):
        assert reverse("portal:document-download", args=[version.pk]) in html
        assert version.sha256[:12] in html
    names = {option.name for option in response.context["transitions"]}
    assert {"close", "suspend"} <= names  # the case is in implementation
    close = next(o for o in response.context["transitions"] if o.name == "close")
    assert not close.allowed and "implementation must be completed" in close.reason
    assert "Asia/Almaty" in html


def test_case_page_times_are_in_almaty(coordinator_client):
    a1 = case("A1")
    first = AuditEntry.objects.filter(chain=a1.ref).order_by("seq").first()
    html = coordinator_client.get(reverse("portal:case-detail", args=[a1.pk])).content.decode()
    from zoneinfo import ZoneInfo

    assert first.created_at.astimezone(ZoneInfo("Asia/Almaty")).strftime("%d.%m.%Y %H:%M:%S") in html


def test_applicant_opens_its_case_but_gets_404_for_others(applicant_client):
    assert applicant_client.get(reverse("portal:case-detail", args=[case("A1").pk])).status_code == 200
    assert applicant_client.get(reverse("portal:case-detail", args=[case("A2").pk])).status_code == 404


def test_round_page_lists_the_selection_minutes_for_staff_only(coordinator_client, cycle):
    url = reverse("portal:round-detail", args=["TC-2017"])
    response = coordinator_client.get(url)
    assert response.status_code == 200
    kinds = [d.kind for d in response.context["documents"]]
    assert kinds[0] == "selection_minutes"  # then the briefing note and the training papers
    assert set(kinds) == {"selection_minutes", "briefing_note", "training_attendance_list", "training_certificate"}
    coordinator_client.force_login(user("applicant-a1"))
    assert coordinator_client.get(url).status_code == 403


# -- downloads -----------------------------------------------------------------------------

def test_download_returns_the_exact_bytes_with_an_rfc5987_name(coordinator_client):
    version = docx_version("A1")
    response = coordinator_client.get(reverse("portal:document-download", args=[version.pk]))
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == version.sha256
    assert len(response.content) == version.size
    assert response["Content-Type"] == DOCX
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert f"filename*=UTF-8''{quote(version.original_name, safe='')}" in disposition
    assert disposition.isascii()


def test_download_of_a_tampered_file_answers_409(coordinator_client, cycle):
    version = docx_version("A1")
    path = Path(default_storage.path(version.storage_key))
    assert path.is_file() and path.is_relative_to(cycle)
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-10] + b"tampered!!")
        response = coordinator_client.get(reverse("portal:document-download", args=[version.pk]))
        assert response.status_code == 409
        assert "sha256" in response.content.decode()
    finally:
        path.write_bytes(original)
    assert coordinator_client.get(reverse("portal:document-download", args=[version.pk])).status_code == 200


def test_download_of_a_missing_file_answers_404_with_a_message(coordinator_client, cycle):
    version = docx_version("A2")
    path = Path(default_storage.path(version.storage_key))
    moved = path.with_suffix(".moved")
    path.rename(moved)
    try:
        response = coordinator_client.get(reverse("portal:document-download", args=[version.pk]))
        assert response.status_code == 404
        assert "cannot be found" in response.content.decode()
    finally:
        moved.rename(path)


def test_applicant_downloads_only_its_own_documents(applicant_client):
    own = docx_version("A1")
    response = applicant_client.get(reverse("portal:document-download", args=[own.pk]))
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == own.sha256
    other = docx_version("A2")
    assert applicant_client.get(reverse("portal:document-download", args=[other.pk])).status_code == 404
    minutes = DocumentVersion.objects.get(document__owner_ref="TC-2017", document__kind="selection_minutes")
    assert applicant_client.get(reverse("portal:document-download", args=[minutes.pk])).status_code == 404
    assert applicant_client.get(reverse("portal:document-download", args=[10**9])).status_code == 404


# -- admin -----------------------------------------------------------------------------------

REGISTERED = sorted(f"{m._meta.app_label}.{m._meta.model_name}" for m in admin.site._registry)


def test_every_required_model_is_registered():
    expected = {"rounds.round", "rounds.case", "submission.application", "selection.scoresheet",
                "selection.selection", "diagnosis.diagnosis", "planning.plan", "approvals.approval", "approvals.decision", "approvals.delegation",
                "support.supportmeasure", "implementation.implementation", "implementation.monitoringreport",
                "advisory.advisorymaterial", "training.trainingmodule", "documents.document",
                "workflow.auditentry", "workflow.auditchain"}
    assert expected <= set(REGISTERED)


@pytest.mark.parametrize("label", REGISTERED)
def test_admin_changelist_and_change_page_answer_200(cycle, admin_client, label):
    app_label, model_name = label.split(".")
    response = admin_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 200
    model = next(m for m in admin.site._registry if m._meta.label_lower == label)
    obj = model._default_manager.first()
    if obj is not None:
        assert admin_client.get(reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk])).status_code == 200


@pytest.mark.parametrize("label", REGISTERED)
def test_state_fields_are_read_only_in_the_admin(rf, cycle, label):
    model = next(m for m in admin.site._registry if m._meta.label_lower == label)
    model_admin = admin.site._registry[model]
    request = rf.get("/admin/")
    request.user = user("admin")
    obj = model._default_manager.first()
    readonly = set(model_admin.get_readonly_fields(request, obj))
    assert set(fsm_field_names(model)) <= readonly
    for inline in model_admin.get_inline_instances(request, obj):
        assert set(fsm_field_names(inline.model)) <= set(inline.get_readonly_fields(request, obj))


@pytest.mark.parametrize("model", [AuditEntry, AuditChain, Document])
def test_history_and_documents_cannot_be_edited_in_the_admin(rf, cycle, model):
    model_admin = admin.site._registry[model]
    request = rf.get("/admin/")
    request.user = user("admin")
    obj = model._default_manager.first()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)
    assert model_admin.has_view_permission(request, obj)


def test_round_state_cannot_be_posted_through_the_admin(cycle, admin_client):
    rnd = Round.objects.get(code="TC-2017")
    page = admin_client.get(reverse("admin:rounds_round_change", args=[rnd.pk]))
    assert page.status_code == 200
    assert 'name="state"' not in page.content.decode()


def test_a_running_round_cannot_be_edited_through_the_admin(cycle, admin_client):
    rnd = Round.objects.get(code="TC-2017")
    page = admin_client.get(reverse("admin:rounds_round_change", args=[rnd.pk])).content.decode()
    for field in ("pass_mark", "max_selected", "code", "excluded_sectors"):
        assert f'name="{field}"' not in page
    admin_client.post(reverse("admin:rounds_round_change", args=[rnd.pk]), {"pass_mark": "70", "code": "X"})
    rnd.refresh_from_db()
    assert (rnd.code, rnd.pass_mark) == ("TC-2017", Decimal("60.00"))


# -- create_demo_users ---------------------------------------------------------------------

def test_create_demo_users_twice_prints_and_resets_the_passwords(cycle):
    coordinator = user("coordinator")
    coordinator.set_password("changed")
    coordinator.save()
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        call_command("create_demo_users", stdout=out)
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    for username, role in [("coordinator", "coordinator"), ("partner", "partner_coordinator"),
                           ("expert1", "expert"), ("expert2", "expert"), ("signatory1", "signatory"),
                           ("signatory2", "signatory"), ("auditor", "auditor"), ("applicant-a1", "applicant"),
                           ("admin", "administrator")]:
        assert re.search(rf"^{re.escape(username)}\s+{role}\s+kelisim-{re.escape(username)}$", outputs[0], re.M)
        account = user(username)
        assert account.check_password(f"kelisim-{username}")
        assert account.groups.filter(name=role).exists()
    assert user("admin").is_superuser and user("admin").is_staff
    assert get_user_model().objects.filter(username="coordinator").count() == 1
    rnd = Round.objects.get(code="TC-2017")
    assert [s.user.username for s in rnd.signatories.order_by("position")[:2]] == ["signatory1", "signatory2"]
    assert case("A1").applicant.username == "applicant-a1"


def test_create_demo_users_links_unlinked_signatories(cycle):
    rnd = Round.objects.get(code="TC-2017")
    rnd.signatories.filter(position__in=(1, 2)).update(user=None)
    out = io.StringIO()
    call_command("create_demo_users", stdout=out)
    assert "position 1 -> signatory1" in out.getvalue()
    assert [s.user.username for s in rnd.signatories.order_by("position")[:2]] == ["signatory1", "signatory2"]
