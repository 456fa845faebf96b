"""The portal inbox: a user's open tasks, claim / unassign / complete over HTTP."""

import pytest
from django.test import Client
from django.urls import reverse
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.rounds.actors import ensure_user
from processes.rounds.importer import import_round
from processes.selection.models import ScoreSheet
from processes.selection.services import open_scoring
from processes.submission.services import check_completeness, submit_application
from workflow import tasks
from workflow.transitions import perform

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(sample_round):
    return {
        "coordinator": ensure_user("coordinator", "coordinator"),
        "coordinator2": ensure_user("coordinator-2", "coordinator"),
        "expert1": ensure_user("expert1", "expert"),
        "expert2": ensure_user("expert2", "expert"),
    }


@pytest.fixture
def work(round_file, people):
    """Round TC-P: A1 accepted with two scoring tasks, A2 and A3 waiting for their completeness check."""
    coordinator = people["coordinator"]
    rnd = import_round(round_file(lambda doc: doc["round"].update(code="TC-P"))).round
    perform(rnd, "open_applications", actor=coordinator)
    a1, a2, a3 = (rnd.applications.get(ref=ref) for ref in ("A1", "A2", "A3"))
    for application in (a1, a2, a3):
        submit_application(application=application, actor=coordinator)
    check_completeness(application=a1, actor=coordinator)
    open_scoring(application=a1, experts=[people["expert1"], people["expert2"]])
    sheet = {e: ScoreSheet.objects.get(application=a1, expert=people[e]) for e in ("expert1", "expert2")}
    return {
        "check_a2": next(iter(tasks.open_tasks_for(a2))),
        "check_a3": next(iter(tasks.open_tasks_for(a3))),
        "score_1": next(iter(tasks.open_tasks_for(sheet["expert1"]))),
        "score_2": next(iter(tasks.open_tasks_for(sheet["expert2"]))),
        "a2": a2,
    }


def login(client, user):
    client.force_login(user)
    return client


def url(name, task):
    return reverse(f"portal:{name}", args=[task.pk])


def test_anonymous_users_are_sent_to_the_login_page(client, work):
    response = client.get(reverse("portal:inbox"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    response = client.post(url("task-claim", work["check_a2"]))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert Task.objects.get(pk=work["check_a2"].pk).status == STATUS.NEW


def test_the_coordinator_inbox_lists_the_queued_checks(client, people, work):
    response = login(client, people["coordinator"]).get(reverse("portal:inbox"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/inbox/"' in html  # the nav link
    for task in (work["check_a2"], work["check_a3"]):
        assert f'id="task-{task.pk}"' in html and url("task-claim", task) in html
    assert "TC-P/A2" in html and "Check completeness and eligibility" in html and "queue: coordinator" in html
    assert reverse("portal:case-detail", args=[work["a2"].case.pk]) in html
    assert f'id="task-{work["score_1"].pk}"' not in html  # the experts' tasks are not the coordinator's


def test_an_expert_inbox_lists_only_their_scoring_task(client, people, work):
    html = login(client, people["expert1"]).get(reverse("portal:inbox")).content.decode()
    assert f'id="task-{work["score_1"].pk}"' in html and "Score the application" in html
    assert f'id="task-{work["score_2"].pk}"' not in html
    assert f'id="task-{work["check_a2"].pk}"' not in html


def test_claim_and_unassign_by_post(client, people, work):
    task = work["check_a2"]
    login(client, people["coordinator"])
    response = client.post(url("task-claim", task))
    assert response.status_code == 302 and response["Location"] == reverse("portal:inbox")
    task.refresh_from_db()
    assert (task.status, task.owner) == (STATUS.ASSIGNED, people["coordinator"])
    html = client.get(reverse("portal:inbox")).content.decode()
    assert "You took the task" in html and url("task-unassign", task) in html
    response = client.post(url("task-unassign", task))
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.owner) == (STATUS.NEW, None)
    assert client.get(url("task-claim", task)).status_code == 405  # POST only


def test_claiming_a_task_someone_else_holds_answers_409(client, people, work):
    task = work["check_a2"]
    tasks.claim(task, people["coordinator"])
    response = login(client, people["coordinator2"]).post(url("task-claim", task))
    assert response.status_code == 409
    assert "already held by coordinator" in response.content.decode()
    assert Task.objects.get(pk=task.pk).owner == people["coordinator"]


def test_another_users_task_is_not_found_or_forbidden(client, people, work):
    login(client, people["expert1"])
    for name in ("task-claim", "task-unassign", "task-complete"):
        assert client.post(url(name, work["score_2"])).status_code == 404
        assert client.post(url(name, work["check_a2"])).status_code == 404
    # A coordinator sees every task but may not claim an expert's queued task.
    tasks.unassign(work["score_1"], by=people["coordinator"])
    response = login(client, people["coordinator"]).post(url("task-claim", work["score_1"]))
    assert response.status_code == 403 and "requires the role expert" in response.content.decode()
    assert Task.objects.get(pk=work["score_1"].pk).status == STATUS.NEW
    # The holder may return their own task to the queue.
    response = login(client, people["expert2"]).post(url("task-unassign", work["score_2"]))
    assert response.status_code == 302
    assert Task.objects.get(pk=work["score_2"].pk).status == STATUS.NEW


def test_complete_by_post_takes_the_chosen_transition(client, people, work):
    login(client, people["coordinator"])
    refused = client.post(url("task-complete", work["check_a2"]), {"transition": "refuse"})
    assert refused.status_code == 400 and "a refusal needs data.reason" in refused.content.decode()
    assert Task.objects.get(pk=work["check_a2"].pk).status == STATUS.NEW
    response = client.post(url("task-complete", work["check_a2"]),
                           {"transition": "return_for_revision", "comment": "Add the letter."})
    assert response.status_code == 302
    work["a2"].refresh_from_db()
    assert work["a2"].state == "returned_for_revision"
    assert Task.objects.get(pk=work["check_a2"].pk).status == STATUS.DONE
    again = client.post(url("task-complete", work["check_a2"]))
    # no longer open: a conflict saying by whom and when (h6; a task one never saw stays a 404)
    assert again.status_code == 409 and "was already completed by coordinator at" in again.content.decode()


def test_the_posts_need_a_csrf_token(people, work):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["coordinator"])
    assert client.post(url("task-claim", work["check_a2"])).status_code == 403
    assert Task.objects.get(pk=work["check_a2"].pk).status == STATUS.NEW


def test_the_inbox_page_makes_no_query_per_task(client, people, work):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(client, people["coordinator"])

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("portal:inbox")).status_code == 200
        return len(queries)

    few = count()
    rnd = work["a2"].round
    for application in rnd.applications.filter(state="draft"):
        submit_application(application=application, actor=people["coordinator"])
    assert len(list(tasks.inbox(people["coordinator"]))) > 2
    assert count() == few
