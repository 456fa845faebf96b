"""Portal endpoints for PDF renditions of document versions (docs/pdf.md).

* ``POST /documents/versions/<pk>/pdf/``: a coordinator (operator or partner; superusers hold
  every role) asks for the PDF of a ``.docx`` version it may see. The conversion runs as the
  Celery task ``documents.jobs.convert_to_pdf`` on a worker, queued when the request commits
  (inline at the commit in embedded mode); the answer is a redirect to the rendition's
  progress page. The ``.docx`` is never changed.
* ``GET /documents/renditions/<pk>/``: the progress page. It shows the rendition's status
  (queued, running, done, failed), the reason of a failure with a button to try again, and the
  download link once done; while queued or running it reloads itself every
  :data:`REFRESH_SECONDS` seconds (HTTP ``Refresh`` header, as the jobs' pages: no script,
  which the Content-Security-Policy forbids inline anyway). It only reads the row: it never
  waits for the conversion. Whoever may see the source version may see it.
* ``GET /documents/renditions/<pk>/download/``: the PDF, after its sha256 was verified, for
  anybody who may download its source version (``selectors.visible_version``).

A version (or rendition) the user may not see is 404, as everywhere in the portal; a
non-coordinator is 403; a version that is not a Word file is 400.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from documents import pdf
from documents.models import DocumentVersion, Rendition
from documents.storage import ChecksumMismatch, StorageError, read_verified
from processes.rounds.models import Case, Round
from workflow import permissions

from . import selectors

#: Roles that may ask for a PDF (the superuser holds every role).
PDF_REQUESTERS = (permissions.COORDINATOR, permissions.PARTNER_COORDINATOR)
#: Seconds between two automatic reloads of the progress page of a queued or running PDF.
REFRESH_SECONDS = 2


def may_request_pdf(user) -> bool:
    """True for coordinators and partner coordinators (:data:`PDF_REQUESTERS`)."""
    return bool(user is not None and user.is_authenticated and permissions.has_role(user, *PDF_REQUESTERS))


def _problem(request, status: int, title: str, message: str) -> HttpResponse:
    return render(request, "portal/problem.html", {"title": title, "message": message}, status=status)


def _owner_page(version: DocumentVersion) -> str:
    """The page that lists ``version``: its case's, else its round's, else the case list."""
    owner_ref = version.document.owner_ref
    case = Case.objects.filter(ref=owner_ref).only("pk").first()
    if case is not None:
        return reverse("portal:case-detail", args=[case.pk])
    if Round.objects.filter(code=owner_ref).exists():
        return reverse("portal:round-detail", args=[owner_ref])
    return reverse("portal:case-list")


@require_POST
@login_required
def pdf_request(request, pk: int):
    """Ask for the PDF of version ``pk``; redirect to its progress page (:func:`rendition_status`).

    404 for a version the user may not see, 403 for a user who is not a coordinator, 400 for
    a version that is not a Word ``.docx`` file. A failed conversion is shown on the progress
    page with its reason (the ``.docx`` is unchanged), not as an error status.
    """
    version = selectors.visible_version(user=request.user, pk=pk)
    if version is None:
        raise Http404(_("No such document version."))
    if not may_request_pdf(request.user):
        raise PermissionDenied(_("Only coordinators may ask for a PDF."))
    try:
        rendition = pdf.request_pdf(version=version, user=request.user)
    except pdf.NotConvertible:
        return _problem(request, 400, _("Not a Word document"), _(
            "Version %(number)s of %(document)s is not a Word .docx file, so it cannot be converted "
            "to PDF.") % {"number": version.number, "document": version.document.title})
    return redirect(reverse("portal:rendition-status", args=[rendition.pk]))


#: What each status of a rendition means for the reader (the page's headline).
STATUS_LABELS = {
    Rendition.Status.PENDING: gettext_lazy("queued"),
    Rendition.Status.RUNNING: gettext_lazy("running"),
    Rendition.Status.DONE: gettext_lazy("done"),
    Rendition.Status.FAILED: gettext_lazy("failed"),
}


@require_safe
@login_required
def rendition_status(request, pk: int):
    """The progress page of the PDF rendition ``pk`` (see the module docstring).

    404 when the rendition is unknown or its source version is not one the user may see.
    Answers at once from the row; while the rendition is queued or running the page carries
    ``Refresh: REFRESH_SECONDS``.
    """
    rendition = Rendition.objects.select_related("source__document").filter(pk=pk).first()
    if rendition is None or selectors.visible_version(user=request.user, pk=rendition.source_id) is None:
        raise Http404(_("No such PDF."))
    version = rendition.source
    finished = rendition.status in (Rendition.Status.DONE, Rendition.Status.FAILED)
    response = render(request, "portal/rendition_status.html", {
        "rendition": rendition, "version": version, "status_label": STATUS_LABELS.get(rendition.status,
                                                                                      rendition.status),
        "finished": finished, "refresh": REFRESH_SECONDS, "back_url": _owner_page(version),
        "may_retry": rendition.status == Rendition.Status.FAILED and may_request_pdf(request.user),
        "tz": settings.TIME_ZONE,
    })
    if not finished:
        response["Refresh"] = str(REFRESH_SECONDS)
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
@login_required
def rendition_download(request, pk: int):
    """The PDF of rendition ``pk`` after its sha256 was verified.

    404 when the rendition is unknown, not done, or of a version the user may not download,
    or when its stored object is missing; 409 when the stored bytes no longer match.
    """
    rendition = Rendition.objects.filter(pk=pk, status=Rendition.Status.DONE).first()
    if rendition is None or selectors.visible_version(user=request.user, pk=rendition.source_id) is None:
        raise Http404(_("No such PDF."))
    try:
        content = read_verified(rendition)
    except ChecksumMismatch:
        return _problem(request, 409, _("The PDF was changed"), _(
            "The stored PDF of %(version)s no longer matches its recorded sha256 checksum, so it is not "
            "served. The incident was logged; please tell the administrator.") % {"version": rendition.source})
    except StorageError:
        return _problem(request, 404, _("The file is missing"), _(
            "The stored PDF of %(version)s cannot be found in the document storage. Please tell the "
            "administrator.") % {"version": rendition.source})
    response = HttpResponse(content, content_type=rendition.content_type)
    response["Content-Disposition"] = content_disposition_header(True, rendition.file_name)
    response["Content-Length"] = str(len(content))
    response["Cache-Control"] = "private, no-store"
    response["X-Content-SHA256"] = rendition.sha256
    return response
