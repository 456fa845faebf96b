"""Portal files: attachment uploads (type, size, macros, zip bombs, names), request size limits, dossiers.

Over the 2017 sample cycle plus the demo users (built once per module in a transaction rolled
back at its end; each test runs in its own rolled-back transaction on top).
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import zipfile
from urllib.parse import unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from documents.models import Document, DocumentVersion
from processes.portal import files as portal_files
from tests.documents.uploadfiles import PDF, make_docm, make_docx, make_png, make_zip_bomb
from workflow.models import AuditEntry

from .roles_support import as_user, case, user  # noqa: E402
from . import roles_support  # noqa: E402

pytestmark = pytest.mark.django_db

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


world = roles_support.people  # the demo users, rolled back after the module









def upload_url(number="A1") -> str:
    return reverse("portal:case-attachment-upload", args=[case(number).pk])


def snapshot(number="A1"):
    ref = case(number).ref
    return (Document.objects.filter(owner_ref=ref).count(),
            DocumentVersion.objects.filter(document__owner_ref=ref).count(),
            AuditEntry.objects.filter(chain=ref).count())


def message_of(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def applicant(world, client):
    return as_user(client, "applicant-a1")


# -- the round trip ------------------------------------------------------------------------------

def test_a_cyrillic_docx_is_stored_and_downloaded_under_the_same_name(applicant):
    content = make_docx("Өтінім №5")
    before = snapshot()
    response = applicant.post(upload_url(), {"file": SimpleUploadedFile("Өтінім №5.docx", content, DOCX)})
    assert response.status_code == 302 and response["Location"] == reverse("portal:case-detail",
                                                                             args=[case("A1").pk])
    assert snapshot() == (before[0] + 1, before[1] + 1, before[2] + 1)
    version = DocumentVersion.objects.filter(document__owner_ref="TC-2017/A1",
                                             document__kind="attachment").latest("pk")
    assert version.sha256 == hashlib.sha256(content).hexdigest()
    assert (version.original_name, version.content_type, version.created_by.username) == (
        "Өтінім №5.docx", DOCX, "applicant-a1")
    entry = AuditEntry.objects.filter(chain="TC-2017/A1").latest("seq")
    assert (entry.transition, entry.actor_username, entry.data["sha256"]) == (
        "attachment_uploaded", "applicant-a1", version.sha256)

    page = applicant.get(response["Location"])
    text = page.content.decode()
    assert "Өтінім №5.docx" in text and "is attached to TC-2017/A1" in message_of(page)
    download_url = reverse("portal:document-download", args=[version.pk])
    assert download_url in text

    download = applicant.get(download_url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content if download.streaming else [download.content]) == content
    disposition = download["Content-Disposition"]
    encoded = re.search(r"filename\*=UTF-8''([^;]+)", disposition).group(1)
    assert unquote(encoded, encoding="utf-8") == "Өтінім №5.docx"
    assert disposition.startswith("attachment;") and disposition.isascii()


def test_a_coordinator_may_attach_to_any_case(world, client):
    before = snapshot("A4")
    response = as_user(client, "coordinator").post(upload_url("A4"), {"file": SimpleUploadedFile("a.pdf", PDF)})
    assert response.status_code == 302
    assert snapshot("A4")[0] == before[0] + 1


def test_a_png_named_pdf_is_stored_as_png(applicant):
    response = applicant.post(upload_url(), {"file": SimpleUploadedFile("scan.pdf", make_png(), "application/pdf")})
    assert response.status_code == 302
    version = DocumentVersion.objects.filter(document__kind="attachment").latest("pk")
    assert version.content_type == "image/png" and version.storage_key.endswith(".png")
    assert version.original_name == "scan.pdf.png" and version.document.title == "scan.pdf"


def test_the_case_page_shows_the_form_only_to_those_who_may_attach(world, client):
    url = reverse("portal:case-detail", args=[case("A1").pk])
    assert upload_url() in as_user(client, "applicant-a1").get(url).content.decode()
    assert upload_url() in as_user(client, "coordinator").get(url).content.decode()
    auditor_page = as_user(client, "auditor").get(url).content.decode()
    assert upload_url() not in auditor_page
    assert reverse("portal:case-dossier", args=[case("A1").pk]) in auditor_page
    assert reverse("portal:case-dossier", args=[case("A1").pk]) not in as_user(
        client, "applicant-a1").get(url).content.decode()


# -- refusals: nothing is stored -----------------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "status", "needle"), [
    ("Өтінім №5.docx", make_docm(), 415, "macro-enabled Office files are not accepted"),
    ("bomb.docx", make_zip_bomb(), 400, "refused without being expanded"),
    ("empty.pdf", b"", 400, "“empty.pdf” is empty (0 bytes)"),
    ("notes.txt", b"just text", 415, "not a PDF, PNG, JPEG"),
])
def test_refused_uploads_store_nothing(applicant, media_root, name, content, status, needle):
    files_before = sorted(p for p in media_root.rglob("*") if p.is_file())
    before = snapshot()
    response = applicant.post(upload_url(), {"file": SimpleUploadedFile(name, content)})
    assert response.status_code == status
    assert needle in message_of(response)
    assert snapshot() == before
    assert sorted(p for p in media_root.rglob("*") if p.is_file()) == files_before


def test_a_missing_file_field_is_400(applicant):
    before = snapshot()
    response = applicant.post(upload_url(), {"other": "x"})
    assert response.status_code == 400 and "Choose a file" in message_of(response)
    assert snapshot() == before


def test_get_is_405(applicant):
    assert applicant.get(upload_url()).status_code == 405


def test_another_applicants_case_is_404(applicant):
    before = snapshot("A2")
    response = applicant.post(upload_url("A2"), {"file": SimpleUploadedFile("a.pdf", PDF)})
    assert response.status_code == 404
    assert snapshot("A2") == before


def test_an_auditor_may_not_attach(world, client):
    before = snapshot()
    response = as_user(client, "auditor").post(upload_url(), {"file": SimpleUploadedFile("a.pdf", PDF)})
    assert response.status_code == 403
    assert snapshot() == before


def test_the_csrf_check_still_applies(world):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user("applicant-a1"))
    before = snapshot()
    response = strict.post(upload_url(), {"file": SimpleUploadedFile("a.pdf", PDF)})
    assert response.status_code == 403
    assert snapshot() == before


# -- size limits ---------------------------------------------------------------------------------

def test_a_30_mb_upload_is_413_and_nothing_is_stored(applicant, media_root):
    files_before = sorted(p for p in media_root.rglob("*") if p.is_file())
    before = snapshot()
    big = SimpleUploadedFile("big.pdf", PDF + b"0" * (30 * 1000 * 1000))
    response = applicant.post(upload_url(), {"file": big})
    assert response.status_code == 413
    assert "larger than the 25 MiB accepted" in message_of(response)
    assert snapshot() == before
    assert sorted(p for p in media_root.rglob("*") if p.is_file()) == files_before


@override_settings(KELISIM_UPLOAD_MAX_BYTES=100_000)
def test_the_limit_is_enforced_while_streaming(applicant, monkeypatch):
    """Under the Content-Length check (within the multipart slack), the upload handler stops it."""
    seen = []
    original = portal_files.LimitedUploadHandler.receive_data_chunk

    def spy(self, raw_data, start):
        try:
            return original(self, raw_data, start)
        finally:
            seen.append(self.exceeded)

    monkeypatch.setattr(portal_files.LimitedUploadHandler, "receive_data_chunk", spy)
    before = snapshot()
    response = applicant.post(upload_url(), {"file": SimpleUploadedFile("big.pdf", PDF + b"0" * 150_000)})
    assert response.status_code == 413 and "larger than the 0.1 MiB accepted" in message_of(response)
    assert seen and seen[-1] is True
    assert snapshot() == before
    ok = applicant.post(upload_url(), {"file": SimpleUploadedFile("small.pdf", PDF + b"0" * 50_000)})
    assert ok.status_code == 302


def test_a_3_mb_json_body_is_413_with_a_message(world, client):
    coordinator = as_user(client, "coordinator")
    a1 = case("A1")
    url = reverse("portal:case-transition", args=[a1.pk, "suspend"])
    entries = AuditEntry.objects.count()
    body = json.dumps({"comment": "x" * (3 * 1024 * 1024)})
    response = coordinator.post(url, body, content_type="application/json")
    assert response.status_code == 413
    assert "larger than the 2 MiB accepted for a form or JSON request" in message_of(response)
    assert case("A1").state == a1.state and AuditEntry.objects.count() == entries


def test_a_3_mb_form_body_is_413(world, client):
    coordinator = as_user(client, "coordinator")
    a1 = case("A1")
    response = coordinator.post(reverse("portal:case-transition", args=[a1.pk, "suspend"]),
                                "comment=" + "x" * (3 * 1024 * 1024),
                                content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert case("A1").state == a1.state


def test_a_multipart_form_with_3_mb_of_text_is_413_not_500(world, client):
    """Under the upload limit, so Django's own RequestDataTooBig is raised and handler400 answers."""
    coordinator = as_user(client, "coordinator")
    a1 = case("A1")
    response = coordinator.post(reverse("portal:case-transition", args=[a1.pk, "suspend"]),
                                {"comment": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert "larger than the 2 MiB accepted" in message_of(response)
    assert case("A1").state == a1.state


def test_too_many_fields_is_a_400_page(world, client):
    coordinator = as_user(client, "coordinator")
    a1 = case("A1")
    response = coordinator.post(reverse("portal:case-transition", args=[a1.pk, "suspend"]),
                                "&".join(f"f{n}=1" for n in range(1200)),
                                content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "too many fields" in message_of(response)
    assert case("A1").state == a1.state


# -- the dossier ---------------------------------------------------------------------------------

def test_the_auditor_downloads_a_dossier_that_verifies(world, client, tmp_path):
    response = as_user(client, "auditor").get(reverse("portal:case-dossier", args=[case("A1").pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    disposition = response["Content-Disposition"]
    name = unquote(re.search(r"filename\*=UTF-8''([^;]+)", disposition).group(1))
    assert re.fullmatch(r"dossier-TC-2017-A1-\d{4}-\d{2}-\d{2}\.zip", name)
    content = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(content)
    path = tmp_path / name
    path.write_bytes(content)
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["generated_by"] == "auditor" and manifest["case"]["ref"] == "TC-2017/A1"
    out = io.StringIO()
    call_command("verify_dossier", str(path), stdout=out)
    assert "intact" in out.getvalue()


@pytest.mark.parametrize("username", ["partner", "applicant-a1", "expert1", "signatory1"])
def test_others_may_not_download_a_dossier(world, client, username):
    assert as_user(client, username).get(reverse("portal:case-dossier", args=[case("A1").pk])).status_code == 403


def test_a_dossier_with_a_changed_document_is_not_served(world, client, restore_file):
    from pathlib import Path

    from django.core.files.storage import default_storage

    version = Document.objects.filter(owner_ref="TC-2017/A1").order_by("pk").first().current_version
    stored = restore_file(Path(default_storage.path(version.storage_key)))
    stored.write_bytes(b"changed")
    response = as_user(client, "auditor").get(reverse("portal:case-dossier", args=[case("A1").pk]))
    assert response.status_code == 409
    assert "The dossier was not built" in message_of(response)
