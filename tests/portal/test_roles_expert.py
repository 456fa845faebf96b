"""The expert's pages: its own score sheets (``portal:expert``) and one sheet (``portal:score-sheet``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from documents.models import Document
from processes.rounds.actors import ensure_user
from processes.selection.models import Score, ScoreSheet
from processes.selection.services import SCORING_TASK_TITLE
from workflow import tasks as human_tasks
from workflow.models import AuditEntry

from . import roles_support
from .roles_support import as_user, case, user

people = roles_support.people  # the module's fixture (demo users)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sheet(people):
    """A draft sheet of a new expert (expert3) on A2's application, with its scoring task; A2's
    selection is put back in ``scoring`` (scoring is closed once it is decided)."""
    from processes.selection.models import Selection

    Selection.objects.filter(application=case("A2").application).update(state=Selection.State.SCORING)
    expert = ensure_user("expert3", "expert")
    sheet = ScoreSheet.objects.create(application=case("A2").application, expert=expert)
    human_tasks.open_task(sheet, "submit", title=SCORING_TASK_TITLE, role="expert", assignee=expert,
                          outcomes=("submit", "declare_conflict"))
    return sheet


def url(sheet) -> str:
    return reverse("portal:score-sheet", args=[sheet.pk])


def criteria():
    return list(case("A2").round.criteria.order_by("position"))


def full_scores(value=7) -> dict:
    return {f"score-{c.code}": str(value) for c in criteria()}


def snapshot(sheet):
    sheet = ScoreSheet.objects.get(pk=sheet.pk)
    return (sheet.state, sorted(Score.objects.filter(sheet=sheet).values_list("criterion__code", "value", "comment")),
            AuditEntry.objects.filter(chain=case("A2").ref).count())


def test_the_list_holds_the_experts_own_sheets_and_none_of_others(people, client):
    response = as_user(client, "expert1").get(reverse("portal:expert"))
    assert response.status_code == 200
    listed = {s.pk for s in response.context["sheets"]}
    assert listed == set(ScoreSheet.objects.filter(expert=user("expert1")).values_list("pk", flat=True))
    assert listed and not listed & set(ScoreSheet.objects.filter(expert=user("expert2")).values_list("pk", flat=True))
    first = response.context["sheets"][0]
    assert first.criteria_count == 7 and first.scored == 7


def test_the_sheet_shows_each_criterion_with_weight_and_description_beside_its_input(sheet, client):
    response = as_user(client, "expert3").get(url(sheet))
    assert response.status_code == 200
    html = response.content.decode()
    for criterion in criteria():
        row = html[html.index(f'id="criterion-{criterion.code}"'):]
        row = row[:row.index("</tr>")]
        assert f'data-weight="{criterion.weight}"' in row and f"{criterion.weight}%" in row
        assert criterion.title_en in row
        assert f'name="score-{criterion.code}"' in row
    assert 'id="sheet-save"' in html and 'id="sheet-submit"' in html and 'id="conflict-submit"' in html


def test_saving_a_draft_keeps_the_scores_and_audits_it(sheet, client):
    client = as_user(client, "expert3")
    response = client.post(url(sheet), {"action": "save", "score-C1": "7", "comment-C1": "strong base",
                                        "score-C2": ""})
    assert response.status_code == 302 and response["Location"] == url(sheet)
    assert snapshot(sheet)[:2] == ("draft", [("C1", 7, "strong base")])
    last = AuditEntry.objects.filter(chain=case("A2").ref).order_by("-seq").first()
    assert (last.transition, last.actor_username, last.data) == ("scores_saved", "expert3", {"criteria": ["C1"]})
    page = client.get(url(sheet)).content.decode()
    assert 'id="score-C1" value="7"' in page
    client.post(url(sheet), {"action": "save", "score-C1": ""})  # cleared again
    assert snapshot(sheet)[1] == []


@pytest.mark.parametrize(("action", "values", "field"), [
    ("save", {"score-C1": "abc"}, "C1"),
    ("save", {"score-C1": "11"}, "C1"),
    ("save", {"score-C2": "-1"}, "C2"),
    ("save", {"score-C3": "7.5"}, "C3"),
    ("save", {"score-C4": "٣"}, "C4"),  # an Arabic-Indic digit is not a score
    ("save", {"score-C1": "5", "comment-C1": "x" * 4001}, "C1"),
    ("submit", {"score-C1": "5"}, "C2"),  # submit needs every criterion
])
def test_bad_scores_show_the_form_again_with_messages_and_save_nothing(sheet, client, action, values, field):
    client = as_user(client, "expert3")
    client.post(url(sheet), {"action": "save", "score-C7": "4"})
    before = snapshot(sheet)
    response = client.post(url(sheet), {"action": action, **values})
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="error-{field}"' in html and 'data-testid="form-errors"' in html
    assert snapshot(sheet) == before


def test_an_unknown_action_is_400(sheet, client):
    response = as_user(client, "expert3").post(url(sheet), {"action": "publish", **full_scores()})
    assert response.status_code == 400 and snapshot(sheet)[1] == []


def test_submitting_freezes_the_weighted_total_and_completes_the_task(sheet, client):
    client = as_user(client, "expert3")
    values = {f"score-{c.code}": str(c.position % 11) for c in criteria()}
    response = client.post(url(sheet), {"action": "submit", **values})
    assert response.status_code == 302 and response["Location"] == reverse("portal:expert")
    sheet.refresh_from_db()
    expected = sum(Decimal(c.position % 11) * c.weight for c in criteria()) / 10
    assert sheet.state == "submitted" and sheet.total == expected.quantize(Decimal("0.01"))
    assert not human_tasks.open_tasks_for(sheet).exists()
    assert Document.objects.filter(owner_ref=case("A2").ref, kind="score_sheet", key="expert3").exists()
    again = client.post(url(sheet), {"action": "save", **values})
    assert again.status_code == 409
    page = client.get(url(sheet)).content.decode()
    assert 'id="sheet-save"' not in page and "disabled" in page


def test_declaring_a_conflict_needs_a_note_and_recuses_the_sheet(sheet, client):
    client = as_user(client, "expert3")
    before = snapshot(sheet)
    assert client.post(url(sheet), {"action": "conflict", "conflict_note": "  "}).status_code == 400
    assert snapshot(sheet) == before
    response = client.post(url(sheet), {"action": "conflict", "conflict_note": "my cousin runs it"})
    assert response.status_code == 302
    sheet.refresh_from_db()
    assert (sheet.state, sheet.conflict_note) == ("recused", "my cousin runs it")
    assert not human_tasks.open_tasks_for(sheet).exists()
    assert client.get(reverse("portal:case-detail", args=[case("A2").pk])).status_code == 404


def test_another_experts_sheet_is_404_and_other_roles_get_403(sheet, client):
    assert as_user(client, "expert1").get(url(sheet)).status_code == 404
    assert as_user(client, "expert1").post(url(sheet), {"action": "save", "score-C1": "1"}).status_code == 404
    assert snapshot(sheet)[1] == []
    assert as_user(client, "coordinator").get(url(sheet)).status_code == 403
    assert as_user(client, "coordinator").get(reverse("portal:expert")).status_code == 403


def test_the_service_refuses_a_draft_save_by_someone_else(sheet):
    from processes.selection.services import save_draft_scores
    from workflow.exceptions import TransitionPermissionDenied

    with pytest.raises(TransitionPermissionDenied):
        save_draft_scores(sheet=sheet, scores={"C1": (5, "")}, actor=user("expert1"))
    with pytest.raises(ValueError):
        save_draft_scores(sheet=sheet, scores={"C99": (5, "")}, actor=sheet.expert)
    assert snapshot(sheet)[1] == []
