"""Portal endpoints for files: attachment uploads, the case dossier, and request size limits.

* ``POST /cases/<pk>/attachments/`` (multipart field ``file``): the case's applicant (its own
  case only) and coordinators attach a PDF, PNG, JPEG, .docx or .xlsx file
  (:mod:`documents.uploads` decides the type by content and refuses macros and zip bombs).
  The size limit (``KELISIM_UPLOAD_MAX_BYTES``) is enforced while the body streams in, so a
  too-large upload is answered 413 without being stored.
* ``GET /cases/<pk>/dossier/``: auditors and coordinators download the case dossier
  (:mod:`documents.dossier`), a ZIP checked later by ``manage.py verify_dossier``. A case
  whose documents add up to more than ``KELISIM_DOSSIER_JOB_BYTES`` gets a page offering to
  build it in the background; ``POST`` to the same URL starts that job (any case size) and
  redirects to its progress page (:mod:`.jobs`).
* :class:`RequestSizeLimitMiddleware`: any request whose declared body is over the limit
  (``DATA_UPLOAD_MAX_MEMORY_SIZE`` for forms and JSON, the upload limit for multipart bodies)
  gets a 413 page with a message before anything reads it; :func:`bad_request` (``handler400``)
  turns Django's own ``RequestDataTooBig`` and ``TooManyFieldsSent`` into such a page too.

Who may do what: see :func:`may_attach` and :func:`may_download_dossier`. A case the user may
not see is 404 (``selectors.visible_cases``), as everywhere in the portal.
"""

from __future__ import annotations

import tempfile
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from documents import uploads
from documents.storage import StorageError
from processes.rounds.models import Case
from workflow import permissions

from . import selectors

#: Multipart framing allowed on top of the file itself (boundaries, part headers, the CSRF
#: token) before a declared ``Content-Length`` alone is enough to refuse (bytes).
MULTIPART_SLACK = 64 * 1024
#: Dossiers up to this size are built in memory, larger ones in a temporary file (bytes).
DOSSIER_SPOOL_BYTES = 16 * 1024 * 1024


def _problem(request, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "portal/problem.html", {"title": title, "message": message}, status=status)


def mib(size: int) -> str:
    """A size limit as people read it, always in MiB (mebibytes, 1,048,576 bytes): ``25 MiB``;
    a size that is not a whole number of MiB with one decimal (two below 1 MiB, more for tiny
    test limits), rounded, in the active language's format (``0,1 MiB`` in kk and ru). Every
    limit shown on a page or in an API message uses this."""
    from django.utils.formats import number_format

    whole, rest = divmod(size, 1024 * 1024)
    if not rest:
        return f"{whole} MiB"
    value = size / (1024 * 1024)
    decimals = 1 if value >= 1 else 2
    while round(value, decimals) == 0 and decimals < 6:
        decimals += 1
    text = number_format(round(value, decimals), decimal_pos=decimals)
    if value < 1:  # 0.10 -> 0.1
        text = text.rstrip("0")
    return f"{text} MiB"


_mib = mib


def upload_limit() -> int:
    """The largest accepted upload in bytes (``KELISIM_UPLOAD_MAX_BYTES``, default 25 MiB)."""
    return uploads.setting("KELISIM_UPLOAD_MAX_BYTES")


def dossier_verify_limit() -> int:
    """The largest dossier ZIP the dossier check accepts, in bytes
    (``KELISIM_DOSSIER_VERIFY_MAX_BYTES``, default 512 MiB); uploads of attachments keep
    :func:`upload_limit`."""
    return int(getattr(settings, "KELISIM_DOSSIER_VERIFY_MAX_BYTES", 512 * 1024 * 1024))


def _is_dossier_check(request) -> bool:
    from django.urls import reverse

    return request.path == reverse("portal:dossier-verify")


