"""The applicant's pages: file a new application (``portal:application-new``,
``rounds/<code>/apply/``) and edit a draft or answer a request for revision
(``portal:application-edit``, ``cases/<pk>/application/``).

Filing (applicants; 403 for other roles, 404 for an unknown round, 409 when the round is not
open) creates the case and its draft application through
:func:`processes.submission.services.file_new_application` and leads to the case page, where
files are attached with the existing upload form (``portal:case-attachment-upload``); the
application is then submitted from the edit page.

Editing (the case's applicant, or a coordinator; 404 for a case the user may not see, 403
for anyone else who sees it, 409 unless the application is a draft or returned for
revision) saves through :func:`~processes.submission.services.update_application`; the
``action`` button ``save`` keeps the draft, ``submit`` files a draft
(:func:`~processes.submission.services.submit_application`) and ``resubmit`` files the
revised one (:func:`~processes.submission.services.resubmit_application`), all in one
transaction. The page shows the coordinator's revision comment (the comment of the latest
``return_for_revision`` audit entry) and the revision's due date. A ``submit`` or
``resubmit`` that finds the application already filed (a double click, a resent form, two
concurrent posts) leads to the case page with "already submitted" (302), not to an error.

Bad values (:class:`~processes.submission.services.ApplicationInvalid`) or an unmet
condition (e.g. a required field still empty on submit) re-render the form with the
messages, answered 400; nothing is saved.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from processes.rounds.models import Round
from processes.submission import services as submission
from processes.submission.models import REQUIRED_FIELDS, Application
from workflow import permissions
from workflow.exceptions import WorkflowError
from workflow.models import AuditEntry, Deadline

from .. import selectors
from .common import APPLICANT_ROLES, MAX_TEXT, problem, require_role

#: The form's fields in order: (name, label, kind) with kind "text" or "number".
FIELDS = (
    ("name_en", gettext_lazy("Cluster name (English)"), "text"),
    ("name_ru", gettext_lazy("Cluster name (Russian)"), "text"),
    ("name_kk", gettext_lazy("Cluster name (Kazakh)"), "text"),
    ("region", gettext_lazy("Region"), "text"),
    ("city", gettext_lazy("City"), "text"),
    ("sector", gettext_lazy("Sector"), "text"),
    ("anchor_enterprises", gettext_lazy("Anchor enterprises (count)"), "number"),
    ("smes", gettext_lazy("Small and medium enterprises (count)"), "number"),
    ("employees", gettext_lazy("Employees (people)"), "number"),
    ("export_share_pct", gettext_lazy("Export share of output (%)"), "decimal"),
    ("research_partners", gettext_lazy("Research and education partners (count)"), "number"),
)
EDITABLE = (Application.State.DRAFT, Application.State.RETURNED_FOR_REVISION)
#: The states a filing leads to: a submit that finds one of them was a second click.
FILED = (Application.State.SUBMITTED, Application.State.RESUBMITTED)


def _values(post, *, present_only: bool = False) -> dict[str, str]:
    """The form's fields from ``post``; with ``present_only`` a field left out is left alone
    (not cleared)."""
    return {name: post.get(name, "") for name, _label, _kind in FIELDS if not present_only or name in post}


def _fields(values: dict, problems: dict) -> list[dict]:
    rows = []
    for name, label, kind in FIELDS:
        value = values.get(name)
        if isinstance(value, str):  # shown back in the form: never echo control characters (NUL makes the page binary)
            value = "".join(ch for ch in value if ch in "\t\n" or ord(ch) >= 32)
        rows.append({"name": name, "label": label, "kind": kind, "value": "" if value is None else value,
                     "required": name in REQUIRED_FIELDS, "error": problems.get(name, ""),
                     "limit": submission.EDITABLE_TEXT.get(name)})
    return rows


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def application_new(request, code: str):
    """File a new application to round ``code`` (see the module docstring)."""
    require_role(request.user, *APPLICANT_ROLES)
    rnd = get_object_or_404(Round, code=code)
    if rnd.state != Round.State.OPEN:
        return problem(request, 409, _("The round is not open"), _(
            "Round %(round)s does not accept applications now (it is %(state)s).") % {
            "round": rnd.code, "state": rnd.get_state_display()})
    values, problems, language = {}, {}, rnd.language
    if request.method == "POST":
        values = _values(request.POST)
        language = request.POST.get("language") or rnd.language
        try:
            application = submission.file_new_application(round=rnd, applicant=request.user, values=values,
                                                          language=language)
        except submission.ApplicationInvalid as exc:
            problems = exc.problems
        except WorkflowError as exc:
            return problem(request, exc.http_status, _("The application was refused"), exc.message)
        else:
            case = application.case
            messages.success(request, _(
                "Your application %(case)s is saved as a draft. Attach its files below, then submit it from "
                "the application page.") % {"case": case.ref})
            return redirect("portal:case-detail", pk=case.pk)
    return render(request, "portal/roles/application_form.html", {
        "round": rnd, "application": None, "case": None, "fields": _fields(values, problems),
        "problems": problems, "general": _general(problems),
        "language": language, "languages": settings.LANGUAGES,
    }, status=400 if problems else 200)


#: Labels of the values checked outside the form's fields (``problems`` keys).
OTHER_LABELS = {"language": gettext_lazy("Language")}


def _general(problems: dict) -> list[str]:
    """The messages of ``problems`` not shown beside a field, each after its value's label in
    the active language (never the raw key, e.g. ``language``)."""
    known = {n for n, _l, _k in FIELDS}
    return [f"{OTHER_LABELS.get(k, k)}: {m}" if k else m for k, m in problems.items() if k not in known]


def _related(obj, name: str):
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def revision_request(case) -> AuditEntry | None:
    """The latest ``return_for_revision`` entry of ``case``'s application (its comment says
    what to revise; ``data.missing`` may list fields), or None."""
    return (AuditEntry.objects.filter(chain=case.ref, object_type="submission.application",
                                      transition="return_for_revision").order_by("-seq").first())


def may_edit(user, case) -> bool:
    """The case's applicant, or a coordinator (the rule of ``update_application``)."""
    return (case.applicant_id is not None and case.applicant_id == user.pk) or permissions.has_role(
        user, permissions.COORDINATOR, permissions.PARTNER_COORDINATOR)


