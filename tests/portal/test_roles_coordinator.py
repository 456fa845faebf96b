"""The coordinator's work page (``portal:coordinator``) and a round's ranking (``portal:round-ranking``)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from processes.submission import services as submission
from workflow import deadlines
from workflow.models import AuditEntry

from . import roles_support
from .roles_support import COMPLETE, as_user, case, open_round, user

people = roles_support.people  # the module's fixture (demo users)

pytestmark = pytest.mark.django_db
WORK = reverse("portal:coordinator")


def refs(response) -> list[str]:
    return [line["case"].ref for line in response.context["lines"]]


def overdue(number: str, days: int = 3):
    """An open deadline of the case's chain that passed ``days`` days ago."""
    c = case(number)
    return deadlines.open_deadline(chain=c.ref, label="Test deadline", due_at=timezone.now() - dt.timedelta(days=days),
                                   subject=c, role="coordinator", language="en")


def test_cases_overdue_first_then_the_rest(people, client):
    overdue("A4")
    response = as_user(client, "coordinator").get(WORK)
    assert response.status_code == 200
    listed = refs(response)
    assert listed[0] == "TC-2017/A4"
    assert sorted(listed) == sorted(c.ref for c in case("A1").round.cases.all())
    html = response.content.decode()
    row = re.search(r'<tr id="case-%d".*?</tr>' % case("A4").pk, html, re.S).group(0)
    assert 'class="overdue"' in row and 'data-testid="overdue"' in row
    assert 'data-testid="overdue"' not in re.search(r'<tr id="case-%d".*?</tr>' % case("A1").pk, html, re.S).group(0)


def test_a_closed_or_future_deadline_is_not_overdue(people, client):
    late = overdue("A4")
    late.closed_at = timezone.now()
    late.save(update_fields=["closed_at"])
    c = case("A5")
    deadlines.open_deadline(chain=c.ref, label="Later", due_at=timezone.now() + dt.timedelta(days=5), subject=c,
                            role="coordinator", language="en")
    response = as_user(client, "coordinator").get(WORK, {"overdue": "1"})
    assert response.status_code == 200 and refs(response) == []
    everything = refs(as_user(client, "coordinator").get(WORK))
    assert everything[0] == "TC-2017/A5"  # not overdue, but the nearest due date comes first


def test_filters_by_overdue_state_round_and_search(people, client):
    overdue("A7")
    client = as_user(client, "coordinator")
    assert refs(client.get(WORK, {"overdue": "1"})) == ["TC-2017/A7"]
    assert sorted(refs(client.get(WORK, {"state": "not_selected"}))) == [
        "TC-2017/A2", "TC-2017/A3", "TC-2017/A6", "TC-2017/A8"]
    assert refs(client.get(WORK, {"q": "a8"})) == ["TC-2017/A8"]
    name = case("A3").name_ru
    assert refs(client.get(WORK, {"q": name[:12]})) == ["TC-2017/A3"]
    assert len(refs(client.get(WORK, {"round": "TC-2017"}))) == 9


@pytest.mark.parametrize("query", [{"round": "NO-SUCH-ROUND"}, {"state": "sleeping"}, {"q": "x" * 101},
                                   {"selected": "abc"}, {"selected": str(2**63)}, {"selected": "999999"}])
