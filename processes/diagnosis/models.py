"""Diagnosis of a selected cluster on the six areas of cluster management.

States (DESIGN.md): ``planned -> fieldwork -> draft_report -> discussion -> approved``, with
``discussion -> draft_report`` when the discussion sends the report back.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_fsm import FSMField, transition

from workflow.conditions import condition
from workflow.models import StatefulModel
from workflow.permissions import COORDINATOR, coordinators

from processes.rounds.models import CaseStage


def _all_areas_assessed(diagnosis) -> bool:
    expected = len(diagnosis.case.round.diagnosis_areas) or 6
    return diagnosis.areas.count() >= expected


class Diagnosis(CaseStage, StatefulModel):
    """The maturity assessment of one cluster; ``overall_pct`` is the mean of the areas (0..100)."""

    human_tasks = True
    #: Taken through :func:`processes.diagnosis.services.take_routed` on every path (inbox task,
    #: API, page): the report document follows the assessment (``workflow.tasks``, "Routing").
    routed_transitions = frozenset({"draft_report"})
    task_plan = {
        "planned": [("start_fieldwork", COORDINATOR, gettext_noop("Start the diagnosis fieldwork"))],
        "fieldwork": [("draft_report", COORDINATOR, gettext_noop("Assess the six areas and draft the report"))],
        "draft_report": [("open_discussion", COORDINATOR, gettext_noop("Discuss the diagnosis with the cluster"))],
        "discussion": [("approve", COORDINATOR, gettext_noop("Approve the diagnosis report"), ("return_to_draft",))],
    }

    class State(models.TextChoices):
        PLANNED = "planned", _("planned")
        FIELDWORK = "fieldwork", _("fieldwork")
        DRAFT_REPORT = "draft_report", _("draft report")
        DISCUSSION = "discussion", _("discussion")
        APPROVED = "approved", _("approved")

    case = models.OneToOneField("rounds.Case", on_delete=models.PROTECT, related_name="diagnosis",
                                verbose_name=_("case"))
    assessors = models.CharField(max_length=300, blank=True, verbose_name=_("assessors"))
    overall_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True,
                                      verbose_name=_("overall percent"))
    state = FSMField(default=State.PLANNED, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("diagnosis")
        verbose_name_plural = _("diagnoses")

    def __str__(self) -> str:
        return f"{self.case.ref} diagnosis"

    @property
    def audit_chain(self) -> str:
        return self.case.ref

    def due_at_for(self, limit: str):
        """Due date of a step under the round's ``review_working_days[limit]``."""
        return self.case.round.due_at(limit)

    def take_task_transition(self, transition: str, *, actor, comment: str = "", data=None):
        """Take ``transition`` through the diagnosis service (``draft_report``: the areas already
        recorded and the report document; refused with a 400 naming where the assessment is
        entered when they are not), any other with ``perform``. See
        :func:`processes.diagnosis.services.take_routed`."""
        from .services import take_routed

        return take_routed(self, transition, actor=actor, comment=comment, data=data)

    @transition(field=state, source=State.PLANNED, target=State.FIELDWORK, permission=coordinators)
    def start_fieldwork(self):
        """Interviews, firm mapping and self-assessment begin."""

    @transition(field=state, source=[State.FIELDWORK], target=State.DRAFT_REPORT, permission=coordinators,
                conditions=[condition(_("every area of cluster management must be assessed"))(_all_areas_assessed)])
    def draft_report(self):
        """The assessors write the report; the overall score is the mean of the areas."""
        values = [a.score_pct for a in self.areas.all()]
        self.overall_pct = sum(values) / len(values)

    @transition(field=state, source=State.DRAFT_REPORT, target=State.DISCUSSION, permission=coordinators)
    def open_discussion(self):
        """The results are discussed with the cluster."""

    @transition(field=state, source=State.DISCUSSION, target=State.DRAFT_REPORT, permission=coordinators)
    def return_to_draft(self):
        """The discussion asks for changes to the report."""

    @transition(field=state, source=State.DISCUSSION, target=State.APPROVED, permission=coordinators)
    def approve(self):
        """The diagnosis report is approved."""


class DiagnosisArea(models.Model):
    """The assessment of one area (``score_pct`` 0..100 of the area's indicators met)."""

    diagnosis = models.ForeignKey(Diagnosis, on_delete=models.CASCADE, related_name="areas",
                                  verbose_name=_("diagnosis"))
    position = models.PositiveSmallIntegerField(verbose_name=_("position"))
    area = models.CharField(max_length=200, verbose_name=_("area"))
    score_pct = models.DecimalField(max_digits=5, decimal_places=2, verbose_name=_("score percent"))
    finding = models.TextField(blank=True, verbose_name=_("finding"))

    class Meta:
        verbose_name = _("diagnosis area")
        verbose_name_plural = _("diagnosis areas")
        ordering = ["diagnosis", "position"]
        constraints = [
            models.UniqueConstraint(fields=["diagnosis", "position"], name="diagnosis_area_unique"),
            models.CheckConstraint(condition=models.Q(score_pct__gte=0, score_pct__lte=100), name="area_pct_0_100"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.area}: {self.score_pct}%"
