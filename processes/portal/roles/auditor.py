"""The auditor's pages: history search (``portal:audit``, ``audit/``), the audit chain check
(``portal:audit-verify``, POST ``audit/verify/``) and the check of an uploaded dossier
(``portal:dossier-verify``, ``audit/dossiers/verify/``).

Search (GET): ``case`` (a chain key, e.g. ``TC-2017/A1``, exact), ``actor`` (a username,
exact), ``transition`` (exact), ``date_from`` / ``date_to`` (ISO dates, inclusive, in
Asia/Almaty); newest first, 50 per page (``page``). Each filter is one indexed column
(``chain``; ``actor_username``, ``transition`` and ``created_at`` carry indexes of their own
with the time), and each row links to its case page when the chain is a case. A malformed
date, dates out of order or an over-long value answer 400 with the form's messages.

Chain check (POST, optional ``case``): :func:`workflow.audit.verify_chains` over every chain
or the one named; the page shows OK with the counts, or the first broken entry (chain, seq,
id, reason). An unknown chain is 404.

Dossier check (POST multipart ``file``, optional ``database=1``):
:func:`documents.dossier.verify_dossier` on the uploaded ZIP (and, with ``database``,
:func:`documents.dossier.compare_with_database`); the page lists every problem, or says the
dossier is intact with the counts. The dossier check has its own limit
(``KELISIM_DOSSIER_VERIFY_MAX_BYTES``, default 512 MiB; attachments keep
``KELISIM_UPLOAD_MAX_BYTES``), enforced from the declared length and again while the body
streams in (413 with the dossier's own message); the upload always goes to a temporary file,
never into memory whole. No file is 400; a file that is not a Kelisim dossier ZIP is 400 with
the reason. The uploaded file is deleted after the check.

Auditors (search, chain check) and auditors or coordinators (dossier check) only: 403 for
other roles.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import zoneinfo

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.paginator import Paginator
from django.db.models import F
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from processes.reasons import DATA_KEY
from workflow.audit import verify_chains
from workflow.models import AuditChain, AuditEntry

from .. import files, selectors
from .common import AUDITOR_ROLES, DOSSIER_ROLES, PER_PAGE, problem, require_role

#: The time zone the search dates are read in.
SEARCH_TIMEZONE = "Asia/Almaty"


class AuditSearch(forms.Form):
    """The history search filters; every field optional."""

    case = forms.CharField(required=False, max_length=200, strip=True, label=gettext_lazy("Case or chain"),
                           widget=forms.TextInput(attrs={"placeholder": "TC-2017/A1"}))
    actor = forms.CharField(required=False, max_length=150, strip=True, label=gettext_lazy("Actor (username)"))
    transition = forms.CharField(required=False, max_length=100, strip=True, label=gettext_lazy("Transition"))
    date_from = forms.DateField(required=False, label=gettext_lazy("From"), input_formats=["%Y-%m-%d"],
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label=gettext_lazy("To"), input_formats=["%Y-%m-%d"],
                              widget=forms.DateInput(attrs={"type": "date"}))

    #: Dates outside these years cannot be searched (and would overflow the time-zone conversion).
    YEARS = (1900, 9998)

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        for name in ("date_from", "date_to"):
            value = data.get(name)
            if value and not self.YEARS[0] <= value.year <= self.YEARS[1]:
                self.add_error(name, _("Give a date between the years %(first)s and %(last)s.") % {
                    "first": self.YEARS[0], "last": self.YEARS[1]})
                data.pop(name, None)
        if start and end and start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data


def search_entries(filters: dict):
    """Audit entries matching the cleaned ``filters`` of :class:`AuditSearch`, newest first.

    Dates are whole days in :data:`SEARCH_TIMEZONE` (``date_to`` inclusive). The canonical
    text and the data are not loaded, only the data's coded message (``coded_message``,
    :mod:`processes.reasons`), which the page shows in the reader's language.
    """
    entries = AuditEntry.objects.defer("canonical", "data").annotate(coded_message=F(f"data__{DATA_KEY}"))
    if filters.get("case"):
        entries = entries.filter(chain=filters["case"])
    if filters.get("actor"):
        entries = entries.filter(actor_username=filters["actor"])
    if filters.get("transition"):
        entries = entries.filter(transition=filters["transition"])
    zone = zoneinfo.ZoneInfo(SEARCH_TIMEZONE)
    if filters.get("date_from"):
        entries = entries.filter(created_at__gte=dt.datetime.combine(filters["date_from"], dt.time.min, zone))
    if filters.get("date_to"):
        end = filters["date_to"] + dt.timedelta(days=1)
        entries = entries.filter(created_at__lt=dt.datetime.combine(end, dt.time.min, zone))
    return entries.order_by("-created_at", "-pk")


@require_safe
@login_required
def audit(request):
    """The history search (see the module docstring); 403 for other roles than auditor."""
    require_role(request.user, *AUDITOR_ROLES)
    form = AuditSearch(request.GET or None)
    status = 200
    if form.is_bound and not form.is_valid():
        status, entries = 400, AuditEntry.objects.none()
    else:
        entries = search_entries(form.cleaned_data if form.is_bound else {})
    page = Paginator(entries, PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    cases = selectors.visible_cases_by_ref(user=request.user, refs=[e.chain for e in rows])
    for row in rows:
        row.case = cases.get(row.chain)
    query = request.GET.copy()
    query.pop("page", None)
    from ..rows import audit_rows

    return render(request, "portal/roles/audit.html", {
        "form": form, "page": page, "rows": audit_rows(rows, tz=SEARCH_TIMEZONE), "query": query.urlencode(), "tz": SEARCH_TIMEZONE,
        "is_staff_viewer": True,
    }, status=status)


@require_POST
@login_required
def audit_verify(request):
    """Recompute the audit hash chains (every chain, or the posted ``case``) and show the result."""
    require_role(request.user, *AUDITOR_ROLES)
    case = request.POST.get("case", "").strip()
    if len(case) > 200:
        return problem(request, 400, _("Bad request"), _("A chain name has at most 200 characters."))
    if case and not AuditChain.objects.filter(key=case).exists():
        return problem(request, 404, _("No such chain"), _("There is no audit chain %(chain)s.") % {"chain": case})
    result = verify_chains([case] if case else None)
    return render(request, "portal/roles/audit_verify.html", {"result": result, "case": case,
                                                             "is_staff_viewer": True})


@csrf_exempt  # the CSRF check runs in _dossier_verify, after the upload handler is in place
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def dossier_verify(request):
    """Upload a dossier ZIP and see whether it matches its manifest (see the module docstring)."""
    handler = None
    if request.method == "POST":
        # The dossier's own limit, then straight to a temporary file (never in memory whole,
        # whatever FILE_UPLOAD_MAX_MEMORY_SIZE says), before anything reads the body.
        handler = files.LimitedUploadHandler(files.dossier_verify_limit(), request)
        request.upload_handlers = [handler, TemporaryFileUploadHandler(request)]
    return _dossier_verify(request, handler)


#: The kinds of a dossier problem (``documents.dossier.Report.problems``) for people.
PROBLEM_LABELS = {
    "changed": gettext_lazy("changed"),
    "missing": gettext_lazy("missing"),
    "extra": gettext_lazy("not listed"),
    "damaged": gettext_lazy("damaged"),
    "audit": gettext_lazy("audit trail"),
    "database": gettext_lazy("differs from this installation"),
}


def problem_label(kind: str) -> str:
    """The name of a dossier problem ``kind`` in the active language; ``kind`` when unknown."""
    label = PROBLEM_LABELS.get(kind)
    return str(label) if label is not None else kind


def _moment(value):
    """The manifest's ``generated_at`` (ISO 8601 text) as an aware datetime, shown in local
    time by the page; the text itself when it is not one (a foreign or damaged manifest)."""
    if not isinstance(value, str):
        return value
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment if moment.tzinfo is not None else value


def _spooled_path(upload) -> tuple[str, bool]:
    """A file path holding the upload's bytes: the temporary file Django wrote, or a copy."""
    path = getattr(upload, "temporary_file_path", None)
    if path is not None:
        return path(), False
    with tempfile.NamedTemporaryFile(suffix=".zip", delete=False) as copy:
        upload.seek(0)
        shutil.copyfileobj(upload, copy)
    return copy.name, True


