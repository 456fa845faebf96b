"""Task completion refusals speak to people (workflow/tasks.py): a wrong outcome is named by the
transitions' labels, and the loser of a concurrent completion (the task is already done) gets a
409 saying by whom and when, on the portal's inbox and the API; a task the user could never see
stays a 404.
"""

from __future__ import annotations

import pytest
from django.test import Client

from processes.planning.models import Plan
from processes.rounds.models import Case
from workflow import tasks as human_tasks

from .conftest import assert_error, user

pytestmark = pytest.mark.django_db

ACTION = {"measure": "Cluster organisation", "responsible": "Coordinating body", "deadline": "2018-06-30",
          "budget_kzt": "15000000.00", "kpi": "Members", "kpi_target": "45", "kpi_unit": "firms"}


def drafting_task(api):
    """The open task "Draft the development plan" of a fresh plan (a case put in planning)."""
    c = (Case.objects.filter(diagnosis__isnull=True, plan__isnull=True, support_measures__isnull=True)
         .order_by("number").first())
    Case.objects.filter(pk=c.pk).update(state=Case.State.PLANNING)
    created = api("coordinator").post("/api/plans/", {"case": c.pk, "vision": "V", "actions": [ACTION]},
                                      format="json")
    assert created.status_code == 201
    [task] = human_tasks.open_tasks_for(Plan.objects.get(pk=created.json()["id"]))
    return task


def portal(username: str) -> Client:
    client = Client()
    client.force_login(user(username))
    return client


def test_a_wrong_outcome_is_named_by_the_transitions_labels(api):
    task = drafting_task(api)
    body = assert_error(api("coordinator").post(f"/api/tasks/{task.pk}/complete/", {"transition": "approve"},
                                                format="json"), 400, "unknown_transition")
    assert body["message"] == f"task #{task.pk} is completed by “submit for review”, not by “approve”"
    response = portal("coordinator").post(f"/inbox/tasks/{task.pk}/complete/", {"transition": "send_for_signing"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "“submit for review”, not by “send for signing”" in page and "send_for_signing" not in page
    assert human_tasks.is_open(type(task).objects.get(pk=task.pk))


def test_the_loser_of_a_completion_learns_who_completed_the_task_and_when(api):
    task = drafting_task(api)
    assert api("coordinator").post(f"/api/tasks/{task.pk}/complete/", {}, format="json").status_code == 200
    done = type(task).objects.get(pk=task.pk)
    assert done.status == "DONE"
    body = assert_error(api("coordinator").post(f"/api/tasks/{task.pk}/complete/", {}, format="json"), 409,
                        "stale_object")
    assert "was already completed by coordinator at" in body["message"], body
    assert "“submit for review”" in body["message"]
    response = portal("coordinator").post(f"/inbox/tasks/{task.pk}/complete/", {})
    assert response.status_code == 409
    assert "was already completed by coordinator at" in response.content.decode()
    # whoever could never have seen the task still gets a 404, and nothing changed
    assert_error(api("expert1").post(f"/api/tasks/{task.pk}/complete/", {}, format="json"), 404, "not_found")
    assert portal("auditor").post(f"/inbox/tasks/{task.pk}/complete/", {}).status_code == 404
    assert_error(api("coordinator").post("/api/tasks/99999999/complete/", {}, format="json"), 404, "not_found")
    assert type(task).objects.get(pk=task.pk).data == done.data


def test_a_cancelled_task_says_why_it_was_closed(api):
    task = drafting_task(api)
    c = Plan.objects.get(pk=task.process.artifact_object_id).case
    assert api("coordinator").post(f"/api/cases/{c.pk}/transitions/suspend/", {"comment": "audit"},
                                   format="json").status_code == 200
    body = assert_error(api("coordinator").post(f"/api/tasks/{task.pk}/complete/", {}, format="json"), 409,
                        "stale_object")
    assert "was cancelled at" in body["message"] and "its case was suspended" in body["message"]
