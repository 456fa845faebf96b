"""POST endpoints that change state: a case transition, a signatory's decision, bulk actions.

Each goes through ``workflow.transitions.perform`` (directly or through a service), so the
same permission and condition checks apply as everywhere else. Refusals answer with the
engine's status and message: 403 not permitted, 400 condition unmet, 409 wrong state or a
concurrent change (naming the current state), 404 an object the user may not see.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from workflow.approvals.models import Decision
from workflow.approvals.services import decide
from workflow.exceptions import WorkflowError
from workflow.transitions import available_transitions, perform

from . import jobs, selectors
from .labels import transition_label
from .models import Job

#: The longest comment accepted with a transition or decision (characters).
MAX_COMMENT = 4000


def _problem(request, exc: WorkflowError):
    return render(request, "portal/problem.html", {"title": _("The action was refused"), "message": exc.message},
                  status=exc.http_status)


def _comment(request) -> str:
    return request.POST.get("comment", "")[:MAX_COMMENT]


def common_transitions(objects, user) -> list[str]:
    """Names of the transitions that ``user`` may take on every one of ``objects`` now."""
    names = None
    for obj in objects:
        allowed = {o.name for o in available_transitions(obj, user) if o.allowed}
        names = allowed if names is None else names & allowed
    return sorted(names or [])


@require_POST
@login_required
def case_transition(request, pk: int, name: str):
    """Take the case transition ``name`` with the posted ``comment``; redirect to the case."""
    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    try:
        perform(case, name, actor=request.user, comment=_comment(request))
    except WorkflowError as exc:
        return _problem(request, exc)
    messages.success(request, _("%(case)s: %(transition)s done, now %(state)s.") % {
        "case": case.ref, "transition": transition_label(name), "state": case.get_state_display()})
    return redirect("portal:case-detail", pk=case.pk)


def transition_rows(obj, user, url_name: str, *args) -> list[dict]:
    """``[{"option": TransitionOption, "url": where to POST it}]`` for ``obj``'s transitions
    (``portal/_transitions.html``); ``url_name`` takes ``*args`` and the transition's name."""
    from django.urls import reverse

    return [{"option": o, "url": reverse(url_name, args=[*args, o.name])} for o in available_transitions(obj, user)]


@require_POST
@login_required
def round_transition(request, code: str, name: str):
    """Take the round transition ``name`` (close the call, start scoring, start the discussion,
    decide, publish; with the posted ``comment``) through ``perform``, whose permission check
    lets only coordinators do it (403); the ranking, minutes and decision notices follow
    (``Round.after_transition``). 404 for an unknown round; redirects to the round page."""
    from processes.rounds.models import Round

    rnd = get_object_or_404(Round, code=code)
    try:
        perform(rnd, name, actor=request.user, comment=_comment(request))
    except WorkflowError as exc:
        return _problem(request, exc)
    messages.success(request, _("%(case)s: %(transition)s done, now %(state)s.") % {
        "case": rnd.code, "transition": transition_label(name), "state": rnd.get_state_display()})
    return redirect("portal:round-detail", code=rnd.code)


@require_POST
@login_required
def selection_transition(request, pk: int, name: str):
    """Take the transition ``name`` of case ``pk``'s selection (``complete_scoring``, ``discuss``,
    ``select``, ``reject`` with the reason as ``comment``) through its open task when the user
    may take it (:func:`workflow.tasks.take`), else ``perform``. 404 for a case the user may
    not see or without a selection; 403/400/409 as the engine says; redirects to the case."""
    from workflow.tasks import take

    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    selection = getattr(getattr(case, "application", None), "selection", None)
    if selection is None:
        return render(request, "portal/problem.html", {"title": _("Not found"),
                                                       "message": _("this case has no selection yet")}, status=404)
    try:
        take(selection, name, actor=request.user, comment=_comment(request))
    except WorkflowError as exc:
        return _problem(request, exc)
    messages.success(request, _("%(case)s: %(transition)s done, now %(state)s.") % {
        "case": case.ref, "transition": transition_label(name), "state": selection.get_state_display()})
    return redirect("portal:case-detail", pk=case.pk)


@require_POST
@login_required
def decision(request, pk: int, verdict: str):
    """The signatory (or their deputy) approves or rejects the version a decision names."""
    if verdict not in ("approve", "reject"):
        return render(request, "portal/problem.html", {"title": _("Unknown decision"),
                                                       "message": _("use approve or reject")}, status=400)
    item = get_object_or_404(Decision.objects.select_related("approval", "signatory"), pk=pk)
    visible = selectors.visible_cases(user=request.user).filter(ref=item.approval.chain)
    if not visible.exists() and item.signatory_id != request.user.pk:
        return render(request, "portal/problem.html", {"title": _("Not found"), "message": _("no such decision")},
                      status=404)
    try:
        decide(decision=item, actor=request.user, approve=verdict == "approve", comment=_comment(request))
    except WorkflowError as exc:
        return _problem(request, exc)
    messages.success(request, _("Your decision on %(approval)s is recorded.") % {"approval": item.approval})
    return redirect("portal:case-list")


@require_POST
@login_required
def bulk_transition(request):
    """Take one transition on several cases, all or nothing (``transition``, ``cases``: ids).

    Over ``KELISIM_BULK_JOB_CASES`` cases (default 20) the work is a background job
    (:mod:`.jobs`, still all or nothing) and the answer redirects to its progress page.
    """
    name = request.POST.get("transition", "")
    try:
        ids = sorted({int(v) for v in request.POST.getlist("cases")})
    except ValueError:
        ids = []
    if any(not 0 < i < 2**63 for i in ids):  # outside every database's id range
        return render(request, "portal/problem.html", {"title": _("Not found"),
                                                       "message": _("some of the cases do not exist")}, status=404)
    if not name or not ids:
        return render(request, "portal/problem.html", {
            "title": _("Nothing to do"), "message": _("choose a transition and at least one case")}, status=400)
    if len(ids) > jobs.bulk_job_cases():  # many cases: a background job with progress (all or nothing)
        if selectors.visible_cases(user=request.user).filter(pk__in=ids).count() != len(ids):
            return render(request, "portal/problem.html", {"title": _("Not found"),
                                                           "message": _("some of the cases do not exist")}, status=404)
        job = jobs.start_job(kind=Job.Kind.BULK_TRANSITION, owner=request.user,
                             params={"transition": name, "cases": ids, "comment": _comment(request)})
        return redirect("portal:job-status", pk=job.pk)
    cases = list(selectors.visible_cases(user=request.user).filter(pk__in=ids))
    if len(cases) != len(ids):
        return render(request, "portal/problem.html", {"title": _("Not found"),
                                                       "message": _("some of the cases do not exist")}, status=404)
    try:
        with transaction.atomic():
            for case in cases:
                perform(case, name, actor=request.user, comment=_comment(request))
    except WorkflowError as exc:
        for case in cases:
            case.refresh_from_db()
        return _problem(request, exc)
    messages.success(request, ngettext("%(transition)s done on %(count)s case.", "%(transition)s done on %(count)s cases.",
                                       len(cases)) % {"transition": transition_label(name), "count": len(cases)})
    return redirect("portal:case-list")
