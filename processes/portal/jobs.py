"""Long operations as background jobs with progress (docs/jobs.md).

A request that would take long (the dossier of a large case, a bulk transition over many
cases) creates a :class:`~processes.portal.models.Job` row owned by the user, queues the
Celery task :func:`run_job` when the transaction commits, and redirects to
``GET /jobs/<id>/`` (``portal:job-status``). That page shows the status and progress and
reloads itself every :data:`REFRESH_SECONDS` seconds (HTTP ``Refresh`` header: no script)
until the job is done, then links its result: ``GET /jobs/<id>/download/``
(``portal:job-download``) for a file, or the page that shows the outcome. With
``Accept: application/json`` the status page answers JSON. Only a job's owner sees it
(404 for anybody else, staff included).

With a broker (``CELERY_BROKER_URL``) the job runs on a worker and the request returns at once.
In the embedded mode Celery is eager: the job runs when the request's transaction commits,
in the same process, and the status page then already shows the outcome.

Kinds:

* ``dossier``: :func:`documents.dossier.build_dossier` into the default storage under
  ``jobs/<id>/``, its sha256 recorded; the download verifies it before sending anything.
  Progress counts the case's documents.
* ``bulk_transition``: one transition on many cases, all or nothing as in the synchronous
  bulk action. First every case is checked (progress 0-50 %, nothing locked), then all are
  moved in one transaction (``workflow.transitions.perform``); a refusal rolls everything back
  and the job fails with the engine's message.

Limits: ``KELISIM_DOSSIER_JOB_BYTES`` (dossiers whose documents' current versions add up to
more bytes are built as jobs; default 20 MiB), ``KELISIM_BULK_JOB_CASES`` (bulk actions over
more cases run as jobs; default 20), ``KELISIM_JOB_KEEP_HOURS`` (a finished job and its file
are removed after that long, when its owner starts another; default 24).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tempfile

from celery import shared_task
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from .models import Job

log = logging.getLogger("kelisim.portal.jobs")

#: Seconds between two automatic reloads of the status page of a running job.
REFRESH_SECONDS = 2
#: Documents between two progress updates of a dossier job.
CHUNK = 50


def setting(name: str, default: int) -> int:
    """An integer setting of the jobs (see the module docstring)."""
    return int(getattr(settings, name, default))


def dossier_job_bytes() -> int:
    """Dossiers over this many bytes of documents are built as jobs (``KELISIM_DOSSIER_JOB_BYTES``)."""
    return setting("KELISIM_DOSSIER_JOB_BYTES", 20 * 1024 * 1024)


def bulk_job_cases() -> int:
    """Bulk transitions over more cases than this run as jobs (``KELISIM_BULK_JOB_CASES``)."""
    return setting("KELISIM_BULK_JOB_CASES", 20)


class JobFailed(Exception):
    """The job cannot be done; ``str()`` is the message its owner sees. Nothing was changed."""


# -- starting ----------------------------------------------------------------------------------

def start_job(*, kind: str, owner, params: dict, message: str = "") -> Job:
    """Create a pending job of ``owner`` and queue :func:`run_job` when the transaction commits.

    Also removes ``owner``'s jobs finished more than ``KELISIM_JOB_KEEP_HOURS`` ago, with
    their files. Returns the new job (eager Celery: re-read it to see the outcome).
    """
    purge_old_jobs(owner=owner)
    with transaction.atomic():
        job = Job.objects.create(kind=kind, owner=owner, params=params, message=message or _("Waiting to start…"))
        job_id = job.pk
        transaction.on_commit(lambda: run_job.delay(job_id))
    return job


def purge_old_jobs(*, owner=None, now: dt.datetime | None = None) -> int:
    """Delete finished jobs (of ``owner``, or everybody's) older than ``KELISIM_JOB_KEEP_HOURS``
    and their result files; return how many rows were deleted. A file that cannot be removed
    is logged and its row kept."""
    now = now or timezone.now()
    old = Job.objects.filter(finished_at__lt=now - dt.timedelta(hours=setting("KELISIM_JOB_KEEP_HOURS", 24)))
    if owner is not None:
        old = old.filter(owner=owner)
    removed = []
    for job in old.only("pk", "result_key"):
        if job.result_key:
            try:
                default_storage.delete(job.result_key)
            except Exception as exc:  # noqa: BLE001 - keep the row; try again next time
                log.warning("could not remove the result %s of job %s: %s", job.result_key, job.pk, exc)
                continue
        removed.append(job.pk)
    return Job.objects.filter(pk__in=removed).delete()[0]


# -- running -----------------------------------------------------------------------------------

@shared_task(acks_late=True, ignore_result=True)
def run_job(job_id: int) -> str:
    """Run job ``job_id`` (Celery task); return its final status. See :func:`execute`."""
    return execute(job_id).status


def report(job: Job, progress: int, message: str) -> None:
    """Record ``progress`` (0..100 %) and ``message`` of a running job at once (outside any
    transaction of the job's work when called between its steps)."""
    progress = max(0, min(100, int(progress)))
    Job.objects.filter(pk=job.pk).update(progress=progress, message=message[:2000])
    job.progress, job.message = progress, message


def execute(job_id: int) -> Job:
    """Claim job ``job_id`` and do its work; return the job as it ends.

    A job that is already running or finished is returned untouched (a redelivered task does
    nothing twice). :class:`JobFailed` and any other error mark it ``failed`` with a message
    (an unexpected error is logged with its traceback and not re-raised). Raises
    ``Job.DoesNotExist`` for an unknown id.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status != Job.Status.PENDING:
            return job
        job.status, job.started_at = Job.Status.RUNNING, timezone.now()
        job.save(update_fields=["status", "started_at"])
    handler = HANDLERS.get(job.kind)
    try:
        if handler is None:
            raise JobFailed(_("Unknown kind of job: %(kind)s.") % {"kind": job.kind})
        handler(job)
    except JobFailed as exc:
        return _finish(job, Job.Status.FAILED, str(exc))
    except Exception as exc:
        log.exception("job %s (%s) failed", job.pk, job.kind)
        return _finish(job, Job.Status.FAILED, _("Unexpected error: %(error)s. Nothing was changed; please tell "
                                                 "the administrator.") % {"error": type(exc).__name__})
    return _finish(job, Job.Status.DONE, job.message)


def _finish(job: Job, status: str, message: str) -> Job:
    job.status, job.message, job.finished_at = status, message, timezone.now()
    if status == Job.Status.DONE:
        job.progress = 100
    job.save(update_fields=["status", "message", "finished_at", "progress", "result_key", "result_name",
                            "result_sha256", "result_size", "result_url"])
    return job


def _owner_may_see_case(job: Job, case_id: int):
    from . import selectors

    case = selectors.visible_cases(user=job.owner).filter(pk=case_id).first()
    if case is None:
        raise JobFailed(_("The case no longer exists or you may no longer see it."))
    return case


def dossier_job(job: Job) -> None:
    """Build the dossier of ``job.params["case"]`` into the default storage (``jobs/<id>/``)."""
    from documents import dossier
    from documents.storage import ChecksumMismatch, StorageError

    from .files import may_download_dossier

    if not may_download_dossier(job.owner):
        raise JobFailed(_("You may no longer download case dossiers."))
    case = _owner_may_see_case(job, job.params.get("case"))
    report(job, 1, _("Collecting the documents of %(case)s…") % {"case": case.ref})

    def progress(done: int, total: int) -> None:
        if total and (done % CHUNK == 0 or done == total):
            report(job, 1 + 89 * done // total, _("Packed %(done)s of %(total)s documents…")
                   % {"done": done, "total": total})

    with tempfile.TemporaryFile() as spool:
        try:
            dossier.build_dossier(case, stream=spool, generated_by=job.owner, progress=progress)
        except ChecksumMismatch as exc:
            raise JobFailed(_("The dossier was not built: %(error)s. The incident was logged; please tell the "
                              "administrator.") % {"error": exc}) from exc
        except StorageError as exc:
            raise JobFailed(_("The dossier was not built: %(error)s. Please tell the administrator.")
                            % {"error": exc}) from exc
        report(job, 92, _("Storing the dossier…"))
        size = spool.tell()
        spool.seek(0)
        digest = hashlib.sha256()
        for chunk in iter(lambda: spool.read(1024 * 1024), b""):
            digest.update(chunk)
        spool.seek(0)
        name = dossier.dossier_filename(case, timezone.localdate())
        try:
            key = default_storage.save(f"jobs/{job.pk}/{name}", File(spool, name=name))
        except Exception as exc:
            raise JobFailed(_("The dossier could not be stored (%(error)s); please try again later.")
                            % {"error": exc}) from exc
    job.result_key, job.result_name, job.result_sha256, job.result_size = key, name, digest.hexdigest(), size
    job.message = _("The dossier of %(case)s is ready.") % {"case": case.ref}


def bulk_transition_job(job: Job) -> None:
    """Take ``job.params["transition"]`` on every case of ``job.params["cases"]``, all or nothing."""
    from processes.rounds.models import Case
    from workflow.exceptions import WorkflowError
    from workflow.transitions import available_transitions, perform

    from . import selectors

    name, ids, comment = job.params["transition"], list(job.params["cases"]), job.params.get("comment", "")
    cases = list(selectors.visible_cases(user=job.owner).filter(pk__in=ids).order_by("pk"))
    if len(cases) != len(ids):
        raise JobFailed(_("Some of the cases no longer exist or you may no longer see them; nothing was changed."))
    total = len(cases)
    for i, case in enumerate(cases, 1):  # checks only: nothing is locked or written
        option = next((o for o in available_transitions(case, job.owner) if o.name == name), None)
        if option is None or not option.allowed:
            reason = option.reason if option is not None else _("%(transition)s does not leave the state %(state)s") % {
                "transition": name, "state": case.state}
            raise JobFailed(_("%(case)s: %(reason)s. Nothing was changed.") % {"case": case.ref, "reason": reason})
        if i % CHUNK == 0 or i == total:
            report(job, 50 * i // total, _("Checked %(done)s of %(total)s cases…") % {"done": i, "total": total})
    report(job, 50, _("Applying %(transition)s to %(total)s cases (all or nothing)…")
           % {"transition": name, "total": total})
    try:
        with transaction.atomic():
            for case in Case.objects.filter(pk__in=ids).order_by("pk"):
                perform(case, name, actor=job.owner, comment=comment)
    except WorkflowError as exc:
        raise JobFailed(_("%(message)s. Nothing was changed.") % {"message": exc.message}) from exc
    job.result_url = reverse("portal:case-list")
    job.message = _("%(transition)s done on %(total)s cases.") % {"transition": name, "total": total}


#: The work of each kind of job.
HANDLERS = {Job.Kind.DOSSIER: dossier_job, Job.Kind.BULK_TRANSITION: bulk_transition_job}


# -- pages -------------------------------------------------------------------------------------

def own_job(request, pk: int) -> Job:
    """Job ``pk`` if it belongs to the requesting user, else 404."""
    job = Job.objects.filter(pk=pk, owner_id=request.user.pk).first()
    if job is None:
        raise Http404(_("No such job of yours."))
    return job


def job_json(job: Job) -> dict:
    """The job as JSON values: ``id, kind, status, progress (0..100), message, finished,
    created_at, started_at, finished_at (ISO 8601, UTC), result_url, download_url, result_name,
    result_size (bytes), result_sha256``."""
    def iso(when):
        return when.astimezone(dt.timezone.utc).isoformat() if when else None

    download = reverse("portal:job-download", args=[job.pk]) if job.status == Job.Status.DONE and job.result_key else None
    return {"id": job.pk, "kind": job.kind, "status": job.status, "progress": job.progress, "message": job.message,
            "finished": job.finished, "created_at": iso(job.created_at), "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at), "result_url": job.result_url or None, "download_url": download,
            "result_name": job.result_name or None, "result_size": job.result_size,
            "result_sha256": job.result_sha256 or None}


def wants_json(request) -> bool:
    """True when the client prefers JSON (``Accept: application/json`` before any HTML type)."""
    accept = request.META.get("HTTP_ACCEPT", "")
    return "application/json" in accept and "text/html" not in accept


@require_safe
@login_required
def job_status(request, pk: int):
    """The status and progress of the user's job ``pk`` (HTML that reloads itself, or JSON)."""
    job = own_job(request, pk)
    if wants_json(request):
        response = JsonResponse(job_json(job))
    else:
        response = render(request, "portal/job_status.html", {
            "job": job, "data": job_json(job), "refresh": REFRESH_SECONDS,
            "tz": getattr(settings, "TIME_ZONE", "Asia/Almaty")})
        if not job.finished:
            response["Refresh"] = str(REFRESH_SECONDS)
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
@login_required
def job_download(request, pk: int):
    """The result file of the user's finished job ``pk``, after its sha256 was verified.

    404 when the job is not the user's, not done, has no file, or the file is gone; 409 when
    the stored bytes no longer match the recorded sha256.
    """
    from urllib.parse import quote

    from django.utils.http import content_disposition_header

    job = own_job(request, pk)
    if job.status != Job.Status.DONE or not job.result_key:
        raise Http404(_("This job has no file to download (yet)."))
    digest = hashlib.sha256()
    try:
        with default_storage.open(job.result_key, "rb") as stored:
            for chunk in iter(lambda: stored.read(1024 * 1024), b""):
                digest.update(chunk)
        if digest.hexdigest() != job.result_sha256:
            logging.getLogger("kelisim.security").error(
                "job %s: stored result %s does not match its sha256", job.pk, job.result_key)
            return render(request, "portal/problem.html", {"title": _("The file was changed"), "message": _(
                "The stored result of this job no longer matches its recorded sha256 checksum, so it is not "
                "served. The incident was logged; please tell the administrator.")}, status=409)
        stored = default_storage.open(job.result_key, "rb")
    except FileNotFoundError as exc:
        raise Http404(_("The result of this job was removed; please start the job again.")) from exc
    response = FileResponse(stored, content_type="application/zip" if job.result_name.endswith(".zip")
                            else "application/octet-stream")
    response["Content-Disposition"] = (f"{content_disposition_header(True, job.result_name)}; "
                                       f"filename*=UTF-8''{quote(job.result_name, safe='')}")
    response["Content-Length"] = str(job.result_size or 0)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-SHA256"] = job.result_sha256
    return response
