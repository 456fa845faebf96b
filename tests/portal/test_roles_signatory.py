"""The signatory's approvals page (``portal:signatory``) and the preview of a document version
(``portal:document-preview``)."""

from __future__ import annotations

import datetime as dt
import io

import docx
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from documents.models import Document, DocumentVersion
from documents.render import DOCX_CONTENT_TYPE
from documents.storage import store_version
from processes.rounds.actors import ensure_user
from workflow.approvals.models import Decision
from workflow.approvals.services import Signatory, delegate, request_approval

from . import roles_support
from .roles_support import as_user, user

people = roles_support.people  # the module's fixture (demo users)

pytestmark = pytest.mark.django_db
APPROVALS = reverse("portal:signatory")


def word_file(*paragraphs: str, table=None) -> bytes:
    document = docx.Document()
    document.add_heading("Development plan", level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                grid.cell(r, c).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def stored(number: str, content: bytes, *, kind="test_plan", extension="docx", content_type=DOCX_CONTENT_TYPE):
    document, _ = Document.objects.get_or_create(owner_ref=f"TC-2017/{number}", kind=kind, key="", language="en",
                                                 defaults={"stage": "planning", "title": "Test plan"})
    return store_version(document=document, content=content, extension=extension, content_type=content_type,
                         original_name=f"plan.{extension}", created_by=user("coordinator"))


def ask(version, *signers, policy="all_of", key="test:plan"):
    return request_approval(subject=version, sha256=version.sha256, version=version.number, key=key,
                            chain=version.document.owner_ref, title="Test plan", author=user("coordinator"),
                            signatories=[Signatory(user(s), "Deputy Chairman", "KIID") for s in signers],
                            policy=policy, actor=user("coordinator"))


def test_the_page_lists_the_decision_with_the_exact_version_preview_and_download(people, client):
    version = stored("A1", word_file("Vision: exports."))
    approval = ask(version, "signatory1", "signatory2")
    mine = approval.decisions.get(signatory=user("signatory1"))
    response = as_user(client, "signatory1").get(APPROVALS)
    assert response.status_code == 200
    assert [row["decision"].pk for row in response.context["rows"]] == [mine.pk]
    html = response.content.decode()
    row = html[html.index(f'id="decision-{mine.pk}"'):]
    row = row[:row.index("</tr>")]
    assert f'data-version="{version.number}"' in row and version.sha256 in row
    assert reverse("portal:document-preview", args=[version.pk]) in row
    assert reverse("portal:document-download", args=[version.pk]) in row
    assert reverse("portal:decision", args=[mine.pk, "approve"]) in row
    reject = row[row.index(f'id="reject-{mine.pk}"'):]
    assert 'name="comment"' in reject and "required" in reject[:reject.index("</form>")]
    others = as_user(client, "signatory2").get(APPROVALS).context["rows"]
    assert [r["decision"].signatory.username for r in others] == ["signatory2"]


def test_approving_from_the_page_records_the_decision_on_that_sha256(people, client):
    version = stored("A1", word_file("Vision: exports."))
    mine = ask(version, "signatory1", "signatory2").decisions.get(signatory=user("signatory1"))
    response = as_user(client, "signatory1").post(reverse("portal:decision", args=[mine.pk, "approve"]),
                                                  {"comment": "agreed"})
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.state, mine.sha256, mine.comment) == ("approved", version.sha256, "agreed")
    assert as_user(client, "signatory1").get(APPROVALS).context["rows"] == []


def test_a_later_signatory_of_a_sequence_sees_why_it_cannot_decide_yet(people, client):
    version = stored("A1", word_file("Sequence."))
    ask(version, "signatory1", "signatory2", policy="sequential")
    rows = as_user(client, "signatory2").get(APPROVALS).context["rows"]
    assert len(rows) == 1 and not rows[0]["allowed"] and "earlier signatories" in rows[0]["reason"]
    assert 'id="approve-' not in as_user(client, "signatory2").get(APPROVALS).content.decode()


