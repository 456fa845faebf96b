"""documents.uploads: type by content, size limit, macros, zip bombs, and storing an attachment."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from documents.models import Document, DocumentVersion
from documents.storage import read_verified
from documents.uploads import (
    CONTENT_TYPES_MAX_BYTES, Detected, UploadRejected, check_archive, clean_name, inspect_upload, store_upload,
)
from workflow.models import AuditEntry

from .uploadfiles import (
    JPEG, OLE2, PDF, make_docm, make_docx, make_docx_types, make_png, make_xlsx, make_zip_bomb, rewrite_zip,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rejected(data, name="file.bin") -> UploadRejected:
    with pytest.raises(UploadRejected) as info:
        inspect_upload(data, name=name)
    return info.value


# -- type by content ---------------------------------------------------------------------------

@pytest.mark.parametrize(("builder", "name", "expected"), [
    (make_docx, "Өтінім №5.docx", Detected("docx", DOCX, "docx")),
    (make_xlsx, "budget.xlsx", Detected("xlsx", XLSX, "xlsx")),
    (make_png, "scan.png", Detected("png", "image/png", "png")),
    (lambda: JPEG, "photo.jpeg", Detected("jpeg", "image/jpeg", "jpg")),
    (lambda: PDF, "letter.pdf", Detected("pdf", "application/pdf", "pdf")),
])
def test_accepted_types_are_recognised_by_content(builder, name, expected):
    assert inspect_upload(builder(), name=name) == expected


@pytest.mark.parametrize("name", ["scan.pdf", "scan.docx", "scan", "scan.exe"])
def test_the_name_never_decides_the_type(name):
    assert inspect_upload(make_png(), name=name).kind == "png"
    assert inspect_upload(make_docx(), name=name).kind == "docx"


def test_an_uploaded_file_is_read_from_the_start_and_left_at_the_start():
    upload = SimpleUploadedFile("a.docx", make_docx())
    upload.read(10)
    assert inspect_upload(upload, name=upload.name).kind == "docx"
    assert upload.tell() == 0


@pytest.mark.parametrize(("data", "needle"), [
    (b"plain text, not a document", "not a PDF, PNG, JPEG"),
    (b"GIF89a" + b"\x00" * 100, "not a PDF, PNG, JPEG"),
    (OLE2, "legacy Office (OLE2)"),
])
def test_other_content_is_unsupported(data, needle):
    error = rejected(data, "application.docx")
    assert (error.code, error.status) == ("unsupported_type", 415)
    assert needle in error.message and "application.docx" in error.message


def test_a_plain_zip_archive_is_unsupported():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    error = rejected(out.getvalue(), "notes.docx")
    assert (error.code, error.status) == ("unsupported_type", 415)
    assert "archives are not accepted" in error.message


def test_a_powerpoint_package_is_unsupported():
    pptx_main = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
    data = rewrite_zip(make_docx(), replace={"[Content_Types].xml": make_docx_types().replace(
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", pptx_main.encode())})
    assert rejected(data).code == "unsupported_type"


def test_a_damaged_zip_is_unsupported():
    data = make_docx()
    error = rejected(data[: len(data) // 2], "cut.docx")
    assert (error.code, error.status) == ("unsupported_type", 415)


def test_a_package_whose_main_part_is_missing_is_refused():
    data = rewrite_zip(make_docx(), drop=("word/document.xml",))
    assert "main part" in rejected(data).message


# -- macros ------------------------------------------------------------------------------------

def test_a_docm_renamed_docx_is_refused():
    error = rejected(make_docm(), "Өтінім №5.docx")
    assert (error.code, error.status) == ("macro_enabled", 415)
    assert "macro" in error.message


@pytest.mark.parametrize("kwargs", [{"vba_part": False}, {"content_type": False}])
def test_either_macro_signal_alone_is_enough(kwargs):
    assert rejected(make_docm(**kwargs), "a.docx").code == "macro_enabled"


def test_an_xlsm_renamed_xlsx_is_refused():
    error = rejected(make_xlsx(macro=True), "budget.xlsx")
    assert error.code == "macro_enabled" and ".xlsm" in error.message


def test_an_excel_4_macro_sheet_is_refused():
    data = rewrite_zip(make_xlsx(), add={"xl/macrosheets/sheet1.xml": b"<xm/>"})
    assert rejected(data).code == "macro_enabled"


# -- size --------------------------------------------------------------------------------------

def test_an_empty_file_is_refused():
    error = rejected(b"", "empty.pdf")
    assert (error.code, error.status) == ("empty", 400)


@override_settings(KELISIM_UPLOAD_MAX_BYTES=1000)
def test_a_file_over_the_limit_is_refused_with_413():
    error = rejected(PDF + b"%" * 1000, "big.pdf")
    assert (error.code, error.status) == ("too_large", 413)
    assert "1,000 bytes" in error.message
    assert inspect_upload(PDF, name="small.pdf").kind == "pdf"


# -- zip bombs ---------------------------------------------------------------------------------

@pytest.fixture
def rejected_unread(monkeypatch):
    """``rejected_unread(data)``: like :func:`rejected`, failing the test if any ZIP member is
    read meanwhile (the zip-bomb guard must work on the central directory alone)."""
    def refuse(self, name, *args, **kwargs):
        raise AssertionError(f"member {name} was read")

    def check(data, name="file.docx"):
        with monkeypatch.context() as patch:
            patch.setattr(zipfile.ZipFile, "open", refuse)
            return rejected(data, name)

    return check


def test_a_42_kb_archive_expanding_to_gigabytes_is_refused_without_expansion(rejected_unread):
    bomb = make_zip_bomb()
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        declared = sum(info.file_size for info in archive.infolist())
    assert len(bomb) < 48 * 1024 and declared > 4 * 10 ** 9
    error = rejected_unread(bomb, "Өтінім.docx")
    assert (error.code, error.status) == ("archive_suspicious", 400)
    assert "without being expanded" in error.message


def test_the_total_uncompressed_size_is_bounded(rejected_unread):
    bomb = make_zip_bomb(kernel_bytes=4 * 1024 * 1024, copies=30)
    with override_settings(KELISIM_ARCHIVE_MAX_RATIO=10 ** 9):
        error = rejected_unread(bomb)
    assert error.code == "archive_suspicious" and "uncompressed" in error.message


def test_the_compression_ratio_is_bounded_per_entry(rejected_unread):
    error = rejected_unread(make_zip_bomb(kernel_bytes=8 * 1024 * 1024, copies=1))  # 8 MiB: under the total
    assert error.code == "archive_suspicious" and "expands" in error.message


@override_settings(KELISIM_ARCHIVE_MAX_ENTRIES=50)
def test_the_number_of_entries_is_bounded(rejected_unread):
    data = rewrite_zip(make_docx(), add={f"word/media/{n}.xml": b"<a/>" for n in range(60)})
    error = rejected_unread(data)
    assert error.code == "archive_suspicious" and "entries" in error.message


def test_small_parts_that_compress_well_are_not_held_to_the_ratio():
    data = rewrite_zip(make_docx(), add={"word/padding.xml": b"<a>" + b" " * 500_000 + b"</a>"})
    assert inspect_upload(data).kind == "docx"


def test_content_types_are_read_with_a_hard_cap():
    huge = make_docx_types().replace(b"</Types>", b"<!--" + b"x" * CONTENT_TYPES_MAX_BYTES + b"--></Types>")
    data = rewrite_zip(make_docx(), replace={"[Content_Types].xml": huge})
    error = rejected(data)
    assert error.code == "archive_suspicious" and "longer than" in error.message


def test_content_types_with_a_dtd_are_refused():
    types = make_docx_types().replace(b"<Types", b'<!DOCTYPE t [<!ENTITY a "aaaa">]><Types', 1)
    data = rewrite_zip(make_docx(), replace={"[Content_Types].xml": types})
    assert rejected(data).code == "archive_suspicious"


def test_check_archive_takes_explicit_limits():
    with zipfile.ZipFile(io.BytesIO(make_docx())) as archive:
        check_archive(archive, max_entries=100, max_total=10 ** 7, max_ratio=100)
        with pytest.raises(UploadRejected):
            check_archive(archive, max_entries=2)


# -- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("Өтінім №5.docx", "docx", "Өтінім №5.docx"),
    ("C:\\fakepath\\Заявка.DOCX", "docx", "Заявка.DOCX"),
    ("scan.pdf", "png", "scan.pdf.png"),
    ("photo.JPEG", "jpeg", "photo.JPEG"),
    ("", "pdf", "attachment.pdf"),
    ("a\x00b\n.pdf", "pdf", "ab.pdf"),
    ("noext", "xlsx", "noext.xlsx"),
])
def test_clean_name(name, kind, expected):
    ext = {"docx": "docx", "png": "png", "jpeg": "jpg", "pdf": "pdf", "xlsx": "xlsx"}[kind]
    assert clean_name(name, Detected(kind, "x/y", ext)) == expected


def test_a_long_name_keeps_its_extension():
    name = clean_name("я" * 400 + ".docx", Detected("docx", DOCX, "docx"))
    assert len(name) == 255 and name.endswith(".docx")


# -- storing -----------------------------------------------------------------------------------

@pytest.fixture
def case(sample_round):
    return sample_round.cases.get(number="A1")


def counts(ref):
    return (Document.objects.filter(owner_ref=ref).count(), DocumentVersion.objects.filter(document__owner_ref=ref)
            .count(), AuditEntry.objects.filter(chain=ref).count())


def test_store_upload_keeps_the_bytes_the_name_and_records_an_audit_entry(case, django_user_model):
    user = django_user_model.objects.create_user("uploader")
    content = make_docx()
    upload = SimpleUploadedFile("Өтінім №5.docx", content)
    before = counts(case.ref)
    version = store_upload(owner_ref=case.ref, stage=case.stage, language=case.language, file=upload,
                           name=upload.name, actor=user)
    assert counts(case.ref) == (before[0] + 1, before[1] + 1, before[2] + 1)
    assert version.sha256 == hashlib.sha256(content).hexdigest() and version.size == len(content)
    assert version.original_name == "Өтінім №5.docx" and version.document.title == "Өтінім №5.docx"
    assert version.storage_key.endswith(".docx") and version.storage_key.isascii()
    assert version.content_type == DOCX and version.document.kind == "attachment"
    assert read_verified(version) == content
    entry = AuditEntry.objects.filter(chain=case.ref).order_by("-seq").first()
    assert entry.transition == "attachment_uploaded" and entry.data["sha256"] == version.sha256
    assert entry.data["name"] == "Өтінім №5.docx" and entry.actor_username == "uploader"


def test_a_png_named_pdf_is_stored_as_png(case):
    version = store_upload(owner_ref=case.ref, stage=case.stage, language=case.language, file=make_png(),
                           name="scan.pdf", actor=None)
    assert version.content_type == "image/png" and version.storage_key.endswith(".png")
    assert version.original_name == "scan.pdf.png" and version.document.title == "scan.pdf"


@pytest.mark.parametrize("data", [b"", make_docm(), make_zip_bomb(kernel_bytes=4 * 1024 * 1024, copies=2), OLE2])
def test_a_refused_upload_stores_nothing(case, media_root, data):
    files_before = sorted(p for p in media_root.rglob("*") if p.is_file())
    before = counts(case.ref)
    with pytest.raises(UploadRejected):
        store_upload(owner_ref=case.ref, stage=case.stage, language=case.language, file=data, name="x.docx",
                     actor=None)
    assert counts(case.ref) == before
    assert sorted(p for p in media_root.rglob("*") if p.is_file()) == files_before


def test_a_failed_audit_append_leaves_no_file(case, media_root, monkeypatch):
    from workflow import audit

    def broken(**kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(audit, "append_entry", broken)
    files_before = sorted(p for p in media_root.rglob("*") if p.is_file())
    before = counts(case.ref)
    with pytest.raises(RuntimeError):
        store_upload(owner_ref=case.ref, stage=case.stage, language=case.language, file=PDF, name="a.pdf",
                     actor=None)
    assert counts(case.ref) == before
    assert sorted(p for p in media_root.rglob("*") if p.is_file()) == files_before