def test_bad_filters_answer_400_with_a_message(people, client, query):
    response = as_user(client, "coordinator").get(WORK, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="work-filter-errors"' in html or 'data-testid="work-problem"' in html


def test_each_case_offers_the_transitions_the_user_may_take(people, client):
    a1 = case("A1")
    html = as_user(client, "coordinator").get(WORK).content.decode()
    assert f'id="case-{a1.pk}-suspend"' in html
    assert reverse("portal:case-transition", args=[a1.pk, "suspend"]) in html
    partner = as_user(client, "partner").get(WORK).content.decode()
    assert f'id="case-{a1.pk}-suspend"' in partner


def test_bulk_offers_only_what_every_selected_case_allows(people, client):
    client = as_user(client, "coordinator")
    both = client.get(WORK, {"selected": [case("A1").pk, case("A4").pk]})
    assert both.status_code == 200
    assert "suspend" in both.context["common"]
    html = both.content.decode()
    assert 'id="bulk-form"' in html and 'value="suspend"' in html
    assert html.count('name="cases"') == 2
    mixed = client.get(WORK, {"selected": [case("A1").pk, case("A2").pk]})  # A2 is not selected: nothing moves it
    assert mixed.status_code == 200 and mixed.context["common"] == []
    assert 'id="bulk-none"' in mixed.content.decode() and 'id="bulk-form"' not in mixed.content.decode()


def test_the_bulk_form_suspends_both_cases(people, client):
    client = as_user(client, "coordinator")
    page = client.get(WORK, {"selected": [case("A1").pk, case("A4").pk]})
    assert page.context["common"]
    response = client.post(reverse("portal:case-bulk"), {"transition": "suspend", "comment": "bulk",
                                                         "cases": [case("A1").pk, case("A4").pk]})
    assert response.status_code == 302
    assert (case("A1").state, case("A4").state) == ("suspended", "suspended")


def test_a_submitted_application_offers_its_completeness_check(people, client):
    rnd = open_round()
    application = submission.file_new_application(round=rnd, applicant=user("applicant-a1"), values=COMPLETE)
    submission.submit_application(application=application, actor=user("applicant-a1"))
    c = application.case
    client = as_user(client, "coordinator")
    html = client.get(WORK, {"round": rnd.code}).content.decode()
    assert f'id="check-{c.pk}"' in html and f'id="check-{c.pk}-submit"' in html
    task = client.get(WORK, {"round": rnd.code}).context["lines"][0]["task"]
    response = client.post(reverse("portal:task-complete", args=[task.pk]), {"transition": "accept"})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.state == "accepted"
    assert application.case.state == "selection"  # the acceptance moves the case on (as run_cycle does)
    html = client.get(WORK, {"round": rnd.code}).content.decode()
    assert f'id="check-{c.pk}"' not in html
    assert f'id="case-{c.pk}-advance_to_selection"' not in html
    assert f'id="assign-{c.pk}"' in html  # the next step: assign the experts


def test_the_work_page_makes_no_query_per_case(people, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(client, "coordinator")
    rnd = open_round()

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(WORK).status_code == 200
        return len(queries)

    def add(n):
        application = submission.file_new_application(round=rnd, applicant=user("applicant-a1"),
                                                      values={**COMPLETE, "name_en": f"Cluster {n}"})
        if n % 2:
            submission.submit_application(application=application, actor=user("applicant-a1"))

    add(1)  # one application awaiting its check: the open tasks are read (once)
    few = count()
    for n in range(2, 14):
        add(n)
    assert count() == few


def test_the_work_page_query_count_is_bounded(people, client, django_assert_max_num_queries):
    client = as_user(client, "coordinator")
    with django_assert_max_num_queries(25):
        response = client.get(WORK)
    assert len(response.context["lines"]) == 9


def test_the_ranking_lists_scores_ranks_pass_mark_and_decisions(people, client):
    response = as_user(client, "auditor").get(reverse("portal:round-ranking", args=["TC-2017"]))
    assert response.status_code == 200
    rows = response.context["rows"]
    ranks = [r["selection"].rank for r in rows]
    assert ranks == sorted(ranks) and ranks[0] == 1
    assert [r["selection"].score for r in rows] == sorted((r["selection"].score for r in rows), reverse=True)
    by_ref = {r["case"].ref: r for r in rows}
    a8 = by_ref["TC-2017/A8"]
    assert a8["selection"].state == "not_selected" and not a8["passes"]
    for number in ("A1", "A4", "A5", "A7"):
        assert by_ref[f"TC-2017/{number}"]["selection"].state == "selected"
        assert by_ref[f"TC-2017/{number}"]["passes"]
    html = response.content.decode()
    assert 'id="pass-mark"' in html
    assert 'data-ref="TC-2017/A8" data-state="not_selected"' in html


def test_the_ranking_of_an_unknown_round_is_404(people, client):
    assert as_user(client, "coordinator").get(reverse("portal:round-ranking", args=["NOPE"])).status_code == 404


def test_the_work_page_links_to_the_rankings(people, client):
    html = as_user(client, "coordinator").get(WORK).content.decode()
    assert reverse("portal:round-ranking", args=["TC-2017"]) in html


@pytest.mark.parametrize(("username", "present", "absent"), [
    ("coordinator", ["nav-coordinator", "nav-dossier-verify"], ["nav-expert", "nav-audit"]),
    ("expert1", ["nav-expert"], ["nav-coordinator", "nav-signatory", "nav-audit"]),
    ("signatory1", ["nav-signatory"], ["nav-coordinator", "nav-expert"]),
    ("auditor", ["nav-audit", "nav-dossier-verify"], ["nav-coordinator", "nav-expert"]),
    ("applicant-a1", [], ["nav-coordinator", "nav-expert", "nav-audit", "nav-signatory"]),
])
def test_the_navigation_shows_each_role_its_pages(people, client, username, present, absent):
    html = as_user(client, username).get(reverse("portal:case-list")).content.decode()
    for link in present:
        assert f'id="{link}"' in html
    for link in absent:
        assert f'id="{link}"' not in html


def test_applicants_get_a_link_to_apply_to_an_open_round(people, client):
    rnd = open_round()
    html = as_user(client, "applicant-a1").get(reverse("portal:case-list")).content.decode()
    assert f'id="nav-apply-{rnd.code}"' in html
    assert reverse("portal:application-new", args=[rnd.code]) in html


def test_a_refused_transition_from_the_page_changes_nothing(people, client):
    entries = AuditEntry.objects.count()
    response = as_user(client, "auditor").post(reverse("portal:case-transition", args=[case("A1").pk, "suspend"]))
    assert response.status_code == 403
    assert case("A1").state == "implementation" and AuditEntry.objects.count() == entries


def accepted(rnd):
    """An application of ``rnd`` filed, submitted and accepted (its case still in submission)."""
    from workflow import tasks as human_tasks

    application = submission.file_new_application(round=rnd, applicant=user("applicant-a1"), values=COMPLETE)
    submission.submit_application(application=application, actor=user("applicant-a1"))
    human_tasks.take(application, "accept", actor=user("coordinator"))
    return application


def test_a_coordinator_assigns_experts_who_then_find_their_sheets(people, client):
    from processes.selection.models import ScoreSheet

    rnd = open_round()
    application = accepted(rnd)
    c = application.case
    client = as_user(client, "coordinator")
    html = client.get(WORK, {"round": rnd.code}).content.decode()
    assert f'id="assign-{c.pk}"' in html and f'value="{user("expert1").pk}"' in html
    response = client.post(reverse("portal:scoring-assign", args=[c.pk]),
                           {"experts": [user("expert1").pk, user("expert2").pk]})
    assert response.status_code == 302
    sheets = ScoreSheet.objects.filter(application=application)
    assert {s.expert.username for s in sheets} == {"expert1", "expert2"} and {s.state for s in sheets} == {"draft"}
    assert f'id="assign-{c.pk}"' not in client.get(WORK, {"round": rnd.code}).content.decode()
    mine = as_user(client, "expert1").get(reverse("portal:expert")).context["sheets"]
    assert application.pk in {s.application_id for s in mine}


@pytest.mark.parametrize("experts", [[], ["abc"], ["expert1"], ["coordinator", "expert1"], ["999999"]])
def test_bad_expert_choices_are_400_and_assign_nobody(people, client, experts):
    rnd = open_round()
    application = accepted(rnd)
    ids = [str(user(e).pk) if e in ("expert1", "coordinator") else e for e in experts]
    response = as_user(client, "coordinator").post(reverse("portal:scoring-assign", args=[application.case.pk]),
                                                   {"experts": ids})
    assert response.status_code == 400
    assert not application.score_sheets.exists()


def test_experts_cannot_be_assigned_before_acceptance(people, client):
    rnd = open_round()
    application = submission.file_new_application(round=rnd, applicant=user("applicant-a1"), values=COMPLETE)
    response = as_user(client, "coordinator").post(reverse("portal:scoring-assign", args=[application.case.pk]),
                                                   {"experts": [user("expert1").pk, user("expert2").pk]})
    assert response.status_code == 409 and not application.score_sheets.exists()
