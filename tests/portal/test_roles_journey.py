"""One journey through the role pages with the test client, as the browser journeys walk it:
an applicant files an application with an attachment and submits it, a coordinator accepts it,
moves the case to selection and assigns two experts, an expert scores it, and an auditor finds
the acceptance in the history."""

from __future__ import annotations

import io
import re

import docx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from documents.models import DocumentVersion
from processes.rounds.models import Case

from . import roles_support
from .roles_support import COMPLETE, as_user, open_round, user

people = roles_support.people  # the module's fixture (demo users)
pytestmark = pytest.mark.django_db


def word_file() -> bytes:
    document = docx.Document()
    document.add_paragraph("Өтінім")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_apply_accept_assign_score_and_find_it_in_the_history(people, client):
    rnd = open_round()
    applicant = as_user(client, "applicant-a1")
    nav = applicant.get(reverse("portal:case-list")).content.decode()
    apply_url = re.search(r'href="([^"]+)" id="nav-apply-%s"' % rnd.code, nav).group(1)
    case_url = applicant.post(apply_url, {**COMPLETE, "language": "kk"})["Location"]
    c = Case.objects.get(round=rnd)
    upload = SimpleUploadedFile("Өтінім №5.docx", word_file())
    assert applicant.post(reverse("portal:case-attachment-upload", args=[c.pk]), {"file": upload}).status_code == 302
    page = applicant.get(case_url).content.decode()
    edit_url = re.search(r'href="([^"]+)" id="application-edit-link"', page).group(1)
    assert applicant.post(edit_url, {**COMPLETE, "action": "submit"}).status_code == 302

    coordinator = as_user(client, "coordinator")
    work = coordinator.get(reverse("portal:coordinator"), {"round": rnd.code})
    check = re.search(r'action="([^"]+)" class="inline" id="check-%d"' % c.pk, work.content.decode()).group(1)
    assert coordinator.post(check, {"transition": "accept", "comment": "complete"}).status_code == 302
    work = coordinator.get(reverse("portal:coordinator"), {"round": rnd.code}).content.decode()
    assert f'id="assign-{c.pk}"' in work  # accepted: the case is in selection, experts come next
    c.refresh_from_db()
    assert c.state == "selection"
    assert coordinator.post(reverse("portal:scoring-assign", args=[c.pk]),
                            {"experts": [user("expert1").pk, user("expert2").pk]}).status_code == 302

    expert = as_user(client, "expert1")
    sheets = expert.get(reverse("portal:expert")).content.decode()
    sheet_url = re.search(r'data-ref="%s".*?href="([^"]+)"' % re.escape(c.ref), sheets, re.S).group(1)
    scores = {f"score-{criterion.code}": "8" for criterion in rnd.criteria.all()}
    assert expert.post(sheet_url, {"action": "submit", **scores}).status_code == 302
    assert 'data-state="submitted"' in expert.get(reverse("portal:expert")).content.decode()

    auditor = as_user(client, "auditor")
    found = auditor.get(reverse("portal:audit"), {"case": c.ref, "transition": "accept"})
    rows = [row["entry"] for row in found.context["rows"]]  # processes.portal.rows.audit_rows
    assert [(e.transition, e.actor_username, e.comment) for e in rows] == [("accept", "coordinator", "complete")]
    assert reverse("portal:case-detail", args=[c.pk]) in found.content.decode()
    attachment = DocumentVersion.objects.get(document__owner_ref=c.ref, document__kind="attachment")
    download = applicant.get(reverse("portal:document-download", args=[attachment.pk]))
    assert download.status_code == 200 and "%D3%A8%D1%82%D1%96%D0%BD%D1%96%D0%BC" in download["Content-Disposition"]