def dossier_too_large(request, declared: int | None = None) -> HttpResponse:
    """413 for a dossier over :func:`dossier_verify_limit`: its own message (nothing kept)."""
    message = _("The dossier is larger than the %(limit)s a dossier check accepts; nothing was kept. A larger "
                "dossier can be checked on the server with “manage.py verify_dossier”, or the administrator "
                "may raise KELISIM_DOSSIER_VERIFY_MAX_BYTES.") % {"limit": mib(dossier_verify_limit())}
    if declared:
        message += " " + _("(%(size)s bytes were sent.)") % {"size": f"{declared:,}"}
    return _problem(request, 413, _("Dossier too large"), message)


def _too_large(request, declared: int | None = None, *, upload: bool) -> HttpResponse:
    if upload and _is_dossier_check(request):
        return dossier_too_large(request, declared)
    if upload:
        limit = upload_limit()
        message = _("The file is larger than the %(limit)s accepted; nothing was stored. Please send a "
                    "smaller file (e.g. a PDF scanned at a lower resolution).") % {"limit": _mib(limit)}
    else:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = _("The request body is larger than the %(limit)s accepted for a form or JSON request; "
                    "nothing was done.") % {"limit": _mib(limit)}
    if declared:
        message += " " + _("(%(size)s bytes were sent.)") % {"size": number_format(declared, force_grouping=True)}
    return _problem(request, 413, _("Too large"), message)