def test_a_deputy_sees_the_decisions_of_the_signatory_it_stands_in_for(people, client):
    version = stored("A1", word_file("Deputy."))
    decision = ask(version, "signatory1").decisions.get()
    deputy = ensure_user("deputy", "signatory")  # a deputy must hold the signatory role
    client.force_login(deputy)
    assert client.get(APPROVALS).context["rows"] == []
    today = dt.date.today()
    delegate(owner=user("signatory1"), deputy=deputy, starts_on=today, ends_on=today, actor=user("coordinator"))
    response = client.get(APPROVALS)
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r["decision"].pk for r in rows] == [decision.pk] and rows[0]["deputy"] and rows[0]["allowed"]


def test_other_roles_get_403(people, client):
    for username in ("coordinator", "expert1", "auditor", "applicant-a1"):
        assert as_user(client, username).get(APPROVALS).status_code == 403


def test_the_preview_shows_paragraphs_and_tables_escaped(people, client):
    version = stored("A1", word_file("<script>alert('x')</script> & more", "Second <b>line</b>",
                                     table=[["Measure", "Budget"], ["Training <i>", "1 000"]]))
    response = as_user(client, "coordinator").get(reverse("portal:document-preview", args=[version.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "<script>alert" not in html and "<b>line</b>" not in html and "<i>" not in html
    assert "Second &lt;b&gt;line&lt;/b&gt;" in html
    assert "<td>Training &lt;i&gt;</td>" in html and "<td>1 000</td>" in html
    assert "<h2>Development plan</h2>" in html
    assert version.sha256 in html and f'id="preview-version">{version.number}' in html
    assert reverse("portal:document-download", args=[version.pk]) in html


def test_the_preview_of_a_generated_document(people, client):
    version = (DocumentVersion.objects.filter(document__owner_ref="TC-2017/A1", content_type=DOCX_CONTENT_TYPE)
               .order_by("pk").first())
    response = as_user(client, "applicant-a1").get(reverse("portal:document-preview", args=[version.pk]))
    assert response.status_code == 200
    blocks = response.context["blocks"]
    assert blocks and any(b["kind"] == "paragraph" for b in blocks)


def test_a_non_word_file_gets_a_download_link_instead(people, client):
    version = stored("A1", b"%PDF-1.4\n%%EOF\n", kind="test_pdf", extension="pdf", content_type="application/pdf")
    response = as_user(client, "coordinator").get(reverse("portal:document-preview", args=[version.pk]))
    assert response.status_code == 200 and 'id="preview-none"' in response.content.decode()


def test_a_broken_word_file_says_it_cannot_be_shown(people, client):
    version = stored("A1", b"PK\x03\x04 not really a docx")
    response = as_user(client, "coordinator").get(reverse("portal:document-preview", args=[version.pk]))
    assert response.status_code == 200 and 'id="preview-unreadable"' in response.content.decode()


def test_a_changed_file_is_409_and_a_missing_one_404(people, client):
    client = as_user(client, "coordinator")
    changed = stored("A1", word_file("Original."))
    with default_storage.open(changed.storage_key, "wb") as out:
        out.write(word_file("Tampered."))
    response = client.get(reverse("portal:document-preview", args=[changed.pk]))
    assert response.status_code == 409 and "Tampered" not in response.content.decode()
    missing = stored("A1", word_file("Gone."), kind="test_gone")
    default_storage.delete(missing.storage_key)
    assert client.get(reverse("portal:document-preview", args=[missing.pk])).status_code == 404


def test_a_version_one_may_not_see_is_404(people, client):
    version = stored("A2", word_file("Not yours."))
    assert as_user(client, "applicant-a1").get(reverse("portal:document-preview", args=[version.pk])).status_code == 404
    assert as_user(client, "coordinator").get(reverse("portal:document-preview", args=[999999])).status_code == 404


def test_decisions_listed_belong_to_open_approvals_only(people, client):
    first = stored("A1", word_file("v1"))
    ask(first, "signatory1")
    second = stored("A1", word_file("v2"))
    ask(second, "signatory1")  # supersedes the first approval
    rows = as_user(client, "signatory1").get(APPROVALS).context["rows"]
    assert [r["approval"].subject_version for r in rows] == [second.number]
    assert Decision.objects.filter(approval__subject_version=first.number, approval__key="test:plan",
                                   state="superseded").exists()
