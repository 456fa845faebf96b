"""Training modules run alongside the cycle (memorandum area 8) and their attendance.

States: ``planned -> open -> in_progress -> completed``, or ``cancelled`` before it starts.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from workflow.conditions import condition
from workflow.models import StatefulModel
from workflow.permissions import coordinators


class TrainingModule(StatefulModel):
    """A training module for cluster participants; dates are calendar dates in Asia/Almaty."""

    class State(models.TextChoices):
        PLANNED = "planned", _("planned")
        OPEN = "open", _("open for registration")
        IN_PROGRESS = "in_progress", _("in progress")
        COMPLETED = "completed", _("completed")
        CANCELLED = "cancelled", _("cancelled")

    round = models.ForeignKey("rounds.Round", on_delete=models.PROTECT, related_name="training_modules",
                              verbose_name=_("round"))
    title = models.CharField(max_length=300, verbose_name=_("title"))
    topic = models.TextField(blank=True, verbose_name=_("topic"))
    starts_on = models.DateField(verbose_name=_("starts on"))
    ends_on = models.DateField(verbose_name=_("ends on"))
    state = FSMField(default=State.PLANNED, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("training module")
        verbose_name_plural = _("training modules")
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_on__gte=models.F("starts_on")),
                                   name="training_ends_after_start"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def audit_chain(self) -> str:
        return f"{self.round.code}/training-{self.pk}"

    @transition(field=state, source=State.PLANNED, target=State.OPEN, permission=coordinators)
    def open_registration(self):
        """Participants may register."""

    @transition(field=state, source=State.OPEN, target=State.IN_PROGRESS, permission=coordinators,
                conditions=[condition(_("at least one participant must be registered"))(
                    lambda m: m.attendances.exists())])
    def start(self):
        """The module runs."""

    @transition(field=state, source=State.IN_PROGRESS, target=State.COMPLETED, permission=coordinators)
    def complete(self):
        """The module ended; attendance is final."""

    @transition(field=state, source=[State.PLANNED, State.OPEN], target=State.CANCELLED, permission=coordinators)
    def cancel(self):
        """The module will not run."""


class Attendance(models.Model):
    """A participant of a module, optionally from a case's cluster."""

    module = models.ForeignKey(TrainingModule, on_delete=models.CASCADE, related_name="attendances",
                               verbose_name=_("module"))
    participant = models.CharField(max_length=200, verbose_name=_("participant"))
    organisation = models.CharField(max_length=300, blank=True, verbose_name=_("organisation"))
    case = models.ForeignKey("rounds.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("case"))
    attended = models.BooleanField(default=False, verbose_name=_("attended"))

    class Meta:
        verbose_name = _("attendance")
        verbose_name_plural = _("attendances")
        ordering = ["module", "participant"]
        constraints = [models.UniqueConstraint(fields=["module", "participant"], name="attendance_unique")]

    def __str__(self) -> str:
        return f"{self.participant} @ {self.module}"