class RequestSizeLimitMiddleware:
    """Answer 413 with a message to a request whose ``Content-Length`` is over the limit.

    ``multipart/form-data`` bodies may be up to ``KELISIM_UPLOAD_MAX_BYTES`` plus
    :data:`MULTIPART_SLACK`; any other body (forms, JSON) up to
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``. The body is not read. Installed last in ``MIDDLEWARE`` so
    the page knows the user.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared:
            multipart = request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/form-data")
            files_limit = dossier_verify_limit() if multipart and _is_dossier_check(request) else upload_limit()
            limit = files_limit + MULTIPART_SLACK if multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit is not None and declared > limit:
                return _too_large(request, declared, upload=multipart)
        return self.get_response(request)


#: Methods whose body may change something; a body of theirs without a length is read here.
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: Bytes read at a time from an unsized (chunked) body.
CHUNK_BYTES = 64 * 1024


def body_limit(request) -> int | None:
    """The largest body accepted for ``request`` in bytes, as :class:`RequestSizeLimitMiddleware`
    judges a declared one: the upload limit (the dossier check's own for its page) plus
    :data:`MULTIPART_SLACK` for ``multipart/form-data``, else ``DATA_UPLOAD_MAX_MEMORY_SIZE``
    (``None``: no limit)."""
    if request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/form-data"):
        files_limit = dossier_verify_limit() if _is_dossier_check(request) else upload_limit()
        return files_limit + MULTIPART_SLACK
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _declared_length(request) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _length_required(request, *, api: bool) -> HttpResponse:
    message = _("The request body has no length (Content-Length) and this server cannot read it "
                "without one; nothing was done. Please send it with a Content-Length header.")
    if api:
        from django.http import JsonResponse

        from api.errors import body

        return JsonResponse(body("length_required", message), status=411)
    return _problem(request, 411, _("Length required"), message)


class UnsizedBodyMiddleware:
    """Read a request body sent without ``Content-Length`` (``Transfer-Encoding: chunked``)
    instead of letting Django treat it as empty.

    Django reads ``CONTENT_LENGTH`` bytes of a body, so a chunked ``POST /api/cases/1/
    transitions/refuse/`` arrived as ``{}`` and the transition ran without its reason. For a
    ``POST``/``PUT``/``PATCH``/``DELETE`` whose ``Transfer-Encoding`` is chunked and whose length
    is not declared:

    * when the server marks the input as terminated (``wsgi.input_terminated``: gunicorn does),
      the body is read up to :func:`body_limit` (into memory, or a temporary file past 1 MiB)
      and handed to Django with its real ``Content-Length``; a longer body is answered 413
      (page, or JSON under ``/api/``) and the rest is not read;
    * otherwise (e.g. ``runserver``, where reading would wait for the client to close) it is
      answered **411 Length Required** with a message.

    Installed before the size limits (``api.errors.ApiRequestSizeLimitMiddleware``,
    :class:`RequestSizeLimitMiddleware`).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        unsized = (request.method in BODY_METHODS and _declared_length(request) is None
                   and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower())
        if unsized:
            refused = self._read(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _read(self, request) -> HttpResponse | None:
        from io import BytesIO

        api = request.path.startswith("/api/")
        stream = request.META.get("wsgi.input")
        if stream is None or not request.META.get("wsgi.input_terminated"):
            return _length_required(request, api=api)
        limit = body_limit(request)
        spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
        size = 0
        while True:
            want = CHUNK_BYTES if limit is None else min(CHUNK_BYTES, limit + 1 - size)
            chunk = stream.read(want) if want > 0 else b""
            if not chunk:
                break
            size += len(chunk)
            spool.write(chunk)
            if limit is not None and size > limit:
                spool.close()
                multipart = request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/form-data")
                if api:
                    from django.http import JsonResponse

                    from api.errors import body, too_large_message

                    return JsonResponse(body("too_large", too_large_message(upload=multipart),
                                             {"limit_bytes": limit}), status=413)
                return _too_large(request, upload=multipart)
        spool.seek(0)
        request.META["CONTENT_LENGTH"] = str(size)
        # What WSGIRequest set up from the environ, now with the body read and its length known.
        request._stream = spool if size > 1024 * 1024 else BytesIO(spool.read())
        request._read_started = False
        return None


def bad_request(request, exception=None):
    """``handler400``: a problem page with a message; 413 when the body was too large."""
    if isinstance(exception, RequestDataTooBig):
        return _too_large(request, upload=False)
    if isinstance(exception, TooManyFieldsSent):
        return _problem(request, 400, _("Bad request"), _("The form sent too many fields; nothing was done."))
    return _problem(request, 400, _("Bad request"), _("The request could not be understood; nothing was done."))


class LimitedUploadHandler(FileUploadHandler):
    """Stops a multipart upload as soon as its files exceed ``limit`` bytes.

    Installed first on the upload view's request; Django's own handlers (memory or temporary
    file) then see no more data and their partial file is closed and removed. ``exceeded``
    tells the view to answer 413.
    """

    def __init__(self, limit: int, request=None):
        super().__init__(request)
        self.limit, self.received, self.exceeded = limit, 0, False

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None


# -- who may ---------------------------------------------------------------------------------

def may_attach(user, case: Case) -> bool:
    """True when ``user`` may attach files to ``case``: its applicant, or a coordinator
    (superusers hold every role)."""
    if user is None or not user.is_authenticated:
        return False
    return case.applicant_id == user.pk or permissions.has_role(user, permissions.COORDINATOR)


#: Roles that may download a case dossier (superusers hold every role).
DOSSIER_ROLES = (permissions.AUDITOR, permissions.COORDINATOR)


def may_download_dossier(user) -> bool:
    """True for auditors and coordinators (:data:`DOSSIER_ROLES`)."""
    return bool(user is not None and user.is_authenticated and permissions.has_role(user, *DOSSIER_ROLES))


# -- upload ----------------------------------------------------------------------------------

@csrf_exempt  # the CSRF check runs in _attachment_upload, after the upload handler is in place
@require_POST
@login_required
def attachment_upload(request, pk: int):
    """Attach the posted ``file`` to case ``pk``; redirect to the case with a message.

    404 for a case the user may not see, 403 for one it may not attach to, 413 for a file
    over the limit (stopped while streaming, nothing stored), 400 for a missing or empty
    file, 415 for a type not accepted or a macro-enabled Office file, 400 for a suspicious
    archive. Nothing is stored unless everything succeeds.
    """
    handler = LimitedUploadHandler(upload_limit(), request)
    request.upload_handlers.insert(0, handler)
    return _attachment_upload(request, pk, handler)


@csrf_protect
def _attachment_upload(request, pk: int, handler: LimitedUploadHandler):
    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    if not may_attach(request.user, case):
        raise PermissionDenied
    upload = request.FILES.get("file")  # parses the body through the handlers
    if handler.exceeded:
        return _too_large(request, upload=True)
    if upload is None:
        return _problem(request, 400, _("No file"), _("Choose a file to attach (form field “file”)."))
    try:
        version = uploads.store_upload(owner_ref=case.ref, stage=case.stage, language=case.language,
                                       file=upload, name=upload.name, actor=request.user)
    except uploads.UploadRejected as exc:
        return _problem(request, exc.status, _("The file was refused"), exc.message)
    except StorageError as exc:
        return _problem(request, 503, _("The file could not be stored"), _(
            "The document storage cannot be written just now (%(error)s); nothing was stored. Please "
            "try again later or tell the administrator.") % {"error": exc})
    finally:
        upload.close()
    messages.success(request, _("“%(name)s” is attached to %(case)s (sha256 %(sha)s…).") % {
        "name": version.original_name, "case": case.ref, "sha": version.sha256[:12]})
    return redirect("portal:case-detail", pk=case.pk)


# -- dossier ---------------------------------------------------------------------------------

def dossier_bytes(case: Case) -> tuple[int, int]:
    """``(documents, bytes)`` of ``case``'s dossier: its documents and the size of their
    current versions (one query)."""
    from django.db.models import Count, OuterRef, Subquery, Sum

    from documents.models import DocumentVersion

    latest = (DocumentVersion.objects.filter(document_id=OuterRef("document_id")).order_by("-number")
              .values("number")[:1])
    row = (DocumentVersion.objects.filter(document__owner_ref=case.ref, number=Subquery(latest))
           .aggregate(documents=Count("pk"), size=Sum("size")))
    return row["documents"] or 0, row["size"] or 0


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def case_dossier(request, pk: int):
    """The dossier of case ``pk`` as a ZIP download (auditors and coordinators; 403 for others).

    409 when a stored document no longer matches its recorded sha256 (the dossier is not
    built), 404 when a stored object is missing. A case over ``KELISIM_DOSSIER_JOB_BYTES``
    gets a page (200) with a button that POSTs here; a POST starts a dossier job and
    redirects to its progress page (``portal:job-status``).
    """
    from documents import dossier
    from documents.storage import ChecksumMismatch

    from . import jobs
    from .models import Job

    if not may_download_dossier(request.user):
        raise PermissionDenied
    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    if request.method == "POST":
        job = jobs.start_job(kind=Job.Kind.DOSSIER, owner=request.user, params={"case": case.pk},
                             message=_("Waiting to build the dossier of %(case)s…") % {"case": case.ref})
        return redirect("portal:job-status", pk=job.pk)
    documents, size = dossier_bytes(case)
    if size > jobs.dossier_job_bytes():
        return render(request, "portal/dossier_prepare.html", {
            "case": case, "documents": documents, "size": size, "limit": jobs.dossier_job_bytes()})
    spool = tempfile.SpooledTemporaryFile(max_size=DOSSIER_SPOOL_BYTES)
    try:
        dossier.build_dossier(case, stream=spool, generated_by=request.user)
    except ChecksumMismatch as exc:
        spool.close()
        return _problem(request, 409, _("A document was changed"), _(
            "The dossier was not built: %(error)s. The incident was logged; please tell the "
            "administrator.") % {"error": exc})
    except StorageError as exc:
        spool.close()
        return _problem(request, 404, _("A file is missing"), _(
            "The dossier was not built: %(error)s. Please tell the administrator.") % {"error": exc})
    size = spool.tell()
    spool.seek(0)
    name = dossier.dossier_filename(case, timezone.localdate())
    response = FileResponse(spool, content_type="application/zip")
    response["Content-Disposition"] = (f"{content_disposition_header(True, name)}; "
                                       f"filename*=UTF-8''{quote(name, safe='')}")
    response["Content-Length"] = str(size)
    response["Cache-Control"] = "private, no-store"
    return response
