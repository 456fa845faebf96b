"""documents.dossier and ``manage.py verify_dossier``: build a case dossier, check it, find tampering."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from documents import dossier
from documents.models import DocumentVersion
from documents.storage import ChecksumMismatch, read_verified
from workflow.models import AuditChain, AuditEntry

from .uploadfiles import make_zip_bomb


@pytest.fixture
def case(sample_round):
    return sample_round.cases.get(number="A1")


@pytest.fixture
def built(case, tmp_path) -> Path:
    path = tmp_path / "dossier.zip"
    with path.open("wb") as stream:
        dossier.build_dossier(case, stream=stream)
    return path


def verify(path, *args) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``verify_dossier``."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_dossier", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_zip(path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_the_dossier_holds_every_current_version_the_audit_trail_and_a_manifest(case, built):
    files = members(built)
    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == "kelisim-dossier/1" and manifest["case"]["ref"] == case.ref
    assert manifest["kelisim_version"] and manifest["generated_at"]
    listed = {item["path"]: item for item in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json"}
    for path, item in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == item["sha256"] and len(files[path]) == item["size"]
    current = {}
    for version in DocumentVersion.objects.filter(document__owner_ref=case.ref).select_related("document"):
        if version.number == max(version.document.versions.values_list("number", flat=True)):
            current[version.pk] = version
    documents = [item for item in manifest["files"] if "document" in item]
    assert len(documents) == len(current) > 5
    for item in documents:
        assert item["path"].startswith(f"documents/{item['document']['stage']}/")
        assert item["sha256"] == item["document"]["recorded_sha256"]
    for version in current.values():
        matching = [i for i in documents if i["sha256"] == version.sha256]
        assert matching and files[matching[0]["path"]] == read_verified(version)
    head = AuditChain.objects.get(key=case.ref)
    entries = json.loads(files["audit/entries.json"])
    assert [e["seq"] for e in entries] == list(range(1, head.length + 1))
    assert entries[-1]["hash"] == head.head_hash == manifest["audit"]["head_hash"]
    assert entries == [dossier._entry_record(e) for e in AuditEntry.objects.filter(chain=case.ref).order_by("seq")]
    csv_text = files["audit/entries.csv"].decode("utf-8-sig").splitlines()
    assert csv_text[0].split(",")[:3] == ["seq", "created_at", "actor"]
    assert len(csv_text) == head.length + 1
    assert csv_text[-1].split(",")[-2:] == [head.head_hash, entries[-1]["prev_hash"]]


def test_two_papers_with_one_name_are_told_apart_by_their_key(built):
    manifest = json.loads(members(built)["manifest.json"])
    sheets = {item["document"]["key"]: item["path"] for item in manifest["files"]
              if item.get("document", {}).get("kind") == "score_sheet"}
    assert len(sheets) == 2 and len(set(sheets.values())) == 2
    first, second = sorted(sheets.values(), key=len)
    assert second == first.replace(".docx", f" [{second.split('[')[1].split(']')[0]}].docx")
    assert second.split("[")[1].split("]")[0] in sheets


def test_a_fresh_dossier_verifies(built, case):
    code, out, err = verify(built)
    assert code == 0, err
    assert f"dossier of {case.ref} intact" in out and "audit entries chain to head" in out


def test_a_fresh_dossier_agrees_with_the_database(built):
    code, out, err = verify(built, "--database")
    assert code == 0, err
    assert "agrees with this installation" in out


def test_attachments_with_cyrillic_names_keep_their_names(case, tmp_path):
    from documents.uploads import store_upload

    from .uploadfiles import make_docx

    for _ in range(2):  # the same name twice: the second gets " (2)"
        store_upload(owner_ref=case.ref, stage=case.stage, language=case.language, file=make_docx(),
                     name="Өтінім №5.docx", actor=None)
    path = tmp_path / "d.zip"
    with path.open("wb") as stream:
        dossier.build_dossier(case, stream=stream)
    names = set(members(path))
    assert f"documents/{case.stage}/Өтінім №5.docx" in names
    assert f"documents/{case.stage}/Өтінім №5 (2).docx" in names
    assert verify(path)[0] == 0


@pytest.mark.parametrize("given, expected", [
    ("CON.pdf", "_CON.pdf"),
    ("com1", "_com1"),
    ("Lpt9.Report.docx", "_Lpt9.Report.docx"),
    ("CONSOLE.pdf", "CONSOLE.pdf"),  # only the exact device names are reserved
    ('a<b>c:d"e|f?g*h.docx', "a_b_c_d_e_f_g_h.docx"),
    ("report. . ", "report"),
    ("..\\..\\evil.docx", "evil.docx"),
    ("...", ""),
])
def test_member_names_are_portable_to_windows(given, expected):
    assert dossier._safe_member_name(given) == expected


def test_a_dossier_extracts_on_windows_with_hostile_attachment_names(case, tmp_path):
    from documents.uploads import store_upload

    from .uploadfiles import make_docx

    for name in ("CON.docx", "<script>alert(1)</script>.docx", "план: итог?.docx"):
        store_upload(owner_ref=case.ref, stage=case.stage, language=case.language, file=make_docx(),
                     name=name, actor=None)
    path = tmp_path / "d.zip"
    with path.open("wb") as stream:
        dossier.build_dossier(case, stream=stream)
    names = [n.rsplit("/", 1)[-1] for n in members(path)]
    forbidden = set('<>:"|?*')
    assert not [n for n in names if forbidden & set(n) or n.split(".")[0].upper() in {"CON", "PRN", "AUX", "NUL"}]
    assert "_CON.docx" in names and "план_ итог_.docx" in names
    manifest = json.loads(members(path)[dossier.MANIFEST])
    originals = {f["document"]["original_name"] for f in manifest["files"] if "document" in f}
    assert {"CON.docx", "план: итог?.docx"} <= originals  # the manifest keeps the real names
    assert verify(path)[0] == 0


def test_a_tampered_member_fails_with_exit_1_naming_it(built, tmp_path):
    files = members(built)
    victim = next(name for name in files if name.startswith("documents/"))
    files[victim] = files[victim][:-1] + bytes([files[victim][-1] ^ 1])
    code, _, err = verify(write_zip(tmp_path / "t.zip", files))
    assert code == 1
    assert f"CHANGED  {victim}" in err and "1 problem" in err


def test_a_longer_member_is_found_without_reading_past_its_size(built, tmp_path):
    files = members(built)
    files["audit/entries.csv"] += b"x" * 10_000
    code, _, err = verify(write_zip(tmp_path / "t.zip", files))
    assert code == 1 and "CHANGED  audit/entries.csv" in err


def test_an_extra_file_fails_with_exit_1_naming_it(built, tmp_path):
    files = members(built)
    files["documents/extra.pdf"] = b"%PDF-1.4"
    code, _, err = verify(write_zip(tmp_path / "t.zip", files))
    assert code == 1 and "EXTRA    documents/extra.pdf" in err


def test_a_missing_file_fails_with_exit_1_naming_it(built, tmp_path):
    files = members(built)
    victim = next(name for name in files if name.startswith("documents/"))
    del files[victim]
    code, _, err = verify(write_zip(tmp_path / "t.zip", files))
    assert code == 1 and f"MISSING  {victim}" in err


def test_a_rewritten_audit_entry_breaks_the_chain_even_with_a_consistent_manifest(built, tmp_path):
    files = members(built)
    entries = json.loads(files["audit/entries.json"])
    entries[1]["comment"] = "nothing happened"
    entries[1]["canonical"] = entries[1]["canonical"].replace('"comment":""', '"comment":"nothing happened"')
    files["audit/entries.json"] = json.dumps(entries).encode()
    manifest = json.loads(files["manifest.json"])
    for item in manifest["files"]:  # the forger also fixes the manifest's checksum
        if item["path"] == "audit/entries.json":
            item["sha256"] = hashlib.sha256(files["audit/entries.json"]).hexdigest()
            item["size"] = len(files["audit/entries.json"])
    files["manifest.json"] = json.dumps(manifest).encode()
    code, _, err = verify(write_zip(tmp_path / "t.zip", files))
    assert code == 1
    assert "AUDIT    audit/entries.json seq 2: hash mismatch" in err


def test_a_dropped_last_entry_no_longer_reaches_the_head(built, tmp_path):
    files = members(built)
    entries = json.loads(files["audit/entries.json"])[:-1]
    files["audit/entries.json"] = json.dumps(entries).encode()
    manifest = json.loads(files["manifest.json"])
    for item in manifest["files"]:
        if item["path"] == "audit/entries.json":
            item["sha256"] = hashlib.sha256(files["audit/entries.json"]).hexdigest()
            item["size"] = len(files["audit/entries.json"])
    files["manifest.json"] = json.dumps(manifest).encode()
    code, _, err = verify(write_zip(tmp_path / "t.zip", files))
    assert code == 1 and "manifest names the chain head" in err


def test_a_forged_dossier_is_caught_by_the_database_comparison(built, tmp_path):
    files = members(built)
    manifest = json.loads(files["manifest.json"])
    victim = next(item for item in manifest["files"] if "document" in item)
    files[victim["path"]] = b"%PDF-1.4 forged"
    victim["sha256"] = hashlib.sha256(files[victim["path"]]).hexdigest()
    victim["size"] = len(files[victim["path"]])
    files["manifest.json"] = json.dumps(manifest).encode()
    forged = write_zip(tmp_path / "t.zip", files)
    assert verify(forged)[0] == 0  # consistent in itself: the manifest is not signed
    code, _, err = verify(forged, "--database")
    assert code == 1 and f"DATABASE {victim['path']}" in err


@pytest.mark.parametrize("content", [b"not a zip at all", b""])
def test_not_a_zip_exits_2(tmp_path, content):
    path = tmp_path / "x.zip"
    path.write_bytes(content)
    code, _, err = verify(path)
    assert code == 2 and "not a ZIP" in err


def test_a_missing_file_exits_2(tmp_path):
    code, _, err = verify(tmp_path / "nothing.zip")
    assert code == 2 and "no such file" in err


def test_a_zip_without_manifest_exits_2(tmp_path):
    code, _, err = verify(write_zip(tmp_path / "x.zip", {"a.txt": b"a"}))
    assert code == 2 and "no manifest.json" in err


def test_a_manifest_that_is_not_json_exits_2(tmp_path):
    code, _, err = verify(write_zip(tmp_path / "x.zip", {"manifest.json": b"{"}))
    assert code == 2 and "cannot be read" in err


def test_a_zip_bomb_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "bomb.zip"
    path.write_bytes(make_zip_bomb())

    def refuse(self, name, *args, **kwargs):
        raise AssertionError(f"member {name} was read")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)
    code, _, err = verify(path)
    assert code == 2 and "without being expanded" in err


def test_a_corrupted_stored_document_makes_the_build_fail(case, restore_file, media_root, tmp_path):
    version = DocumentVersion.objects.filter(document__owner_ref=case.ref).order_by("pk").first().document.current_version
    stored = restore_file(Path(default_storage.path(version.storage_key)))
    stored.write_bytes(stored.read_bytes() + b"tampered")
    with pytest.raises(ChecksumMismatch):
        with (tmp_path / "d.zip").open("wb") as stream:
            dossier.build_dossier(case, stream=stream)


def test_the_filename(case):
    import datetime as dt

    assert dossier.dossier_filename(case, dt.date(2026, 11, 29)) == "dossier-TC-2017-A1-2026-11-29.zip"
