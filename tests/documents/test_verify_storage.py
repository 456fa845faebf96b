"""``manage.py verify_storage`` on file storage and on S3 (moto): clean, missing, corrupted,
orphaned and unreachable storage; text and ``--json`` output; exit codes 0, 1 and 2.

Tests that must not see the session's other files use ``--prefix`` with an owner of their
own; the whole-storage runs mirror every recorded object into a fresh directory or bucket.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import uuid
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from documents.models import Document, DocumentVersion
from documents.storage import store_version

pytestmark = pytest.mark.django_db


def _run(*args) -> tuple[int, str]:
    """Run verify_storage; return (exit code, stdout)."""
    out = io.StringIO()
    try:
        call_command("verify_storage", *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def _owner() -> str:
    return f"VS-{uuid.uuid4().hex[:8]}"


def _store(owner: str, content: bytes, kind: str = "upload") -> DocumentVersion:
    document = Document.objects.create(owner_ref=f"{owner}/A1", stage="submission", kind=kind, language="ru",
                                       title="t")
    return store_version(document=document, content=content, extension="docx",
                         content_type="application/octet-stream", original_name="Өтінім №5.docx")


def _records():
    from documents import models

    rows = list(DocumentVersion.objects.all())
    if hasattr(models, "Rendition"):
        rows += list(models.Rendition.objects.exclude(storage_key=""))
    return rows


# -- file storage ------------------------------------------------------------------------------

def test_a_clean_prefix_exits_0_with_a_summary():
    owner = _owner()
    _store(owner, b"one"), _store(owner, b"two", kind="other")
    code, out = _run("--prefix", f"{owner}/")
    assert code == 0
    assert out.strip().endswith("2 files checked, 2 objects listed; 0 missing, 0 corrupted, 0 orphaned")
    assert out.startswith(f"file storage {default_storage.location} under {owner}/")


def test_missing_corrupted_and_orphaned_files_are_listed_and_exit_1(caplog):
    owner = _owner()
    gone, changed, fine = _store(owner, b"gone"), _store(owner, b"changed", kind="b"), _store(owner, b"ok", kind="c")
    root = Path(default_storage.location)
    (root / gone.storage_key).unlink()
    (root / changed.storage_key).write_bytes(b"changeD")  # same size, other bytes
    stray = root / owner / "A1" / "stray.bin"
    stray.write_bytes(b"12345")
    with caplog.at_level(logging.ERROR, logger="kelisim.security"):
        code, out = _run("--prefix", f"{owner}/")
    lines = out.strip().splitlines()
    assert code == 1
    assert lines[0] == f"missing {gone.storage_key} ({gone})"
    assert lines[1].startswith(f"corrupted {changed.storage_key} ({changed}): recorded sha256 {changed.sha256} size 7,")
    assert lines[2] == f"orphaned {owner}/A1/stray.bin (5 bytes)"
    assert lines[3].endswith("3 files checked, 3 objects listed; 1 missing, 1 corrupted, 1 orphaned")
    assert fine.storage_key not in out
    assert any(changed.storage_key in r.getMessage() for r in caplog.records if r.name == "kelisim.security")


def test_json_output_names_every_problem():
    owner = _owner()
    gone = _store(owner, b"gone")
    (Path(default_storage.location) / gone.storage_key).unlink()
    code, out = _run("--json", "--prefix", f"{owner}/")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert report["records_checked"] == 1 and report["objects_listed"] == 0
    assert report["missing"] == [{"key": gone.storage_key, "record_id": gone.pk, "record": str(gone), "detail": ""}]
    assert report["corrupted"] == [] and report["orphaned"] == []


@pytest.fixture
def mirrored_file_storage(settings, tmp_path):
    """A fresh file storage holding a copy of every recorded object (and nothing else)."""
    source = Path(default_storage.location)
    for record in _records():
        target = tmp_path / record.storage_key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / record.storage_key, target)
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    return tmp_path


def test_the_whole_file_storage_is_walked(mirrored_file_storage):
    count = len(_records())
    assert count > 50  # the session's 2017 cycle
    code, out = _run()
    assert code == 0, out
    assert f"{count} files checked, {count} objects listed; 0 missing, 0 corrupted, 0 orphaned" in out
    (mirrored_file_storage / "deep" / "er").mkdir(parents=True)
    (mirrored_file_storage / "deep" / "er" / "x.bin").write_bytes(b"x")
    code, out = _run()
    assert code == 1 and "orphaned deep/er/x.bin (1 bytes)" in out


def test_a_file_storage_directory_that_is_gone_exits_2(settings, tmp_path):
    _store(_owner(), b"recorded")
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "absent")}}}
    with pytest.raises(CommandError, match=f"file storage {tmp_path / 'absent'} does not exist") as info:
        _run()
    assert info.value.returncode == 2
    code, out = _run("--json")
    assert code == 2 and "does not exist" in json.loads(out)["error"]


@pytest.mark.parametrize("prefix", ["../etc/", "/abs/", "Өтінім/", "a\\b"])
def test_a_bad_prefix_exits_2(prefix):
    with pytest.raises(CommandError, match="prefix") as info:
        _run("--prefix", prefix)
    assert info.value.returncode == 2


# -- S3 ----------------------------------------------------------------------------------------

def test_s3_clean_then_missing_corrupted_and_orphaned(s3_storage, caplog, monkeypatch):
    monkeypatch.setenv("MOTO_S3_DEFAULT_MAX_KEYS", "2")  # several list pages
    owner = _owner()
    versions = [_store(owner, f"paper {i}".encode(), kind=f"k{i}") for i in range(5)]
    code, out = _run("--prefix", f"{owner}/")
    assert code == 0
    assert out.strip() == (f"S3 bucket '{s3_storage.bucket}' at {s3_storage.server.endpoint} under {owner}/: "
                           "5 files checked, 5 objects listed; 0 missing, 0 corrupted, 0 orphaned")
    s3_storage.client.delete_object(Bucket=s3_storage.bucket, Key=versions[0].storage_key)
    s3_storage.put(versions[1].storage_key, b"forged")
    s3_storage.put(f"{owner}/A1/orphan.docx", b"nobody's")
    s3_storage.put("elsewhere/orphan.docx", b"outside the prefix")
    with caplog.at_level(logging.ERROR, logger="kelisim.security"):
        code, out = _run("--prefix", f"{owner}/")
    lines = out.strip().splitlines()
    assert code == 1
    assert lines[:3] == [
        f"missing {versions[0].storage_key} ({versions[0]})",
        f"corrupted {versions[1].storage_key} ({versions[1]}): recorded sha256 {versions[1].sha256} size 7, "
        f"found sha256 {hashlib.sha256(b'forged').hexdigest()} size 6",
        f"orphaned {owner}/A1/orphan.docx (8 bytes)",
    ]
    assert lines[3].endswith("5 files checked, 5 objects listed; 1 missing, 1 corrupted, 1 orphaned")
    assert [r for r in caplog.records if r.name == "kelisim.security" and versions[1].storage_key in r.getMessage()]
    code, out = _run("--json")  # the whole bucket: the session's files are not in it
    report = json.loads(out)
    assert code == 1 and {p["key"] for p in report["orphaned"]} == {f"{owner}/A1/orphan.docx", "elsewhere/orphan.docx"}


def test_the_whole_bucket_is_walked(s3_storage, monkeypatch):
    monkeypatch.setenv("MOTO_S3_DEFAULT_MAX_KEYS", "25")
    from django.conf import settings

    media = Path(settings.MEDIA_ROOT)  # the session's file storage, before the switch to S3
    records = _records()
    for record in records:
        s3_storage.put(record.storage_key, (media / record.storage_key).read_bytes())
    code, out = _run()
    assert code == 0, out
    assert f"{len(records)} files checked, {len(records)} objects listed; 0 missing" in out


def test_an_unreachable_s3_server_exits_2_with_a_clear_message(s3_outage):
    _store(_owner(), b"recorded")
    s3_outage.server.stop()
    with pytest.raises(CommandError) as info:
        _run()
    assert info.value.returncode == 2
    message = str(info.value)
    assert message.startswith(f"cannot reach S3 bucket '{s3_outage.bucket}' at {s3_outage.server.endpoint}")
    assert "kelisim/test+secret" not in message and "kelisim%2Ftest" not in message
    code, out = _run("--json")
    assert code == 2 and json.loads(out) == {"ok": False, "error": json.loads(out)["error"]}
    assert "cannot reach S3 bucket" in json.loads(out)["error"]


def test_a_missing_bucket_exits_2(s3_storage):
    s3_storage.client.delete_bucket(Bucket=s3_storage.bucket)
    try:
        with pytest.raises(CommandError, match=f"cannot reach S3 bucket '{s3_storage.bucket}'") as info:
            _run()
        assert info.value.returncode == 2
    finally:
        s3_storage.client.create_bucket(Bucket=s3_storage.bucket)  # for the fixture's cleanup
