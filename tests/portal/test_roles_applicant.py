"""The applicant's pages: file a new application (``portal:application-new``) and edit, submit or
revise it (``portal:application-edit``)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from processes.rounds.models import Case
from processes.submission import services as submission
from processes.submission.models import Application
from workflow import tasks as human_tasks
from workflow.models import AuditEntry

from . import roles_support
from .roles_support import COMPLETE, as_user, case, open_round, user

people = roles_support.people  # the module's fixture (demo users)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rnd(people):
    return open_round()


def apply_url(rnd):
    return reverse("portal:application-new", args=[rnd.code])


def edit_url(c):
    return reverse("portal:application-edit", args=[c.pk])


def filed(rnd, values=None, username="applicant-a1"):
    return submission.file_new_application(round=rnd, applicant=user(username), values=values or COMPLETE).case


def counts(rnd):
    return Case.objects.filter(round=rnd).count(), AuditEntry.objects.count()


def test_an_applicant_files_a_draft_and_lands_on_the_case_page(rnd, client):
    client = as_user(client, "applicant-a1")
    page = client.get(apply_url(rnd))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="application-form"' in html and 'id="application-create"' in html and 'name="name_en"' in html
    response = client.post(apply_url(rnd), {**COMPLETE, "language": "kk"})
    c = Case.objects.get(round=rnd)
    assert response.status_code == 302 and response["Location"] == reverse("portal:case-detail", args=[c.pk])
    assert (c.applicant, c.language, c.number, c.application.state) == (user("applicant-a1"), "kk", "A1", "draft")
    assert c.application.export_share_pct == 12.5
    case_page = client.get(response["Location"]).content.decode()
    assert 'id="application-edit-link"' in case_page and edit_url(c) in case_page
    assert 'id="attachment-file"' in case_page  # the existing upload form


@pytest.mark.parametrize(("values", "field"), [
    ({"name_en": ""}, "name_en"),
    ({"smes": "many"}, "smes"),
    ({"employees": "-3"}, "employees"),
    ({"export_share_pct": "101"}, "export_share_pct"),
    ({"export_share_pct": "1.234"}, "export_share_pct"),
    ({"region": "x" * 201}, "region"),
])
def test_bad_values_show_the_form_again_per_field_and_file_nothing(rnd, client, values, field):
    before = counts(rnd)
    response = as_user(client, "applicant-a1").post(apply_url(rnd), {**COMPLETE, **values})
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="error-{field}"' in html and 'data-testid="form-errors"' in html
    assert counts(rnd) == before


@pytest.mark.parametrize(("values", "field"), [({"city": "Al\x01maty"}, "city"), ({"name_ru": "ab\x00cd"}, "name_ru")])
def test_a_value_with_a_control_character_is_400_naming_the_field_and_files_nothing(rnd, client, values, field):
    """Refused before the form sees it (processes.portal.controlchars, docs/security.md): the
    problem page names the field, never echoes the value, and nothing is filed."""
    before = counts(rnd)
    response = as_user(client, "applicant-a1").post(apply_url(rnd), {**COMPLETE, **values})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"“{field}”" in html and "control character" in html
    assert "\x00" not in html and "\x01" not in html  # a refused value is never echoed with control characters
    assert counts(rnd) == before


def test_an_unknown_language_is_400(rnd, client):
    before = counts(rnd)
    response = as_user(client, "applicant-a1").post(apply_url(rnd), {**COMPLETE, "language": "de"})
    assert response.status_code == 400 and "language" in response.content.decode()
    assert counts(rnd) == before


def test_a_round_not_open_is_409_and_an_unknown_one_404(people, client):
    client = as_user(client, "applicant-a1")
    before = Case.objects.count()
    assert client.get(reverse("portal:application-new", args=["TC-2017"])).status_code == 409
    assert client.post(reverse("portal:application-new", args=["TC-2017"]), COMPLETE).status_code == 409
    assert client.get(reverse("portal:application-new", args=["NOPE"])).status_code == 404
    assert Case.objects.count() == before


def test_other_roles_may_not_file(rnd, client):
    for username in ("coordinator", "expert1", "auditor", "signatory1"):
        assert as_user(client, username).post(apply_url(rnd), COMPLETE).status_code == 403
    assert not Case.objects.filter(round=rnd).exists()


def test_submitting_with_empty_required_fields_is_400_and_keeps_nothing(rnd, client):
    c = filed(rnd, {"name_en": "Half done"})
    entries = AuditEntry.objects.filter(chain=c.ref).count()
    response = as_user(client, "applicant-a1").post(edit_url(c), {"action": "submit", "name_en": "Renamed",
                                                                  "region": "Almaty"})
    assert response.status_code == 400
    assert "required fields are empty" in response.content.decode()
    application = Application.objects.get(case=c)
    assert (application.state, application.name_en, application.region) == ("draft", "Half done", "")
    assert AuditEntry.objects.filter(chain=c.ref).count() == entries


def test_saving_then_submitting_files_it_and_opens_the_check(rnd, client):
    c = filed(rnd, {"name_en": "Half done"})
    client = as_user(client, "applicant-a1")
    assert client.get(edit_url(c)).status_code == 200
    saved = client.post(edit_url(c), {"action": "save", "name_en": "Half done", "region": "Almaty"})
    assert saved.status_code == 302 and saved["Location"] == edit_url(c)
    assert Application.objects.get(case=c).region == "Almaty"
    response = client.post(edit_url(c), {"action": "submit", **COMPLETE, "comment": "here it is"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:case-detail", args=[c.pk])
    application = Application.objects.get(case=c)
    assert application.state == "submitted" and application.name_en == COMPLETE["name_en"]
    assert human_tasks.open_tasks_for(application, "accept").exists()
    assert client.get(edit_url(c)).status_code == 409  # filed: no longer editable


def test_a_bad_value_on_edit_is_400_per_field(rnd, client):
    c = filed(rnd)
    response = as_user(client, "applicant-a1").post(edit_url(c), {"action": "save", **COMPLETE, "smes": "x"})
    assert response.status_code == 400 and 'id="error-smes"' in response.content.decode()
    assert Application.objects.get(case=c).smes == 40


def test_answering_a_request_for_revision_shows_the_comment_and_resubmits(rnd, client):
    c = filed(rnd)
    application = c.application
    submission.submit_application(application=application, actor=user("applicant-a1"))
    human_tasks.take(application, "return_for_revision", actor=user("coordinator"),
                     comment="Please name the anchor enterprises.")
    client = as_user(client, "applicant-a1")
    page = client.get(edit_url(c))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="revision-request"' in html and "Please name the anchor enterprises." in html
    assert 'id="application-resubmit"' in html and 'id="application-submit"' not in html
    assert client.post(edit_url(c), {"action": "submit", **COMPLETE}).status_code == 400  # wrong button
    response = client.post(edit_url(c), {"action": "resubmit", **COMPLETE, "anchor_enterprises": "4",
                                         "comment": "named them"})
    assert response.status_code == 302
    application.refresh_from_db()
    assert (application.state, application.anchor_enterprises) == ("resubmitted", 4)
    assert AuditEntry.objects.filter(chain=c.ref, transition="resubmit", comment="named them").exists()
    assert human_tasks.open_tasks_for(application, "accept").exists()  # back in the coordinators' queue


def test_someone_elses_application_is_404_and_an_auditor_gets_403(rnd, client):
    c = filed(rnd, username="applicant-a1")
    other = ensure_other_applicant()
    client.force_login(other)
    assert client.get(edit_url(c)).status_code == 404
    assert client.post(edit_url(c), {"action": "save", "name_en": "Stolen"}).status_code == 404
    assert as_user(client, "auditor").post(edit_url(c), {"action": "save", "name_en": "Audited"}).status_code == 403
    assert Application.objects.get(case=c).name_en == COMPLETE["name_en"]
    assert as_user(client, "coordinator").post(edit_url(c), {"action": "save", **COMPLETE,
                                                             "city": "Shymkent"}).status_code == 302


def ensure_other_applicant():
    from processes.rounds.actors import ensure_user

    return ensure_user("applicant-b", "applicant")


def test_an_accepted_application_cannot_be_edited(people, client):
    response = as_user(client, "applicant-a1").get(edit_url(case("A1")))
    assert response.status_code == 409


def test_a_field_left_out_of_the_post_is_kept_not_cleared(rnd, client):
    c = filed(rnd)
    response = as_user(client, "applicant-a1").post(edit_url(c), {"action": "save", "city": "Shymkent"})
    assert response.status_code == 302
    application = Application.objects.get(case=c)
    assert (application.city, application.region, application.smes) == ("Shymkent", "Almaty", 40)
