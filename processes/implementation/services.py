"""Implementation services: quarterly monitoring against the plan's KPIs.

A quarter's report is recorded (:func:`record_quarterly_report`: the actual value of every KPI
of the plan) while the implementation is ``reporting``, then accepted with the
``accept_report`` transition (the coordinators' task "Check and accept the quarterly report"),
whose condition needs that report; accepting generates the monitoring report document.
:func:`submit_quarterly_report` does both in one step (``run_cycle``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from workflow import audit
from workflow.exceptions import TransitionNotAllowed, TransitionPermissionDenied
from workflow.permissions import COORDINATOR, PARTNER_COORDINATOR, has_role, role_label
from workflow.tasks import take

from processes.rounds.paperwork import format_number, generate

from .models import Implementation, MonitoringReport, MonitoringValue, open_report

#: Years a quarterly report may name.
YEARS = range(2000, 2101)
#: The largest absolute actual value (the column holds 14 digits, 2 of them decimals).
MAX_ACTUAL = Decimal("999999999999.99")
#: The longest summary of a report (characters).
MAX_SUMMARY = 4000


class ReportInvalid(ValueError):
    """The report's values are refused; ``problems`` maps a field (``year``, ``quarter``,
    ``summary``, ``actuals`` or ``actuals.<position>``) to a message. Answered with HTTP 400."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


def next_quarter(implementation: Implementation) -> tuple[int, int]:
    """``(year, quarter)`` the next report is for: the quarter after the latest report, else
    the calendar quarter in which the implementation started."""
    latest = implementation.reports.order_by("-year", "-quarter").first()
    if latest is None:
        started = implementation.started_on
        return started.year, (started.month - 1) // 3 + 1
    return (latest.year + 1, 1) if latest.quarter == 4 else (latest.year, latest.quarter + 1)


def clean_report_values(implementation: Implementation, *, year, quarter, actuals: dict, summary) -> tuple:
    """Check a report's values; return ``(year, quarter, {position: Decimal}, summary)``.

    ``year`` 2000..2100 and ``quarter`` 1..4 (whole numbers, or their text); ``actuals`` maps
    every plan action's position (int or its text) to the actual KPI value (a finite number,
    at most 2 decimals, 0..999,999,999,999.99 in the KPI's unit); ``summary`` text of at most
    4000 characters without control characters other than line breaks and tabs. Raises
    :class:`ReportInvalid` naming every problem (unknown positions and missing KPIs too).
    """
    problems: dict[str, str] = {}

    def whole(name, value, allowed):
        if isinstance(value, bool):
            value = None
        try:
            text = str(value).strip() if value is not None else ""
            number = int(text) if text.isascii() and text.lstrip("-").isdigit() and len(text) < 10 else None
        except ValueError:
            number = None
        if number is None or number not in allowed:
            problems[name] = _("must be a whole number from %(low)s to %(high)s") % {
                "low": allowed[0], "high": allowed[-1]}
        return number

    year = whole("year", year, YEARS)
    quarter = whole("quarter", quarter, range(1, 5))
    if summary is None:
        summary = ""
    if not isinstance(summary, str):
        problems["summary"] = _("must be text")
        summary = ""
    elif len(summary) > MAX_SUMMARY:
        problems["summary"] = _("at most %(limit)s characters") % {"limit": MAX_SUMMARY}
    elif any(ord(ch) < 32 and ch not in "\t\r\n" for ch in summary):
        problems["summary"] = _("control characters are not allowed")
    positions = set(implementation.case.plan.actions.values_list("position", flat=True))
    values: dict[int, Decimal] = {}
    if not isinstance(actuals, dict):
        problems["actuals"] = _("must map each action's number to its actual KPI value")
        actuals = {}
    refused: set[int] = set()
    for key, raw in actuals.items():
        position = int(key) if isinstance(key, int) and not isinstance(key, bool) or (
            isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 10) else None
        if position not in positions:
            shown = str(key)[:20]
            problems[f"actuals.{shown}"] = _("the plan has no action %(number)s") % {"number": shown}
            continue
        try:
            number = Decimal(str(raw).strip().replace(",", ".")) if not isinstance(raw, bool) and raw is not None \
                and str(raw).strip() else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or not 0 <= number <= MAX_ACTUAL \
                or number != number.quantize(Decimal("0.01")):
            problems[f"actuals.{position}"] = _("must be a number from 0 with at most 2 decimals")
            refused.add(position)
            continue
        values[position] = number
    missing = sorted(positions - set(values) - refused)
    if missing:
        problems["actuals"] = _("every KPI of the plan needs its actual value; missing: %(numbers)s") % {
            "numbers": ", ".join(map(str, missing))}
    if problems:
        raise ReportInvalid(problems)
    return year, quarter, values, summary.strip()


