"""The auditor's pages: history search (``portal:audit``), the chain check (``portal:audit-verify``)
and the check of an uploaded dossier (``portal:dossier-verify``)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
import zoneinfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from documents.dossier import build_dossier
from workflow.models import AuditEntry

from . import roles_support
from .roles_support import as_user, case

people = roles_support.people  # the module's fixture (demo users)

pytestmark = pytest.mark.django_db
AUDIT = reverse("portal:audit")
VERIFY = reverse("portal:audit-verify")
DOSSIER = reverse("portal:dossier-verify")
ALMATY = zoneinfo.ZoneInfo("Asia/Almaty")


def listed(response) -> list[AuditEntry]:
    """The audit entries of the page's rows (processes.portal.rows.audit_rows)."""
    return [row["entry"] for row in response.context["rows"]]


def test_search_by_case_actor_and_transition(people, client):
    client = as_user(client, "auditor")
    by_case = client.get(AUDIT, {"case": "TC-2017/A1"})
    assert by_case.status_code == 200
    expected = AuditEntry.objects.filter(chain="TC-2017/A1").count()
    assert by_case.context["page"].paginator.count == expected
    assert {e.chain for e in listed(by_case)} == {"TC-2017/A1"}
    times = [e.created_at for e in listed(by_case)]
    assert times == sorted(times, reverse=True)
    decision = AuditEntry.objects.filter(object_type="approvals.decision", transition="approve").first()
    found = client.get(AUDIT, {"actor": decision.actor_username, "transition": "approve",
                               "case": decision.chain})
    rows = listed(found)
    assert decision.pk in {e.pk for e in rows}
    assert all((e.actor_username, e.transition, e.chain) == (decision.actor_username, "approve", decision.chain)
               for e in rows)
    html = found.content.decode()
    assert reverse("portal:case-detail", args=[case(decision.chain.split("/")[1]).pk]) in html
    assert client.get(AUDIT, {"actor": "nobody-at-all"}).context["page"].paginator.count == 0


def test_search_by_date_range_in_almaty_days(people, client):
    entry = AuditEntry.objects.order_by("created_at").first()
    day = entry.created_at.astimezone(ALMATY).date()
    response = as_user(client, "auditor").get(AUDIT, {"date_from": day.isoformat(), "date_to": day.isoformat()})
    assert response.status_code == 200
    start = dt.datetime.combine(day, dt.time.min, ALMATY)
    expected = AuditEntry.objects.filter(created_at__gte=start, created_at__lt=start + dt.timedelta(days=1)).count()
    assert response.context["page"].paginator.count == expected > 0
    later = as_user(client, "auditor").get(AUDIT, {"date_from": (day + dt.timedelta(days=400)).isoformat()})
    assert later.context["page"].paginator.count == 0


@pytest.mark.parametrize("query", [{"date_from": "yesterday"}, {"date_to": "2017-02-30"},
                                   {"date_from": "2018-01-02", "date_to": "2018-01-01"},
                                   {"actor": "x" * 151}, {"case": "c" * 201},
                                   {"date_to": "9999-12-31"}, {"date_from": "0001-01-01"}])
def test_bad_search_input_is_400_with_a_message(people, client, query):
    response = as_user(client, "auditor").get(AUDIT, query)
    assert response.status_code == 400
    assert 'id="audit-errors"' in response.content.decode()
    assert listed(response) == []


def test_results_are_paginated(people, client):
    client = as_user(client, "auditor")
    first = client.get(AUDIT)
    assert first.context["page"].paginator.count == AuditEntry.objects.count() > 50
    assert len(listed(first)) == 50
    second = client.get(AUDIT, {"page": 2})
    assert not {e.pk for e in listed(first)} & {e.pk for e in listed(second)}
    assert 'id="audit-older"' in first.content.decode()


def test_the_audit_page_query_count_is_bounded(people, client, django_assert_max_num_queries):
    client = as_user(client, "auditor")
    with django_assert_max_num_queries(10):
        response = client.get(AUDIT)
    assert len(listed(response)) == 50


def test_the_chain_check_reports_ok_with_counts(people, client):
    response = as_user(client, "auditor").post(VERIFY)
    assert response.status_code == 200
    result = response.context["result"]
    assert result.ok and result.entries == AuditEntry.objects.count() and result.chains > 9
    assert 'data-ok="true"' in response.content.decode()
    one = as_user(client, "auditor").post(VERIFY, {"case": "TC-2017/A1"}).context["result"]
    assert one.ok and one.chains == 1 and one.entries == AuditEntry.objects.filter(chain="TC-2017/A1").count()


