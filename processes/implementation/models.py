"""Implementation of a development plan, monitored quarterly against the plan's KPIs.

States (DESIGN.md): ``active -> reporting -> active ... -> completed | suspended``.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_fsm import FSMField, transition

from workflow.conditions import condition
from workflow.models import StatefulModel
from workflow.permissions import COORDINATOR, coordinators

from processes.rounds.models import CaseStage


def open_report(impl):
    """The quarterly report of ``impl`` that awaits acceptance (recorded in the current
    reporting period, ``accepted_at`` empty), or ``None``."""
    return impl.reports.filter(accepted_at__isnull=True).order_by("-year", "-quarter").first()


def _open_report_complete(impl) -> bool:
    """The condition of ``accept_report``: the current quarter's report (:func:`open_report`, not
    an earlier quarter's, already accepted) exists and has an actual value for every KPI."""
    report = open_report(impl)
    if report is None:
        return False
    kpi_count = impl.case.plan.actions.count()
    return kpi_count > 0 and report.values.count() == kpi_count


class Implementation(CaseStage, StatefulModel):
    """The implementation of one cluster's approved plan."""

    human_tasks = True
    task_plan = {
        "active": [("start_reporting", COORDINATOR, gettext_noop("Collect the quarterly monitoring report"), ("complete",))],
        "reporting": [("accept_report", COORDINATOR, gettext_noop("Check and accept the quarterly report"), (),
                       "monitoring_report_after_quarter")],
    }

    class State(models.TextChoices):
        ACTIVE = "active", _("active")
        REPORTING = "reporting", _("reporting")
        COMPLETED = "completed", _("completed")
        SUSPENDED = "suspended", _("suspended")

    case = models.OneToOneField("rounds.Case", on_delete=models.PROTECT, related_name="implementation",
                                verbose_name=_("case"))
    started_on = models.DateField(verbose_name=_("started on"))
    state = FSMField(default=State.ACTIVE, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("implementation")
        verbose_name_plural = _("implementations")

    def __str__(self) -> str:
        return f"{self.case.ref} implementation"

    @property
    def audit_chain(self) -> str:
        return self.case.ref

    def due_at_for(self, limit: str):
        """Due date of a step under the round's ``review_working_days[limit]``."""
        return self.case.round.due_at(limit)

    @transition(field=state, source=State.ACTIVE, target=State.REPORTING, permission=coordinators)
    def start_reporting(self):
        """A quarter ended: its monitoring report is being prepared."""

    @transition(field=state, source=State.REPORTING, target=State.ACTIVE, permission=coordinators,
                conditions=[condition(_("the quarterly report needs an actual value for every KPI of the plan"))(
                    _open_report_complete)])
    def accept_report(self):
        """The current quarter's report (:func:`open_report`) is accepted; its monitoring report
        document follows (``after_transition``)."""
        from django.utils import timezone

        self.reports.filter(accepted_at__isnull=True).update(accepted_at=timezone.now())

    @transition(field=state, source=State.ACTIVE, target=State.COMPLETED, permission=coordinators,
                conditions=[condition(_("at least one monitoring report must be accepted"))(
                    lambda i: i.reports.filter(accepted_at__isnull=False).exists())])
    def complete(self):
        """The plan's term is over."""

    @transition(field=state, source=[State.ACTIVE, State.REPORTING], target=State.SUSPENDED,
                permission=coordinators)
    def suspend(self):
        """Implementation stops (the comment gives the reason)."""

    @transition(field=state, source=State.SUSPENDED, target=State.ACTIVE, permission=coordinators)
    def resume(self):
        """Implementation continues."""

    def after_transition(self, transition: str, *, actor, comment: str = "") -> None:
        """An accepted quarterly report gets its monitoring report document (same transaction,
        every path: inbox task, API, page, ``run_cycle``)."""
        if transition == "accept_report":
            from .services import generate_monitoring_report

            report = self.reports.filter(accepted_at__isnull=False).order_by("-accepted_at", "-year", "-quarter").first()
            if report is not None:
                generate_monitoring_report(report=report, actor=actor)


class MonitoringReport(models.Model):
    """The report of one calendar quarter (``quarter`` 1..4)."""

    implementation = models.ForeignKey(Implementation, on_delete=models.PROTECT, related_name="reports",
                                       verbose_name=_("implementation"))
    year = models.PositiveSmallIntegerField(verbose_name=_("year"))
    quarter = models.PositiveSmallIntegerField(verbose_name=_("quarter"))
    summary = models.TextField(blank=True, verbose_name=_("summary"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    accepted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("accepted at"),
                                       help_text=_("when accept_report was taken; empty while the report awaits it"))

    class Meta:
        verbose_name = _("monitoring report")
        verbose_name_plural = _("monitoring reports")
        ordering = ["implementation", "year", "quarter"]
        constraints = [
            models.UniqueConstraint(fields=["implementation", "year", "quarter"], name="report_one_per_quarter"),
            models.CheckConstraint(condition=models.Q(quarter__gte=1, quarter__lte=4), name="report_quarter_1_4"),
        ]

    def __str__(self) -> str:
        return f"{self.implementation.case.ref} {self.year} Q{self.quarter}"


class MonitoringValue(models.Model):
    """The actual value of one KPI (a plan action's) in one quarterly report."""

    report = models.ForeignKey(MonitoringReport, on_delete=models.CASCADE, related_name="values",
                               verbose_name=_("report"))
    action = models.ForeignKey("planning.PlanAction", on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("action"))
    actual = models.DecimalField(max_digits=14, decimal_places=2, verbose_name=_("actual"))

    class Meta:
        verbose_name = _("monitoring value")
        verbose_name_plural = _("monitoring values")
        ordering = ["report", "action__position"]
        constraints = [models.UniqueConstraint(fields=["report", "action"], name="value_one_per_kpi")]

    @property
    def pct_of_target(self):
        """Actual as a percentage of the KPI's target (None when the target is 0)."""
        target = self.action.kpi_target
        return None if not target else round(self.actual * 100 / target, 1)