def _already_filed(request, case):
    """A submit or resubmit that finds the application already filed (a double click, a resent
    form): the first one went through, so lead to the case page saying so (302)."""
    messages.info(request, _("Application %(case)s is already submitted; you can follow its state here.") % {
        "case": case.ref})
    return redirect("portal:case-detail", pk=case.pk)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def application_edit(request, pk: int):
    """Edit a draft or returned application and submit or resubmit it (see the module docstring)."""
    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    application = _related(case, "application")
    if application is None:
        raise Http404(_("This case has no application."))
    if not may_edit(request.user, case):
        raise PermissionDenied
    if application.state not in EDITABLE:
        if request.method == "POST" and request.POST.get("action") in ("submit", "resubmit") \
                and application.state in FILED:
            return _already_filed(request, case)
        return problem(request, 409, _("The application can no longer be changed"), _(
            "Application %(case)s is %(state)s; only a draft or an application returned for revision can be "
            "changed.") % {"case": case.ref, "state": application.get_state_display()})
    values = {name: getattr(application, name) for name, _label, _kind in FIELDS}
    problems: dict[str, str] = {}
    general: list[str] = []
    comment = ""
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "save")
        posted = _values(request.POST, present_only=True)
        values = {**values, **posted}
        comment = request.POST.get("comment", "").strip()
        wanted = {"save": None, "submit": Application.State.DRAFT,
                  "resubmit": Application.State.RETURNED_FOR_REVISION}
        if action not in wanted or (wanted[action] is not None and wanted[action] != application.state):
            general.append(_("This application can be saved or %(verb)s now.") % {
                "verb": _("submitted") if application.state == Application.State.DRAFT else _("resubmitted")})
        elif len(comment) > MAX_TEXT:
            general.append(_("The comment has more than %(limit)s characters.") % {"limit": MAX_TEXT})
        else:
            try:
                with transaction.atomic():
                    submission.update_application(application=application, values=posted, actor=request.user)
                    if action == "submit":
                        submission.submit_application(application=application, actor=request.user, comment=comment)
                    elif action == "resubmit":
                        submission.resubmit_application(application=application, actor=request.user,
                                                        comment=comment)
            except submission.ApplicationInvalid as exc:
                problems = exc.problems
            except WorkflowError as exc:
                application.refresh_from_db()
                if action in ("submit", "resubmit") and application.state in FILED:
                    return _already_filed(request, case)  # a second click while the first went through
                if exc.http_status == 409:
                    return problem(request, 409, _("The application can no longer be changed"), exc.message)
                if exc.http_status != 400:
                    return problem(request, exc.http_status, _("The application was refused"), exc.message)
                general.append(getattr(exc, "reason", "") or exc.message)
            else:
                if action == "save":
                    messages.success(request, _("Your changes to %(case)s are saved.") % {"case": case.ref})
                    return redirect("portal:application-edit", pk=case.pk)
                messages.success(request, _("Application %(case)s is filed; you can follow its state here.") % {
                    "case": case.ref})
                return redirect("portal:case-detail", pk=case.pk)
        status = 400
        application.refresh_from_db()
    general += _general(problems)
    deadline = (Deadline.objects.filter(chain=case.ref, closed_at__isnull=True, label=Application.REVISION_LABEL)
                .order_by("due_at").first())
    return render(request, "portal/roles/application_form.html", {
        "round": case.round, "application": application, "case": case, "fields": _fields(values, problems),
        "problems": problems, "general": general, "comment": comment,
        "revision": revision_request(case), "deadline": deadline,
        "documents": selectors.case_documents(case=case, user=request.user),
        "tz": case.round.timezone or "Asia/Almaty",
        "is_staff_viewer": selectors.is_staff_viewer(user=request.user),
    }, status=status)
