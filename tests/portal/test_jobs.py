"""Long operations as jobs: the dossier of a large case and bulk transitions over many cases.

In the embedded mode Celery is eager: a job runs when its transaction commits
(``django_capture_on_commit_callbacks(execute=True)`` stands in for the commit here). With a
broker the request only queues it: :func:`test_with_a_broker_the_request_only_queues_the_job`
sends the task to Celery's in-memory transport and runs it afterwards as a worker would.
"""

from __future__ import annotations

import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings
from django.urls import reverse

from documents.dossier import verify_dossier
from processes.portal import jobs
from processes.portal.models import Job
from processes.rounds.models import Case
from workflow.models import AuditEntry

from .roles_support import case, user  # noqa: E402
from . import roles_support  # noqa: E402

pytestmark = pytest.mark.django_db


users = roles_support.people  # the demo users, rolled back after the module







def login(client, username):
    client.force_login(user(username))
    return client


def job_from(response) -> Job:
    assert response.status_code == 302, response.content[:500]
    prefix = reverse("portal:job-status", args=[0]).rsplit("0/", 1)[0]
    assert response["Location"].startswith(prefix)
    return Job.objects.get(pk=int(response["Location"][len(prefix):].strip("/")))


# -- the dossier -----------------------------------------------------------------------------

@override_settings(KELISIM_DOSSIER_JOB_BYTES=0)
def test_a_large_dossier_is_built_as_a_job_with_progress(users, client, tmp_path, monkeypatch,
                                                        django_capture_on_commit_callbacks):
    a1 = case("A1")
    reported = []
    real_report = jobs.report
    monkeypatch.setattr(jobs, "report", lambda job, progress, message: (reported.append(progress),
                                                                        real_report(job, progress, message)))
    login(client, "auditor")
    url = reverse("portal:case-dossier", args=[a1.pk])
    offer = client.get(url)
    assert offer.status_code == 200 and offer["Content-Type"].startswith("text/html")
    assert f'action="{url}"' in offer.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        job = job_from(client.post(url))
    job.refresh_from_db()
    assert (job.kind, job.status, job.progress, job.owner.username) == ("dossier", "done", 100, "auditor")
    assert reported == sorted(reported) and reported[0] < 50 and len(reported) >= 3
    status = client.get(reverse("portal:job-status", args=[job.pk]))
    assert status.status_code == 200 and "Refresh" not in status
    download_url = reverse("portal:job-download", args=[job.pk])
    assert download_url in status.content.decode()
    data = client.get(reverse("portal:job-status", args=[job.pk]), HTTP_ACCEPT="application/json").json()
    assert data["status"] == "done" and data["progress"] == 100 and data["download_url"] == download_url
    download = client.get(download_url)
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert download["X-Content-SHA256"] == job.result_sha256 and len(body) == job.result_size
    path = tmp_path / job.result_name
    path.write_bytes(body)
    report = verify_dossier(path)
    assert report.ok, report
    with zipfile.ZipFile(path) as archive:
        assert "manifest.json" in archive.namelist()


