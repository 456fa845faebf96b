"""The case page's stage forms after selection: the diagnosis (``portal:stage-diagnosis``,
``cases/<pk>/diagnosis/``), the development plan (``portal:stage-plan``, ``cases/<pk>/plan/``)
and the support measure (``portal:stage-support``, ``cases/<pk>/support/``).

They do what the stage objects API does (``api/stages.py``, docs/api.md "Stage objects"),
through the same checks and writes (:mod:`processes.diagnosis.forms`,
:mod:`processes.planning.forms`, :mod:`processes.support.forms`) and services, so the objects,
documents and audit entries are the same:

* diagnosis: create it (case in the diagnosis stage; ``created``), start the fieldwork
  (``start_fieldwork``, its task), then score every area of the round 0..100 with a finding,
  which takes ``draft_report`` and generates the diagnosis report;
* plan: create it or change it while ``drafting`` / ``revision_requested`` (vision,
  governance, actions: measure, responsible body, deadline shown ``dd.mm.yyyy`` and accepted
  also as ``yyyy-mm-dd``, budget in KZT with grouping spaces and a decimal comma accepted,
  KPI, target, unit); "Save" keeps the draft (``created`` / ``content_changed``), "Save and
  submit" also takes ``submit_for_review`` (or ``resubmit`` after a revision request);
* support: propose a measure (title, amount in KZT per year, reimbursed percent, legal basis,
  government bodies one per line) through ``propose_measure``: it goes to the bodies at once.

Who and when: coordinators (operator, partner) and administrators; 403 for other roles, 404
for an unknown case. 409 (the problem page, with the state) when the case is not in the
stage or the object not in a state the form fills, and when the object changed since the
form was shown (each form posts what it was shown: the diagnosis's state, the plan's
fingerprint, the number of measures), so a second click or a stale tab changes nothing. Bad
values answer 400 with the form again and every problem; nothing is saved (one transaction).
Control characters are refused before the view (``controlchars``, 400).
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from processes.diagnosis import forms as diagnosis_forms
from processes.diagnosis.models import Diagnosis, DiagnosisArea
from processes.planning import forms as plan_forms
from processes.planning.models import Plan, PlanAction
from processes.rounds.models import Case
from processes.stages import StageInvalid, parse_text
from processes.support import forms as support_forms
from processes.support.models import SupportMeasure
from workflow.exceptions import WorkflowError
from workflow.tasks import take

from . import selectors
from .labels import transition_label
from .roles.common import COORDINATOR_ROLES, problem, require_role

#: The stage whose form each page is, by the case's state.
STAGE_FORMS = {Case.State.DIAGNOSIS: "portal:stage-diagnosis", Case.State.PLANNING: "portal:stage-plan",
               Case.State.SUPPORT: "portal:stage-support"}


def _case(request, pk: int) -> Case:
    """The case ``pk`` for a coordinator: 403 for other roles, 404 for an unknown case."""
    require_role(request.user, *COORDINATOR_ROLES)
    return get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)


def _refused(request, message: str):
    return problem(request, 409, _("The action was refused"), message)


def _wrong_stage(request, case: Case):
    return _refused(request, _("The case is in the state “%(state)s”, not in the stage this object belongs to.")
                    % {"state": case.get_state_display()})


def _stale(request):
    return _refused(request, _("This was changed by someone else since the page was loaded. Nothing was saved; "
                               "open the page again to see the current state."))


def _done(request, case: Case, transition: str, obj) -> None:
    messages.success(request, _("%(case)s: %(transition)s done, now %(state)s.") % {
        "case": case.ref, "transition": transition_label(transition), "state": obj.get_state_display()})


def _labels(model, *fields) -> dict:
    return {f: model._meta.get_field(f).verbose_name for f in fields}


_ROW_PROBLEM = re.compile(r"row-(\d{1,3})-([a-z_]{1,20})", re.ASCII)
_AREA_PROBLEM = re.compile(r"(score|finding|area)-(\d{1,3})", re.ASCII)


def problem_list(problems: dict, labels: dict, *, rows: dict | None = None, areas: list | None = None) -> list:
    """``problems`` (``{key: message}`` of :class:`~processes.stages.StageInvalid`) as the page
    lists them: ``[{"key": key, "label": label, "message": message}]`` where the label names the
    field as the form shows it: ``labels[key]`` (the column's verbose name), "Action 2, budget,
    KZT" for ``row-<n>-budget_kzt`` with the row's number as displayed (``rows``: the row's
    ``n`` -> its displayed number), "Area 3 (<name>), score percent" for ``score-3``
    (``areas``: the round's names). A key the form does not have (an unknown field) keeps
    its name."""
    listed = []
    for key, message in problems.items():
        label = labels.get(key)
        if label is None and (match := _ROW_PROBLEM.fullmatch(key)) and match.group(2) in labels:
            number = (rows or {}).get(int(match.group(1)), int(match.group(1)))
            label = _("Action %(number)s, %(field)s") % {"number": number, "field": labels[match.group(2)]}
        elif label is None and (match := _AREA_PROBLEM.fullmatch(key)):
            kind, n = match.group(1), int(match.group(2))
            field = {"score": labels.get("score_pct"), "finding": labels.get("finding"), "area": labels.get("area")}[kind]
            name = areas[n - 1] if areas and n <= len(areas) else ""
            label = (_("Area %(number)s (%(name)s), %(field)s") if name else _("Area %(number)s, %(field)s")) % {
                "number": n, "name": name, "field": field}
        listed.append({"key": key, "label": str(label if label is not None else key), "message": message})
    return listed


def _form_labels() -> dict:
    """The labels of the problems that are not a column of the form (translated when called)."""
    return {"do": _("the buttons “Save” / “Save and submit”"), "areas": _("diagnosis areas"),
            "actions": _("plan actions"), "bodies": _("government bodies")}


# -- diagnosis ---------------------------------------------------------------------------------

@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def diagnosis_form(request, pk: int):
    """Create the case's diagnosis, start its fieldwork, or record its area assessment (see
    the module docstring); redirects to the case once the report is drafted."""
    case = _case(request, pk)
    diagnosis = Diagnosis.objects.filter(case=case).first()
    if diagnosis is None and case.state != Case.State.DIAGNOSIS:
        return _wrong_stage(request, case)
    if diagnosis is not None and diagnosis.state not in (Diagnosis.State.PLANNED, Diagnosis.State.FIELDWORK):
        return _refused(request, _("The diagnosis is “%(state)s”: its areas are assessed and its report is drafted.")
                        % {"state": diagnosis.get_state_display()})
    expected = list(case.round.diagnosis_areas or [])
    problems, values = {}, request.POST if request.method == "POST" else {}
    if request.method == "POST":
        if request.POST.get("state", "") != (diagnosis.state if diagnosis else ""):
            return _stale(request)
        try:
            with transaction.atomic():
                if diagnosis is None:
                    assessors = parse_text(problems, "assessors", request.POST.get("assessors"),
                                           limit=diagnosis_forms.MAX_ASSESSORS, required=False)
                    if problems:
                        raise StageInvalid(problems)
                    locked = Case.objects.select_for_update().get(pk=case.pk)
                    if locked.state != Case.State.DIAGNOSIS or Diagnosis.objects.filter(case=locked).exists():
                        return _stale(request)
                    diagnosis = diagnosis_forms.create_diagnosis(case=locked, assessors=assessors,
                                                                 actor=request.user)
                    messages.success(request, _("The diagnosis of %(case)s is created.") % {"case": case.ref})
                    return redirect("portal:stage-diagnosis", pk=case.pk)
                if diagnosis.state == Diagnosis.State.PLANNED:
                    take(diagnosis, "start_fieldwork", actor=request.user)
                    _done(request, case, "start_fieldwork", diagnosis)
                    return redirect("portal:stage-diagnosis", pk=case.pk)
                areas = diagnosis_forms.parse_assessment(request.POST, expected)
                diagnosis = diagnosis_forms.assess(diagnosis=diagnosis, areas=areas, actor=request.user)
        except StageInvalid as exc:
            problems = exc.problems
        except WorkflowError as exc:
            return problem(request, exc.http_status, _("The action was refused"), exc.message)
        else:
            _done(request, case, "draft_report", diagnosis)
            return redirect("portal:case-detail", pk=case.pk)
    rows = [{"n": n, "area": name, "score": values.get(f"score-{n}", ""), "finding": values.get(f"finding-{n}", ""),
             "name": values.get(f"area-{n}", ""), "name_error": problems.get(f"area-{n}", ""),
             "score_error": problems.get(f"score-{n}", ""), "finding_error": problems.get(f"finding-{n}", "")}
            for n, name in enumerate(expected or [""] * 6, 1)]
    labels = _labels(DiagnosisArea, "area", "score_pct", "finding") | _labels(Diagnosis, "assessors")
    return render(request, "portal/stage_diagnosis.html", {
        "case": case, "diagnosis": diagnosis, "rows": rows, "problems": problems, "values": values,
        "problem_list": problem_list(problems, labels | _form_labels(), areas=expected),
        "free_areas": not expected, "assessors_max": diagnosis_forms.MAX_ASSESSORS,
        "finding_max": diagnosis_forms.MAX_FINDING, "labels": labels,
    }, status=400 if problems else 200)


# -- development plan --------------------------------------------------------------------------

@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def plan_form(request, pk: int):
    """Create or change the case's development plan, and submit it (see the module docstring);
    redirects to the case once saved."""
    case = _case(request, pk)
    plan = Plan.objects.filter(case=case).first()
    if plan is None and case.state != Case.State.PLANNING:
        return _wrong_stage(request, case)
    if plan is not None and plan.state not in plan_forms.EDITABLE:
        return _refused(request, _("The plan can only be changed while it is drafted or revised (it is “%(state)s”).")
                        % {"state": plan.get_state_display()})
    problems, general = {}, ""
    rows = plan_forms.action_rows(plan)
    values = {"vision": plan.vision if plan else "", "governance": plan.governance if plan else ""}
    if request.method == "POST":
        shown = request.POST.get("fingerprint", "")
        if shown != plan_forms.fingerprint(plan):
            return _stale(request)
        submit = request.POST.get("do") == "submit"
        values = {"vision": request.POST.get("vision", ""), "governance": request.POST.get("governance", "")}
        rows = plan_forms.with_spare([r for r in plan_forms.posted_rows(request.POST)
                                      if any(r[f].strip() for f in plan_forms.ACTION_FIELDS)])
        try:
            if request.POST.get("do") not in ("save", "submit"):  # not one of the form's two buttons
                raise StageInvalid({"do": _("required")})
            body = plan_forms.parse_plan(request.POST)
            with transaction.atomic():
                if plan is None:
                    locked = Case.objects.select_for_update().get(pk=case.pk)
                    if locked.state != Case.State.PLANNING or Plan.objects.filter(case=locked).exists():
                        return _stale(request)
                    plan = plan_forms.create_plan(case=locked, body=body, actor=request.user)
                else:
                    plan = Plan.objects.select_for_update().get(pk=plan.pk)
                    if plan.state not in plan_forms.EDITABLE or plan_forms.fingerprint(plan) != shown:
                        return _stale(request)
                    plan_forms.update_plan(plan=plan, body=body, actor=request.user)
                if submit:
                    name = "submit_for_review" if plan.state == Plan.State.DRAFTING else "resubmit"
                    take(plan, name, actor=request.user)
        except StageInvalid as exc:
            problems = exc.problems
        except WorkflowError as exc:
            if exc.http_status != 400:
                return problem(request, exc.http_status, _("The action was refused"), exc.message)
            general = exc.message  # a condition unmet (no complete action): the form again, nothing saved
            plan = Plan.objects.filter(case=case).first()
        else:
            if submit:
                _done(request, case, name, plan)
            else:
                messages.success(request, _("The development plan of %(case)s is saved (%(state)s).") % {
                    "case": case.ref, "state": plan.get_state_display()})
            return redirect("portal:case-detail", pk=case.pk)
    labels = _labels(PlanAction, *plan_forms.ACTION_FIELDS) | _labels(Plan, "vision", "governance")
    table = [{"n": row["n"], "cells": [
        {"name": f"row-{row['n']}-{f}", "field": f, "label": labels[f], "value": row[f],
         "error": problems.get(f"row-{row['n']}-{f}", ""), "limit": plan_forms.ACTION_TEXT.get(f)}
        for f in plan_forms.ACTION_FIELDS]} for row in rows]
    return render(request, "portal/stage_plan.html", {
        "case": case, "plan": plan, "table": table, "values": values, "problems": problems, "general": general,
        "problem_list": problem_list(problems, labels | _form_labels(),
                                     rows={row["n"]: number for number, row in enumerate(table, 1)}),
        "fingerprint": plan_forms.fingerprint(plan),
        "text_max": plan_forms.MAX_PLAN_TEXT,
        "labels": labels, "headers": [labels[f] for f in plan_forms.ACTION_FIELDS],
    }, status=400 if problems or general else 200)


# -- support measure ---------------------------------------------------------------------------

@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def support_form(request, pk: int):
    """Propose a support measure for the case and send it to the government bodies (see the
    module docstring); redirects to the case."""
    case = _case(request, pk)
    if case.state != Case.State.SUPPORT:
        return _wrong_stage(request, case)
    measures = list(SupportMeasure.objects.filter(case=case).order_by("pk"))
    problems, values = {}, {}
    if request.method == "POST":
        values = request.POST
        if request.POST.get("measures", "") != str(len(measures)):
            return _stale(request)
        try:
            proposal = support_forms.parse_measure(request.POST)
            with transaction.atomic():
                locked = Case.objects.select_for_update().get(pk=case.pk)
                if locked.state != Case.State.SUPPORT or SupportMeasure.objects.filter(case=locked).count() != len(
                        measures):
                    return _stale(request)
                from processes.support.services import propose_measure

                measure = propose_measure(case=locked, actor=request.user, **proposal)
        except StageInvalid as exc:
            problems = exc.problems
        except WorkflowError as exc:
            return problem(request, exc.http_status, _("The action was refused"), exc.message)
        else:
            _done(request, case, "start_coordination", measure)
            return redirect("portal:case-detail", pk=case.pk)
    labels = _labels(SupportMeasure, "title", "amount_kzt", "reimbursement_pct", "legal_basis")
    return render(request, "portal/stage_support.html", {
        "case": case, "measures": measures, "values": values, "problems": problems,
        "problem_list": problem_list(problems, labels | _form_labels()),
        "limits": {"title": support_forms.MAX_TITLE, "legal_basis": support_forms.MAX_LEGAL_BASIS},
        "max_bodies": support_forms.MAX_BODIES,
        "labels": labels,
    }, status=400 if problems else 200)
