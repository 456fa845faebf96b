"""Implementation services: quarterly monitoring against the plan's KPIs."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from workflow.transitions import perform

from processes.rounds.paperwork import format_number, generate

from .models import Implementation, MonitoringReport, MonitoringValue


@transaction.atomic
def submit_quarterly_report(*, implementation: Implementation, year: int, quarter: int,
                            actuals: dict[int, Decimal], summary: str, actor) -> MonitoringReport:
    """Record the report of ``year`` Q``quarter`` with ``actuals`` (plan action position ->
    actual KPI value) and accept it; generate the monitoring report document.

    Raises ``ValueError`` for a quarter outside 1..4 or an unknown action position, and the
    workflow errors of ``perform`` (e.g. a KPI without a value).
    """
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter must be 1..4, got {quarter}")
    if implementation.state == "active":
        perform(implementation, "start_reporting", actor=actor, data={"year": year, "quarter": quarter})
    report = MonitoringReport.objects.create(implementation=implementation, year=year, quarter=quarter,
                                             summary=summary)
    actions = {a.position: a for a in implementation.case.plan.actions.all()}
    for position, actual in actuals.items():
        if position not in actions:
            raise ValueError(f"the plan has no action {position}")
        MonitoringValue.objects.create(report=report, action=actions[position], actual=actual)
    perform(implementation, "accept_report", actor=actor, data={"year": year, "quarter": quarter})
    case = implementation.case
    lang = case.language
    generate(rnd=case.round, case=case, kind="monitoring_report", stage="implementation", actor=actor,
             key=f"{year}Q{quarter}", context={
                 "period": {"year": year, "quarter": quarter},
                 "kpis": [{"number": v.action.position, "kpi": v.action.kpi,
                           "target": f"{format_number(v.action.kpi_target, lang)} {v.action.kpi_unit}".strip(),
                           "actual": format_number(v.actual, lang),
                           "pct": format_number(v.pct_of_target, lang) if v.pct_of_target is not None else ""}
                          for v in report.values.select_related("action")],
                 "summary": summary})
    return report
