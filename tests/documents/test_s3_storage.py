"""Documents on S3 (moto's server over real HTTP): names in any script, streamed sha256,
multipart uploads, presigned URLs, corruption, an outage during a document step, a cycle.

Every check reads the bytes back from the bucket with an independent boto3 client; the
sha256 Kelisim records is compared with ``hashlib.sha256`` of the original bytes, never with
an ETag.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import re
import tracemalloc
import urllib.request
from urllib.parse import unquote

import pytest
from boto3.s3.transfer import TransferConfig
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from documents.models import Document, DocumentVersion
from documents.render import DOCX_CONTENT_TYPE
from documents.services import generate_document
from documents.storage import (
    ChecksumMismatch,
    StorageError,
    iter_verified_chunks,
    presigned_url,
    read_verified,
    store_version,
)
from workflow.audit import verify_chains
from workflow.models import AuditEntry

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
NAME = "Өтінім №5.docx"


def _document(owner_ref: str = "TC-2017/A1", kind: str = "upload", key: str = "") -> Document:
    return Document.objects.create(owner_ref=owner_ref, stage="submission", kind=kind, key=key,
                                   language="kk", title="Өтінім")


def _payload(size: int, seed: int = 5) -> bytes:
    return random.Random(seed).randbytes(size)


def _filename_from(disposition: str) -> str:
    """The file name a browser takes from a Content-Disposition header (RFC 6266/5987)."""
    star = re.search(r"filename\*=UTF-8''([^;\s]+)", disposition)
    if star:
        return unquote(star.group(1), encoding="utf-8", errors="strict")
    return re.search(r'filename="([^"]*)"', disposition).group(1)


# -- the switch ------------------------------------------------------------------------------

def test_the_default_storage_is_the_bucket_and_objects_carry_the_recorded_content_type(s3_storage):
    assert default_storage.bucket_name == s3_storage.bucket
    assert default_storage.endpoint_url == s3_storage.server.endpoint
    content = b"PK\x03\x04 pretend docx"
    version = store_version(document=_document(), content=content, extension="docx",
                            content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    assert s3_storage.keys() == {version.storage_key}
    assert version.storage_key.isascii() and version.original_name == NAME
    assert s3_storage.get(version.storage_key) == content
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key=version.storage_key)
    assert head["ContentType"] == DOCX_CONTENT_TYPE
    assert version.sha256 == hashlib.sha256(content).hexdigest() and version.size == len(content)
    assert read_verified(version) == content


def test_a_second_version_never_overwrites_the_first(s3_storage):
    document = _document()
    first = store_version(document=document, content=b"one", extension="docx",
                          content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    second = store_version(document=document, content=b"two", extension="docx",
                           content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    assert (first.number, second.number) == (1, 2) and first.storage_key != second.storage_key
    assert s3_storage.keys() == {first.storage_key, second.storage_key}
    assert read_verified(first) == b"one" and read_verified(second) == b"two"


# -- names in any script: presigned URL and the portal view ------------------------------------

def test_a_kazakh_name_survives_a_presigned_download_over_http(s3_storage):
    content = _payload(70_000)
    version = store_version(document=_document(), content=SimpleUploadedFile(NAME, content), extension="docx",
                            content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    url = presigned_url(version, expires=120)
    assert url.startswith(s3_storage.server.endpoint + "/" + s3_storage.bucket + "/")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=120" in url
    with urllib.request.urlopen(url, timeout=10) as response:  # real HTTP to the moto server
        body = response.read()
        disposition = response.headers["Content-Disposition"]
        content_type = response.headers["Content-Type"]
    assert body == content and hashlib.sha256(body).hexdigest() == version.sha256
    assert content_type == DOCX_CONTENT_TYPE
    assert disposition.startswith('attachment; filename="') and disposition.isascii()
    assert _filename_from(disposition) == NAME


def test_the_portal_serves_a_kazakh_name_from_s3(s3_storage, client):
    admin = get_user_model().objects.create_superuser("s3-admin", "s3@example.org", "pw")
    content = _payload(50_000, seed=7)
    version = store_version(document=_document(), content=content, extension="docx",
                            content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    client.force_login(admin)
    response = client.get(reverse("portal:document-download", args=[version.pk]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body == content
    assert _filename_from(response["Content-Disposition"]) == NAME
    assert response["Content-Disposition"].isascii()


def test_presigned_url_is_none_on_file_storage():
    version = store_version(document=_document(), content=b"x", extension="docx",
                            content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    assert presigned_url(version) is None


# -- big files: streamed sha256, multipart uploads, no ETag --------------------------------------

@pytest.fixture
def one_mib_parts(monkeypatch, s3_storage_with):
    """The S3 storage uploading in 1 MiB multipart parts, which moto accepts for this test.

    AWS, MinIO and moto refuse parts below 5 MiB (except the last), and s3transfer raises a
    smaller part size to 5 MiB; both limits are lowered here only, so that a 12 MiB file goes
    out in twelve parts.
    """
    import moto.s3.models
    import s3transfer.upload
    from s3transfer.utils import ChunksizeAdjuster

    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", MiB)
    monkeypatch.setattr(s3transfer.upload, "ChunksizeAdjuster", lambda: ChunksizeAdjuster(min_size=MiB))
    config = TransferConfig(multipart_threshold=MiB, multipart_chunksize=MiB, max_concurrency=4)
    return s3_storage_with(transfer_config=config)


def _uploaded(content: bytes, name: str = NAME) -> TemporaryUploadedFile:
    upload = TemporaryUploadedFile(name, DOCX_CONTENT_TYPE, len(content), None)
    for start in range(0, len(content), MiB):
        upload.write(content[start:start + MiB])
    upload.flush()
    upload.seek(0)
    return upload


def test_a_12_mib_file_in_1_mib_parts_keeps_our_sha256_not_the_etag(one_mib_parts):
    content = _payload(12 * MiB)
    expected = hashlib.sha256(content).hexdigest()
    with _uploaded(content) as upload:
        version = store_version(document=_document(), content=upload, extension="docx",
                                content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    head = one_mib_parts.client.head_object(Bucket=one_mib_parts.bucket, Key=version.storage_key)
    etag = head["ETag"].strip('"')
    assert etag.endswith("-12"), etag  # a multipart upload of twelve 1 MiB parts happened
    assert version.sha256 == expected and version.size == 12 * MiB == head["ContentLength"]
    assert version.sha256 != etag and etag.split("-")[0] != hashlib.md5(content).hexdigest()
    assert hashlib.sha256(one_mib_parts.get(version.storage_key)).hexdigest() == expected
    chunks = list(iter_verified_chunks(version))
    assert max(len(chunk) for chunk in chunks) <= MiB and hashlib.sha256(b"".join(chunks)).hexdigest() == expected


def test_a_django_upload_parsed_in_1_mib_chunks_is_stored_with_the_original_sha256(one_mib_parts):
    content = _payload(12 * MiB, seed=12)
    request = RequestFactory().post("/upload/", {"file": SimpleUploadedFile(NAME, content, DOCX_CONTENT_TYPE)})
    handler = TemporaryFileUploadHandler(request)
    handler.chunk_size = MiB
    request.upload_handlers = [handler]
    upload = request.FILES["file"]
    assert isinstance(upload, TemporaryUploadedFile) and upload.name == NAME and upload.size == 12 * MiB
    version = store_version(document=_document(), content=upload, extension="docx",
                            content_type=DOCX_CONTENT_TYPE, original_name=upload.name)
    assert version.sha256 == hashlib.sha256(content).hexdigest()
    assert read_verified(version) == content
    assert DocumentVersion.objects.get(pk=version.pk).original_name == NAME


def test_storing_a_file_upload_streams_it_instead_of_loading_it(settings, tmp_path):
    """On file storage (no in-process S3 server to count): a 24 MiB upload, < 4 MiB peak."""
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    content = _payload(24 * MiB, seed=24)
    expected = hashlib.sha256(content).hexdigest()
    upload = _uploaded(content)
    del content
    document = _document()
    tracemalloc.start()
    try:
        version = store_version(document=document, content=upload, extension="docx",
                                content_type=DOCX_CONTENT_TYPE, original_name=NAME)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        upload.close()
    assert version.sha256 == expected and version.size == 24 * MiB
    assert peak < 4 * MiB, f"peak {peak} bytes while storing a 24 MiB upload"
    assert hashlib.sha256((tmp_path / version.storage_key).read_bytes()).hexdigest() == expected


def test_content_must_be_bytes_or_a_file():
    with pytest.raises(TypeError, match="bytes or a django File"):
        store_version(document=_document(), content="text", extension="docx",
                      content_type=DOCX_CONTENT_TYPE, original_name=NAME)


# -- corruption and missing objects on S3 ------------------------------------------------------

@pytest.mark.parametrize("tamper", ["replace", "same_length"])
def test_an_object_changed_behind_our_back_is_refused_and_logged(s3_storage, caplog, tamper):
    content = _payload(3 * MiB, seed=3)
    version = store_version(document=_document(), content=content, extension="docx",
                            content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    forged = b"forged" if tamper == "replace" else content[:-1] + bytes([content[-1] ^ 1])
    s3_storage.put(version.storage_key, forged)
    with caplog.at_level(logging.ERROR, logger="kelisim.security"):
        with pytest.raises(ChecksumMismatch, match="do not match the recorded sha256"):
            read_verified(version)
        with pytest.raises(ChecksumMismatch):
            list(iter_verified_chunks(version, chunk_size=MiB))
    records = [r for r in caplog.records if r.name == "kelisim.security"]
    assert len(records) == 2 and version.storage_key in records[0].getMessage()
    assert version.sha256 in records[0].getMessage()


def test_streaming_a_corrupted_object_never_releases_its_last_chunk(s3_storage):
    content = _payload(3 * MiB, seed=4)
    version = store_version(document=_document(), content=content, extension="docx",
                            content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    s3_storage.put(version.storage_key, content[:-1] + b"\x00")
    received = []
    with pytest.raises(ChecksumMismatch):
        for chunk in iter_verified_chunks(version, chunk_size=MiB):
            received.append(chunk)
    assert len(received) == 2 and b"".join(received) == content[:2 * MiB]


def test_a_missing_object_is_a_storage_error(s3_storage):
    version = store_version(document=_document(), content=b"soon gone", extension="docx",
                            content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    s3_storage.client.delete_object(Bucket=s3_storage.bucket, Key=version.storage_key)
    with pytest.raises(StorageError, match="is missing") as info:
        read_verified(version)
    assert not isinstance(info.value, ChecksumMismatch)


# -- an outage of the S3 server ----------------------------------------------------------------

def _generate(actor, owner_ref="TC-2017/A3"):
    return generate_document(owner_ref=owner_ref, stage="diagnosis", kind="diagnosis_report", language="ru",
                             title="Отчёт", context={"doc": {}, "org": {}, "case": {}, "areas": []}, actor=actor)


def test_an_outage_during_document_generation_changes_nothing_and_a_retry_succeeds(s3_outage, admin_user):
    versions, entries = DocumentVersion.objects.count(), AuditEntry.objects.filter(chain="TC-2017/A3").count()
    s3_outage.server.stop()
    with pytest.raises(StorageError) as info:
        _generate(admin_user)
    message = str(info.value)
    assert f"S3 bucket '{s3_outage.bucket}' at {s3_outage.server.endpoint}" in message
    assert "secret" not in message.lower()
    assert DocumentVersion.objects.count() == versions
    assert AuditEntry.objects.filter(chain="TC-2017/A3").count() == entries
    s3_outage.server.start()  # a new server on the same port; moto keeps the bucket
    assert s3_outage.keys() == set()  # nothing half-written
    version = _generate(admin_user)
    assert s3_outage.keys() == {version.storage_key}
    assert hashlib.sha256(s3_outage.get(version.storage_key)).hexdigest() == version.sha256
    assert AuditEntry.objects.filter(chain="TC-2017/A3").count() == entries + 1


def test_a_server_dying_in_the_middle_of_an_upload_leaves_no_object(s3_outage, monkeypatch):
    """The server stops right after it received the first 5 MiB part of a multipart upload."""
    import threading

    import moto.s3.models

    server = s3_outage.server
    default_storage.transfer_config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                                                     max_concurrency=1)
    content = _payload(12 * MiB, seed=9)
    received = []
    original_upload_part = moto.s3.models.S3Backend.upload_part

    def upload_part_then_die(backend, *args, **kwargs):
        part = original_upload_part(backend, *args, **kwargs)
        received.append(part)
        if len(received) == 1:
            dying = threading.Thread(target=server.stop)
            dying.start()
            dying.join()  # the server socket is closed before this part's answer goes out
        return part

    monkeypatch.setattr(moto.s3.models.S3Backend, "upload_part", upload_part_then_die)
    upload = SimpleUploadedFile(NAME, content)
    versions = DocumentVersion.objects.count()
    with pytest.raises(StorageError, match=f"S3 bucket '{s3_outage.bucket}'"):
        store_version(document=_document(), content=upload, extension="docx",
                      content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    assert len(received) == 1 and server._server is None and DocumentVersion.objects.count() == versions
    monkeypatch.setattr(moto.s3.models.S3Backend, "upload_part", original_upload_part)
    server.start()
    started = s3_outage.client.list_multipart_uploads(Bucket=s3_outage.bucket).get("Uploads", [])
    assert len(started) == 1  # the upload had begun; its abort could not reach the dead server
    parts = s3_outage.client.list_parts(Bucket=s3_outage.bucket, Key=started[0]["Key"],
                                        UploadId=started[0]["UploadId"]).get("Parts", [])
    assert 1 <= len(parts) < 3
    assert s3_outage.keys() == set()  # but no object exists: S3 only shows completed uploads
    version = store_version(document=_document(kind="retry"), content=SimpleUploadedFile(NAME, content),
                            extension="docx", content_type=DOCX_CONTENT_TYPE, original_name=NAME)
    assert s3_outage.keys() == {version.storage_key}
    assert hashlib.sha256(s3_outage.get(version.storage_key)).hexdigest() == hashlib.sha256(content).hexdigest()
    s3_outage.client.abort_multipart_upload(Bucket=s3_outage.bucket, Key=started[0]["Key"],
                                            UploadId=started[0]["UploadId"])


def test_an_outage_during_a_transition_that_writes_a_document_leaves_the_case_as_it_was(
        s3_outage, sample_round):
    from processes.diagnosis.models import Diagnosis
    from processes.diagnosis.services import record_assessment
    from processes.rounds.actors import ensure_user
    from workflow.transitions import perform

    coordinator = ensure_user("coordinator", "coordinator")
    case = sample_round.cases.get(number="A2")
    diagnosis = Diagnosis.objects.create(case=case)
    perform(diagnosis, "start_fieldwork", actor=coordinator)
    chain = list(AuditEntry.objects.filter(chain=case.ref).order_by("pk").values_list("pk", "hash"))
    versions = DocumentVersion.objects.count()
    areas = [(f"area {i}", 60.0, "finding") for i in range(6)]
    s3_outage.server.stop()
    with pytest.raises(StorageError, match=f"S3 bucket '{s3_outage.bucket}'"):
        record_assessment(diagnosis=diagnosis, areas=areas, actor=coordinator)
    diagnosis = Diagnosis.objects.get(pk=diagnosis.pk)
    assert diagnosis.state == "fieldwork" and diagnosis.areas.count() == 0
    assert list(AuditEntry.objects.filter(chain=case.ref).order_by("pk").values_list("pk", "hash")) == chain
    assert DocumentVersion.objects.count() == versions
    s3_outage.server.start()
    assert s3_outage.keys() == set()
    record_assessment(diagnosis=diagnosis, areas=areas, actor=coordinator)
    assert Diagnosis.objects.get(pk=diagnosis.pk).state == "draft_report"
    report = DocumentVersion.objects.get(document__owner_ref=case.ref, document__kind="diagnosis_report")
    assert s3_outage.keys() == {report.storage_key}
    assert verify_chains([case.ref]).ok
    from workflow.models import AuditChain
    assert AuditChain.objects.get(key=case.ref).length == len(chain) + 2  # draft_report, document_generated


# -- the whole cycle on S3 ---------------------------------------------------------------------

def test_the_2017_cycle_on_s3_stores_every_document_in_the_bucket(s3_storage, round_file):
    path = round_file(lambda doc: doc["round"].update(code="TC-S3"))
    out = io.StringIO()
    call_command("run_cycle", str(path), "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["state"] == "published"
    versions = list(DocumentVersion.objects.filter(document__owner_ref__startswith="TC-S3"))
    assert len(versions) > 50
    assert s3_storage.keys() == {v.storage_key for v in versions}
    for version in versions:
        body = s3_storage.get(version.storage_key)
        assert hashlib.sha256(body).hexdigest() == version.sha256 and len(body) == version.size, version
    assert verify_chains().ok


# -- the portal's upload and download on S3 (issue 5 and issue 7) --------------------------------

@pytest.fixture
def admin_client(client, sample_round):
    client.force_login(get_user_model().objects.create_superuser("s3-upload-admin", "u@example.org", "pw"))
    return client


def _attach(client, case, content: bytes):
    upload = SimpleUploadedFile(NAME, content, content_type="application/octet-stream")
    return client.post(reverse("portal:case-attachment-upload", args=[case.pk]), {"file": upload})


def test_a_kazakh_upload_goes_to_s3_and_comes_back_under_its_name(s3_storage, admin_client, sample_round):
    from .uploadfiles import make_docx

    case = sample_round.cases.get(number="A1")
    content = make_docx("Өтінім №5: S3")
    response = _attach(admin_client, case, content)
    assert response.status_code == 302
    version = DocumentVersion.objects.get(document__owner_ref=case.ref, document__kind="attachment")
    assert version.original_name == NAME and version.storage_key.isascii()
    assert s3_storage.keys() == {version.storage_key}
    assert hashlib.sha256(s3_storage.get(version.storage_key)).hexdigest() == hashlib.sha256(content).hexdigest()
    download = admin_client.get(reverse("portal:document-download", args=[version.pk]))
    assert download.status_code == 200 and download.content == content
    assert _filename_from(download["Content-Disposition"]) == NAME
    with urllib.request.urlopen(presigned_url(version), timeout=10) as direct:
        assert direct.read() == content
        assert _filename_from(direct.headers["Content-Disposition"]) == NAME


def test_an_upload_while_s3_is_down_answers_503_changes_nothing_and_succeeds_later(
        s3_outage, admin_client, sample_round):
    from .uploadfiles import make_docx

    case = sample_round.cases.get(number="A1")
    chain = list(AuditEntry.objects.filter(chain=case.ref).values_list("hash", flat=True))
    documents = Document.objects.filter(owner_ref=case.ref).count()
    content = make_docx("Өтінім №5: outage")
    s3_outage.server.stop()
    response = _attach(admin_client, case, content)
    assert response.status_code == 503
    assert "could not be stored" in response.content.decode() and "nothing was stored" in response.content.decode()
    assert s3_outage.bucket in response.content.decode()  # the message names the storage
    assert list(AuditEntry.objects.filter(chain=case.ref).values_list("hash", flat=True)) == chain
    assert Document.objects.filter(owner_ref=case.ref).count() == documents
    s3_outage.server.start()
    assert s3_outage.keys() == set()
    assert _attach(admin_client, case, content).status_code == 302
    version = DocumentVersion.objects.get(document__owner_ref=case.ref, document__kind="attachment")
    assert s3_outage.keys() == {version.storage_key}
    assert AuditEntry.objects.filter(chain=case.ref).count() == len(chain) + 1
    assert verify_chains([case.ref]).ok