@transaction.atomic
def record_quarterly_report(*, implementation: Implementation, year, quarter, actuals: dict, summary="",
                            actor) -> MonitoringReport:
    """Record the report of ``year`` Q``quarter``: the actual value of every KPI of the plan
    (``actuals``: plan action position -> value in the KPI's unit) and a ``summary``; it then
    awaits ``accept_report``. Writes a ``report_recorded`` audit entry with the values.

    An ``active`` implementation first starts reporting (``start_reporting``, completing the
    task "Collect the quarterly monitoring report" when ``actor`` may take it). Correcting the
    report that awaits acceptance (the same quarter) replaces its values.

    Raises :class:`ReportInvalid` (400) for bad values (see :func:`clean_report_values`),
    :class:`~workflow.exceptions.TransitionPermissionDenied` (403) unless ``actor`` is a
    coordinator (operator or partner), and :class:`~workflow.exceptions.TransitionNotAllowed`
    (409) when the case is suspended, when the implementation is not active or reporting, when
    that quarter was already accepted, or while another quarter's report awaits acceptance.
    """
    locked = Implementation.objects.select_for_update().select_related("case").get(pk=implementation.pk)
    if not has_role(actor, COORDINATOR, PARTNER_COORDINATOR):
        raise TransitionPermissionDenied(
            _("%(user)s may not record a quarterly report: %(reason)s") % {
                "user": getattr(actor, "username", "anonymous"),
                "reason": _("requires the role %(roles)s") % {"roles": ", ".join(
                    map(role_label, (COORDINATOR, PARTNER_COORDINATOR)))}},
            obj=locked, transition="record_report", state=locked.state)
    locked.ensure_not_suspended("record_report")  # 409 naming the case's suspension (CaseStage)
    if locked.state not in (Implementation.State.ACTIVE, Implementation.State.REPORTING):
        raise TransitionNotAllowed(
            _("%(object)s is %(state)s; a quarterly report is recorded while it is active or reporting") % {
                "object": locked, "state": locked.get_state_display()},
            obj=locked, transition="record_report", state=locked.state)
    year, quarter, values, summary = clean_report_values(locked, year=year, quarter=quarter, actuals=actuals,
                                                         summary=summary)
    existing = locked.reports.filter(year=year, quarter=quarter).first()
    pending = open_report(locked)
    if existing is not None and existing.accepted_at is not None:
        raise TransitionNotAllowed(_("the report of %(year)s Q%(quarter)s was already accepted") % {
            "year": year, "quarter": quarter}, obj=locked, transition="record_report", state=locked.state)
    if pending is not None and pending != existing:
        raise TransitionNotAllowed(
            _("the report of %(year)s Q%(quarter)s awaits acceptance; accept it before the next quarter's") % {
                "year": pending.year, "quarter": pending.quarter},
            obj=locked, transition="record_report", state=locked.state)
    if locked.state == Implementation.State.ACTIVE:
        take(locked, "start_reporting", actor=actor, data={"year": year, "quarter": quarter})
    if existing is None:
        report = MonitoringReport.objects.create(implementation=locked, year=year, quarter=quarter, summary=summary)
    else:
        report = existing
        report.summary = summary
        report.save(update_fields=["summary"])
        report.values.all().delete()
    actions = {a.position: a for a in locked.case.plan.actions.all()}
    MonitoringValue.objects.bulk_create([MonitoringValue(report=report, action=actions[p], actual=v)
                                         for p, v in sorted(values.items())])
    audit.append_entry(chain=locked.audit_chain, actor=actor, object_type="implementation.implementation",
                       object_id=str(locked.pk), object_repr=str(locked), transition="report_recorded",
                       from_state=locked.state, to_state=locked.state,
                       data={"year": year, "quarter": quarter, "actuals": {str(p): str(v) for p, v in
                                                                           sorted(values.items())}})
    implementation.refresh_from_db()
    return report


@transaction.atomic
def submit_quarterly_report(*, implementation: Implementation, year: int, quarter: int,
                            actuals: dict[int, Decimal], summary: str, actor) -> MonitoringReport:
    """Record the report of ``year`` Q``quarter`` with ``actuals`` (plan action position ->
    actual KPI value) and accept it (:func:`record_quarterly_report`, then ``accept_report``,
    which generates the monitoring report document).

    Raises :class:`ReportInvalid` (a ``ValueError``) for a quarter outside 1..4, an unknown
    action position or a KPI without a value, and the workflow errors of ``perform``.
    """
    report = record_quarterly_report(implementation=implementation, year=year, quarter=quarter, actuals=actuals,
                                     summary=summary, actor=actor)
    take(implementation, "accept_report", actor=actor, data={"year": year, "quarter": quarter})
    report.refresh_from_db()
    return report


def generate_monitoring_report(*, report: MonitoringReport, actor):
    """Generate the monitoring report document of ``report`` (key ``<year>Q<quarter>``, the
    case's language): each KPI's target, actual value and percentage of the target, and the
    summary. Called when the report is accepted (``Implementation.after_transition``)."""
    case = report.implementation.case
    lang = case.language
    year, quarter = report.year, report.quarter
    return generate(rnd=case.round, case=case, kind="monitoring_report", stage="implementation", actor=actor,
                    key=f"{year}Q{quarter}", context={
                        "period": {"year": year, "quarter": quarter},
                        "kpis": [{"number": v.action.position, "kpi": v.action.kpi,
                                  "target": f"{format_number(v.action.kpi_target, lang)} {v.action.kpi_unit}".strip(),
                                  "actual": format_number(v.actual, lang),
                                  "pct": format_number(v.pct_of_target, lang) if v.pct_of_target is not None else ""}
                                 for v in report.values.select_related("action")],
                        "summary": report.summary})