def test_a_job_is_its_owners_only(users, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start_job(kind=Job.Kind.DOSSIER, owner=user("coordinator"), params={"case": case("A1").pk})
    for other in ("auditor", "admin", "applicant-a1"):
        login(client, other)
        assert client.get(reverse("portal:job-status", args=[job.pk])).status_code == 404
        assert client.get(reverse("portal:job-download", args=[job.pk])).status_code == 404
    login(client, "coordinator")
    assert client.get(reverse("portal:job-download", args=[job.pk])).status_code == 200
    assert client.get(reverse("portal:job-status", args=[987654321])).status_code == 404


def test_a_changed_result_file_is_not_served(users, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start_job(kind=Job.Kind.DOSSIER, owner=user("auditor"), params={"case": case("A4").pk})
    job.refresh_from_db()
    default_storage.delete(job.result_key)
    default_storage.save(job.result_key, ContentFile(b"not the dossier"))
    response = login(client, "auditor").get(reverse("portal:job-download", args=[job.pk]))
    assert response.status_code == 409
    default_storage.delete(job.result_key)
    assert client.get(reverse("portal:job-download", args=[job.pk])).status_code == 404


def test_a_dossier_job_fails_cleanly_when_a_document_was_changed(users, client, django_capture_on_commit_callbacks):
    from documents.models import DocumentVersion

    version = DocumentVersion.objects.filter(document__owner_ref="TC-2017/A4").order_by("pk").first()
    DocumentVersion.objects.filter(pk=version.pk).update(sha256="0" * 64)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start_job(kind=Job.Kind.DOSSIER, owner=user("auditor"), params={"case": case("A4").pk})
    job.refresh_from_db()
    assert job.status == "failed" and "not built" in job.message and not job.result_key
    page = login(client, "auditor").get(reverse("portal:job-status", args=[job.pk]))
    assert page.status_code == 200 and "Nothing was changed" in page.content.decode()
    assert client.get(reverse("portal:job-download", args=[job.pk])).status_code == 404


def test_a_job_whose_owner_lost_the_right_fails(users):
    job = Job.objects.create(kind=Job.Kind.DOSSIER, owner=user("applicant-a1"), params={"case": case("A1").pk})
    assert jobs.execute(job.pk).status == "failed"
    job = Job.objects.create(kind="unknown", owner=user("auditor"), params={})
    assert jobs.execute(job.pk).status == "failed"


def test_a_job_runs_once(users):
    job = Job.objects.create(kind=Job.Kind.DOSSIER, owner=user("auditor"), params={"case": case("A1").pk})
    first = jobs.execute(job.pk)
    assert first.status == "done"
    again = jobs.execute(job.pk)
    assert (again.finished_at, again.result_key) == (first.finished_at, first.result_key)


def test_with_a_broker_the_request_only_queues_the_job(users, client, django_capture_on_commit_callbacks):
    from settings.celery import app

    app.conf.task_always_eager = False
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job = job_from(login(client, "auditor").post(reverse("portal:case-dossier", args=[case("A1").pk])))
    finally:
        app.conf.task_always_eager = True
    job.refresh_from_db()
    assert job.status == "pending" and job.progress == 0
    page = client.get(reverse("portal:job-status", args=[job.pk]))
    assert page["Refresh"] == str(jobs.REFRESH_SECONDS)
    assert 'role="status"' in page.content.decode() and "<progress" in page.content.decode()
    assert jobs.execute(job.pk).status == "done"  # what the worker does
    assert "Refresh" not in client.get(reverse("portal:job-status", args=[job.pk]))


def test_old_finished_jobs_are_purged_with_their_files(users, django_capture_on_commit_callbacks):
    import datetime as dt

    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=True):
        old = jobs.start_job(kind=Job.Kind.DOSSIER, owner=user("auditor"), params={"case": case("A1").pk})
    old.refresh_from_db()
    Job.objects.filter(pk=old.pk).update(finished_at=timezone.now() - dt.timedelta(days=2))
    assert default_storage.exists(old.result_key)
    jobs.start_job(kind=Job.Kind.DOSSIER, owner=user("auditor"), params={"case": case("A1").pk})
    assert not Job.objects.filter(pk=old.pk).exists()
    assert not default_storage.exists(old.result_key)


def test_job_results_are_not_orphans_for_verify_storage(users, django_capture_on_commit_callbacks):
    from documents.storage import verify_storage

    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.start_job(kind=Job.Kind.DOSSIER, owner=user("auditor"), params={"case": case("A1").pk})
    job.refresh_from_db()
    report = verify_storage(prefix="jobs/")
    assert job.result_key not in [p.key for p in report.problems]


# -- bulk transitions ----------------------------------------------------------------------------

@override_settings(KELISIM_BULK_JOB_CASES=1)
def test_a_bulk_transition_over_many_cases_is_a_job(users, client, django_capture_on_commit_callbacks):
    login(client, "coordinator")
    with django_capture_on_commit_callbacks(execute=True):
        job = job_from(client.post(reverse("portal:case-bulk"), {
            "transition": "suspend", "cases": [case("A1").pk, case("A4").pk], "comment": "audit visit"}))
    job.refresh_from_db()
    assert (job.kind, job.status, job.progress) == ("bulk_transition", "done", 100)
    assert job.result_url == reverse("portal:case-list")
    assert [case(n).state for n in ("A1", "A4")] == ["suspended", "suspended"]
    last = AuditEntry.objects.filter(chain="TC-2017/A4", object_type="rounds.case").order_by("-seq").first()
    assert (last.transition, last.actor_username, last.comment) == ("suspend", "coordinator", "audit visit")


@override_settings(KELISIM_BULK_JOB_CASES=1)
@pytest.mark.parametrize("numbers", [["A1", "A2"], ["A2", "A1"]])
def test_a_bulk_job_is_all_or_nothing(users, client, django_capture_on_commit_callbacks, numbers):
    entries = AuditEntry.objects.count()
    login(client, "coordinator")
    with django_capture_on_commit_callbacks(execute=True):
        job = job_from(client.post(reverse("portal:case-bulk"),
                                   {"transition": "suspend", "cases": [case(n).pk for n in numbers]}))
    job.refresh_from_db()
    assert job.status == "failed" and "TC-2017/A2" in job.message and "Nothing was changed" in job.message
    assert [case(n).state for n in ("A1", "A2")] == ["implementation", "not_selected"]
    assert AuditEntry.objects.count() == entries


@override_settings(KELISIM_BULK_JOB_CASES=1)
def test_a_bulk_job_of_a_user_without_the_right_fails_and_changes_nothing(users, client,
                                                                        django_capture_on_commit_callbacks):
    entries = AuditEntry.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        job = job_from(login(client, "auditor").post(reverse("portal:case-bulk"), {
            "transition": "suspend", "cases": [case("A1").pk, case("A4").pk]}))
    job.refresh_from_db()
    assert job.status == "failed" and "requires the role" in job.message
    assert [case(n).state for n in ("A1", "A4")] == ["implementation", "implementation"]
    assert AuditEntry.objects.count() == entries


@override_settings(KELISIM_BULK_JOB_CASES=1)
def test_a_bulk_job_over_unseen_cases_is_404_and_starts_nothing(users, client):
    response = login(client, "applicant-a1").post(reverse("portal:case-bulk"), {
        "transition": "withdraw", "cases": [case("A1").pk, case("A2").pk]})
    assert response.status_code == 404
    assert not Job.objects.exists()


def test_a_race_between_check_and_apply_rolls_everything_back(users, monkeypatch):
    """A case that changes after the checks makes the apply phase fail: nothing is kept."""
    from workflow import transitions

    job = Job.objects.create(kind=Job.Kind.BULK_TRANSITION, owner=user("coordinator"),
                             params={"transition": "suspend", "cases": [case("A1").pk, case("A4").pk]})
    entries = AuditEntry.objects.count()
    real_perform = transitions.perform
    calls = []

    def perform_then_fail(obj, name, **kwargs):
        if isinstance(obj, Case):
            calls.append(obj.ref)
        if isinstance(obj, Case) and len(calls) == 2:
            from workflow.exceptions import StaleObject

            raise StaleObject(f"{obj.ref} changed meanwhile", obj=obj, transition=name, state=obj.state)
        return real_perform(obj, name, **kwargs)

    monkeypatch.setattr(transitions, "perform", perform_then_fail)
    result = jobs.execute(job.pk)
    assert result.status == "failed" and "changed meanwhile" in result.message
    assert [case(n).state for n in ("A1", "A4")] == ["implementation", "implementation"]
    assert AuditEntry.objects.count() == entries
