"""Materials for consultative-advisory bodies (memorandum area 1): briefing notes, agendas,
minutes with the partner's comments.

States: ``draft -> circulated -> commented -> final``.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from workflow.models import StatefulModel
from workflow.permissions import PARTNER_COORDINATOR, coordinators, role_required

partner = role_required(PARTNER_COORDINATOR)


class AdvisoryMaterial(StatefulModel):
    """A paper prepared by the operator for an advisory body and commented on by the partner."""

    class Kind(models.TextChoices):
        BRIEFING_NOTE = "briefing_note", _("briefing note")
        AGENDA = "agenda", _("agenda")
        MINUTES = "minutes", _("minutes with comments of the partner")

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        CIRCULATED = "circulated", _("circulated")
        COMMENTED = "commented", _("commented")
        FINAL = "final", _("final")

    round = models.ForeignKey("rounds.Round", on_delete=models.PROTECT, related_name="advisory_materials",
                              verbose_name=_("round"))
    case = models.ForeignKey("rounds.Case", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="advisory_materials", verbose_name=_("case"))
    kind = models.CharField(max_length=30, choices=Kind.choices, verbose_name=_("kind"))
    title = models.CharField(max_length=300, verbose_name=_("title"))
    body = models.TextField(blank=True, verbose_name=_("body"))
    partner_comments = models.TextField(blank=True, verbose_name=_("partner comments"))
    state = FSMField(default=State.DRAFT, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("advisory material")
        verbose_name_plural = _("advisory materials")

    def __str__(self) -> str:
        return self.title

    @property
    def audit_chain(self) -> str:
        return self.case.ref if self.case_id else self.round.code

    @transition(field=state, source=State.DRAFT, target=State.CIRCULATED, permission=coordinators)
    def circulate(self):
        """Sent to the advisory body's members and the partner."""

    @transition(field=state, source=State.CIRCULATED, target=State.COMMENTED, permission=partner)
    def comment(self, comment=""):
        """The partner (Atameken) comments."""
        self.partner_comments = comment

    @transition(field=state, source=[State.CIRCULATED, State.COMMENTED], target=State.FINAL,
                permission=coordinators)
    def finalise(self):
        """The final version is fixed."""
