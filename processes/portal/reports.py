"""The quarterly monitoring report form (``portal:monitoring-report``, ``cases/<pk>/reports/``).

A coordinator (operator or partner) enters the actual value of every KPI of the case's plan
for one quarter while its implementation is active or reporting
(:func:`processes.implementation.services.record_quarterly_report`: an active implementation
starts reporting, the values are audited as ``report_recorded``); the report is then accepted
with the task "Check and accept the quarterly report" (``accept_report``, whose condition needs
this quarter's report). GET shows the form with the next quarter proposed; POST records it and
redirects to the case. Refusals: 403 for other roles, 404 for a case the user may not see or
without an implementation, 400 for bad values (the form again, with the problems), 409 when the
implementation is not active or reporting, the quarter was already accepted or another
quarter's report awaits acceptance.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from workflow.exceptions import WorkflowError

from . import selectors
from .roles.common import COORDINATOR_ROLES, problem, require_role


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def monitoring_report(request, pk: int):
    """The form of a quarter's KPI actuals for case ``pk`` (see the module docstring)."""
    from processes.implementation.models import open_report
    from processes.implementation.services import ReportInvalid, next_quarter, record_quarterly_report

    require_role(request.user, *COORDINATOR_ROLES)
    case = get_object_or_404(selectors.visible_cases(user=request.user), pk=pk)
    implementation = getattr(case, "implementation", None)  # a missing one-to-one is an AttributeError
    if implementation is None:
        raise Http404(_("This case has no implementation to report on."))
    actions = list(case.plan.actions.order_by("position"))
    pending = open_report(implementation)
    year, quarter = (pending.year, pending.quarter) if pending is not None else next_quarter(implementation)
    values = {"year": str(year), "quarter": str(quarter), "summary": pending.summary if pending else "",
              "actuals": {str(v.action.position): str(v.actual) for v in pending.values.select_related("action")}
              if pending else {}}
    problems, status = {}, 200
    if request.method == "POST":
        values = {"year": request.POST.get("year", ""), "quarter": request.POST.get("quarter", ""),
                  "summary": request.POST.get("summary", ""),
                  "actuals": {str(a.position): request.POST.get(f"actual-{a.position}", "") for a in actions}}
        unknown = sorted(k for k in request.POST if k.startswith("actual-") and k[7:] not in values["actuals"])
        try:
            if unknown:
                raise ReportInvalid({k.replace("-", "s.", 1): _("the plan has no action %(number)s") % {
                    "number": k[7:]} for k in unknown})
            actuals = {k: v for k, v in values["actuals"].items() if v.strip()}
            record_quarterly_report(implementation=implementation, year=values["year"], quarter=values["quarter"],
                                    actuals=actuals, summary=values["summary"], actor=request.user)
        except ReportInvalid as exc:
            problems, status = exc.problems, 400
        except WorkflowError as exc:
            return problem(request, exc.http_status, _("The action was refused"), exc.message)
        else:
            messages.success(request, _("%(case)s: %(transition)s done, now %(state)s.") % {
                "case": case.ref, "transition": _("quarterly report recorded"),
                "state": implementation.get_state_display()})
            return redirect("portal:case-detail", pk=case.pk)
    rows = [{"action": a, "value": values["actuals"].get(str(a.position), ""),
             "problem": problems.get(f"actuals.{a.position}", "")} for a in actions]
    return render(request, "portal/monitoring_report.html", {
        "case": case, "implementation": implementation, "rows": rows, "values": values, "problems": problems,
        "pending": pending, "is_staff_viewer": True,
    }, status=status)