@csrf_protect
def _dossier_verify(request, handler):
    from documents import dossier

    require_role(request.user, *DOSSIER_ROLES)
    context = {"report": None, "problems": [], "name": "", "database": True, "limit": files.dossier_verify_limit(),
               "is_staff_viewer": selectors.is_staff_viewer(user=request.user)}
    if request.method != "POST":
        return render(request, "portal/roles/dossier_verify.html", context)
    upload = request.FILES.get("file")  # parses the body through the handlers
    if handler is not None and handler.exceeded:
        return files.dossier_too_large(request)
    if upload is None:
        return problem(request, 400, _("No file"), _("Choose the dossier ZIP to check (form field “file”)."))
    database = request.POST.get("database") == "1"
    name = os.path.basename(upload.name or "dossier.zip")
    path, remove = _spooled_path(upload)
    try:
        try:
            report = dossier.verify_dossier(path)
        except dossier.DossierError as exc:
            message = str(exc).replace(path, name)
            return problem(request, 400, _("Not a Kelisim dossier"), _(
                "“%(name)s” cannot be checked: %(error)s") % {"name": name, "error": message})
        found = list(report.problems)
        if database:
            found += dossier.compare_with_database(report)
    finally:
        upload.close()
        if remove:
            os.unlink(path)
    context.update(report=report, problems=found, name=name, database=database,
                   rows=[{"kind": kind, "label": problem_label(kind), "path": where, "detail": detail}
                         for kind, where, detail in found],
                   generated_at=_moment(report.manifest.get("generated_at")),
                   audit=report.manifest.get("audit") or {}, case=(report.manifest.get("case") or {}))
    return render(request, "portal/roles/dossier_verify.html", context)