def test_the_chain_check_names_the_first_broken_entry(people, client):
    entry = AuditEntry.objects.filter(chain="TC-2017/A4").order_by("seq")[3]
    AuditEntry.objects.filter(pk=entry.pk).update(comment="edited afterwards")
    response = as_user(client, "auditor").post(VERIFY, {"case": "TC-2017/A4"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-ok="false"' in html
    assert response.context["result"].broken.entry_id == entry.pk
    assert f'id="broken-seq">{entry.seq}<' in html and "TC-2017/A4" in html


def test_the_chain_check_of_an_unknown_chain_is_404(people, client):
    assert as_user(client, "auditor").post(VERIFY, {"case": "TC-2017/A99"}).status_code == 404
    assert as_user(client, "auditor").post(VERIFY, {"case": "c" * 201}).status_code == 400


def dossier_bytes(number="A1") -> bytes:
    stream = io.BytesIO()
    build_dossier(case(number), stream=stream)
    return stream.getvalue()


def upload(content: bytes, name="dossier.zip"):
    return SimpleUploadedFile(name, content, content_type="application/zip")


def test_an_intact_dossier_is_reported_intact(people, client):
    client = as_user(client, "auditor")
    assert client.get(DOSSIER).status_code == 200
    response = client.post(DOSSIER, {"file": upload(dossier_bytes()), "database": "1"})
    assert response.status_code == 200
    assert response.context["problems"] == [] and response.context["report"].entries > 0
    html = response.content.decode()
    assert 'data-ok="true"' in html and "TC-2017/A1" in html


def test_a_changed_dossier_lists_its_problems(people, client):
    original = zipfile.ZipFile(io.BytesIO(dossier_bytes()))
    changed = io.BytesIO()
    with zipfile.ZipFile(changed, "w") as out:
        for info in original.infolist():
            data = original.read(info)
            if info.filename.startswith("documents/") and not any(
                    i.filename.startswith("documents/") for i in out.infolist()):
                data = data + b"tampered"
            out.writestr(info, data)
    response = as_user(client, "coordinator").post(DOSSIER, {"file": upload(changed.getvalue())})
    assert response.status_code == 200
    kinds = {kind for kind, _path, _detail in response.context["problems"]}
    assert "changed" in kinds
    assert 'data-ok="false"' in response.content.decode()


def test_a_dossier_whose_documents_this_installation_does_not_hold_disagrees(people, client):
    content = dossier_bytes("A4")
    response = as_user(client, "auditor").post(DOSSIER, {"file": upload(content), "database": "1"})
    assert response.context["problems"] == []
    from documents.models import DocumentVersion

    DocumentVersion.objects.filter(document__owner_ref="TC-2017/A4").update(sha256="0" * 64)
    again = as_user(client, "auditor").post(DOSSIER, {"file": upload(content), "database": "1"})
    assert {kind for kind, _p, _d in again.context["problems"]} == {"database"}


@pytest.mark.parametrize(("content", "name"), [(b"just text, not a zip", "notes.txt"),
                                               (b"PK\x03\x04broken", "broken.zip")])
def test_a_file_that_is_not_a_dossier_is_400_with_a_clear_message(people, client, content, name):
    response = as_user(client, "auditor").post(DOSSIER, {"file": upload(content, name)})
    assert response.status_code == 400
    html = response.content.decode()
    assert name in html and "not a ZIP" in html and "/tmp" not in html


def test_a_zip_without_a_manifest_is_400(people, client):
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as out:
        out.writestr("hello.txt", "hi")
    response = as_user(client, "auditor").post(DOSSIER, {"file": upload(plain.getvalue())})
    assert response.status_code == 400 and "manifest.json" in response.content.decode()


def test_no_file_is_400(people, client):
    assert as_user(client, "auditor").post(DOSSIER, {}).status_code == 400


def test_the_dossier_check_has_its_own_limit_and_message(people, client):
    """A dossier larger than an attachment may be is checked (the limits are apart), and one
    over KELISIM_DOSSIER_VERIFY_MAX_BYTES is 413 with the dossier's own message in MiB."""
    content = dossier_bytes()
    with override_settings(KELISIM_UPLOAD_MAX_BYTES=1024, KELISIM_DOSSIER_VERIFY_MAX_BYTES=len(content) + 1024):
        fits = as_user(client, "auditor").post(DOSSIER, {"file": upload(content)})
        page = client.get(DOSSIER).content.decode()
    assert fits.status_code == 200 and fits.context["problems"] == [] and len(content) > 1024
    assert "Up to " in page and "MiB" in page and " MB" not in page
    with override_settings(KELISIM_DOSSIER_VERIFY_MAX_BYTES=2 * 1024 * 1024):
        response = as_user(client, "auditor").post(DOSSIER, {"file": upload(b"x" * (2 * 1024 * 1024 + 10))})
    html = response.content.decode()
    assert response.status_code == 413
    assert "The dossier is larger than the 2 MiB a dossier check accepts; nothing was kept." in html
    assert "KELISIM_DOSSIER_VERIFY_MAX_BYTES" in html and "Please send a smaller file" not in html


def test_an_oversized_dossier_is_refused_while_it_streams(people, client, monkeypatch):
    """Without a declared length over the limit (middleware passed), the stream is cut at the
    limit and the same 413 is answered; nothing of the upload is kept in memory."""
    from processes.portal import files

    seen = []
    original = files.LimitedUploadHandler.receive_data_chunk

    def spy(self, raw_data, start):
        try:
            return original(self, raw_data, start)
        finally:
            seen.append((self.limit, self.exceeded))

    monkeypatch.setattr(files.LimitedUploadHandler, "receive_data_chunk", spy)
    monkeypatch.setattr(files, "dossier_verify_limit", lambda: 100_000)
    monkeypatch.setattr(files, "_is_dossier_check", lambda request: False)  # the middleware lets it through
    response = as_user(client, "auditor").post(DOSSIER, {"file": upload(b"x" * 300_000)})
    assert response.status_code == 413 and "a dossier check accepts" in response.content.decode()
    assert seen and seen[-1] == (100_000, True)


def test_the_upload_goes_to_a_temporary_file_never_to_memory(people, client, monkeypatch):
    from django.core.files.uploadedfile import InMemoryUploadedFile

    from processes.portal.roles import auditor

    kinds = []
    original = auditor._spooled_path

    def spy(upload_):
        kinds.append(type(upload_))
        return original(upload_)

    monkeypatch.setattr(auditor, "_spooled_path", spy)
    response = as_user(client, "auditor").post(DOSSIER, {"file": upload(dossier_bytes())})  # a small one
    assert response.status_code == 200
    assert kinds and not issubclass(kinds[0], InMemoryUploadedFile)
    assert hasattr(kinds[0], "temporary_file_path")


def test_a_declared_length_over_the_dossier_limit_is_413_before_reading(people, client):
    with override_settings(KELISIM_DOSSIER_VERIFY_MAX_BYTES=1000):
        as_user(client, "auditor")
        response = client.generic("POST", DOSSIER, b"x" * 10, content_type="multipart/form-data; boundary=b",
                                  CONTENT_LENGTH=str(1000 + 64 * 1024 + 1))
    assert response.status_code == 413 and "a dossier check accepts" in response.content.decode()


def test_other_roles_get_403(people, client):
    for username in ("expert1", "signatory1", "applicant-a1", "partner"):
        assert as_user(client, username).post(DOSSIER, {"file": upload(dossier_bytes())}).status_code == 403
    for username in ("coordinator", "expert1", "applicant-a1"):
        assert as_user(client, username).get(AUDIT).status_code == 403
        assert as_user(client, username).post(VERIFY).status_code == 403


@pytest.mark.parametrize("audit", [{"chain": 5, "entries": "many", "head_hash": "x"}, None,
                                   {"chain": "TC-2017/A1", "entries": True, "head_hash": []}])
def test_a_manifest_with_a_malformed_audit_section_is_a_problem_not_a_crash(people, client, audit):
    """A forged manifest (wrong types in its audit section, a case that is not an object) is
    reported, also when compared with this installation, never a 500."""
    import json

    original = zipfile.ZipFile(io.BytesIO(dossier_bytes()))
    forged = io.BytesIO()
    with zipfile.ZipFile(forged, "w") as out:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["audit"], manifest["case"] = audit, "x"
                data = json.dumps(manifest).encode()
            out.writestr(info, data)
    response = as_user(client, "auditor").post(DOSSIER, {"file": upload(forged.getvalue()), "database": "1"})
    assert response.status_code in (200, 400)
    assert response.context["problems"] if response.status_code == 200 else True
    assert 'data-ok="true"' not in response.content.decode()
