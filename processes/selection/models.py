"""Expert scoring and the selection decision.

Score sheet: ``draft -> submitted``, or ``draft -> recused`` when the expert declares a
conflict of interest. Selection (one per accepted application):
``scoring -> scored -> discussed -> selected | not_selected``.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_fsm import FSMField, transition

from workflow.conditions import condition
from workflow.models import StatefulModel
from workflow.permissions import COORDINATOR, coordinators, role_required

sheet_owner = role_required(owner=lambda sheet: sheet.expert)

#: Expert score sheets needed before an application counts as scored.
EXPERTS_PER_APPLICATION = 2
#: Two experts' scores on one criterion that differ by more than this are flagged.
DIVERGENCE_POINTS = 3


def _all_criteria_scored(sheet) -> bool:
    return sheet.scores.count() == sheet.application.round.criteria.count()


def scoring_closed_reason(application_id) -> str:
    """``""`` while the application (its id) may still be scored: it has no selection yet, or its
    selection is in ``scoring``. Otherwise the reason, in the active language: "scoring is
    closed" with the selection's state (``scored``, ``discussed``, ``selected`` or
    ``not_selected``). No expert is assigned and no sheet saved, submitted or recused then
    (breaker F5: a late sheet changed a decided ranking)."""
    from django.utils.translation import gettext

    state = Selection.objects.filter(application_id=application_id).values_list("state", flat=True).first()
    if state is None or state == Selection.State.SCORING:
        return ""
    return gettext("scoring is closed: the selection of this application is %(state)s") % {
        "state": Selection.State(state).label}


class ScoreSheet(StatefulModel):
    """One expert's scores (0..10 per criterion) for one application.

    ``total`` is the weighted score on the 0..100 scale: sum(score x weight) / 10.
    """

    human_tasks = True  # completeness check / scoring tasks (workflow.tasks)
    #: Taken through :func:`processes.selection.services.take_routed` on every path (inbox task,
    #: API, expert page): the expert score sheet document (``workflow.tasks``, "Routing").
    routed_transitions = frozenset({"submit"})

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        SUBMITTED = "submitted", _("submitted")
        RECUSED = "recused", _("recused (conflict of interest)")

    application = models.ForeignKey("submission.Application", on_delete=models.PROTECT, related_name="score_sheets",
                                    verbose_name=_("application"))
    conflict_note = models.TextField(blank=True, help_text=_("the expert's declaration of a conflict of interest"),
                                     verbose_name=_("conflict note"))
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="score_sheets",
                               verbose_name=_("expert"))
    total = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, verbose_name=_("total"))
    state = FSMField(default=State.DRAFT, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("score sheet")
        verbose_name_plural = _("score sheets")
        ordering = ["application", "expert"]
        constraints = [
            models.UniqueConstraint(fields=["application", "expert"], name="scoresheet_one_per_expert"),
        ]

    def __str__(self) -> str:
        return f"{self.application} / {self.expert.get_username()}"

    @property
    def audit_chain(self) -> str:
        return self.application.case.ref

    def take_task_transition(self, transition: str, *, actor, comment: str = "", data=None):
        """Take ``transition`` through the selection services (``submit``: the scores already
        saved and the score sheet document; refused with a 400 naming where to score when a
        criterion has none), any other with ``perform``. See
        :func:`processes.selection.services.take_routed`."""
        from .services import take_routed

        return take_routed(self, transition, actor=actor, comment=comment, data=data)

    def closed_reason(self, transition: str = "") -> str:
        """Why the sheet can no longer be worked on (``perform`` answers 409 with it), or ``""``:
        scoring is closed once the application's selection has left ``scoring`` (the mean is
        computed, the commission decides on it), see :func:`scoring_closed_reason`."""
        return scoring_closed_reason(self.application_id)

    @transition(field=state, source=State.DRAFT, target=State.SUBMITTED, permission=sheet_owner,
                conditions=[condition(_("every criterion of the round needs a score"))(_all_criteria_scored)])
    def submit(self):
        """The expert submits the sheet; its weighted total is computed and frozen."""
        from .scoring import weighted_total

        self.total = weighted_total(self)

    @transition(field=state, source=State.DRAFT, target=State.RECUSED, permission=sheet_owner)
    def declare_conflict(self, comment=""):
        """The expert declares a conflict of interest and may no longer score this application
        (rule of expert independence); a coordinator assigns another expert."""
        self.conflict_note = comment


class Score(models.Model):
    """One criterion's score (integer 0..10) on a sheet, with the expert's comment."""

    sheet = models.ForeignKey(ScoreSheet, on_delete=models.CASCADE, related_name="scores", verbose_name=_("sheet"))
    criterion = models.ForeignKey("rounds.Criterion", on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("criterion"))
    value = models.PositiveSmallIntegerField(verbose_name=_("value"))
    comment = models.TextField(blank=True, verbose_name=_("comment"))

    class Meta:
        verbose_name = _("score")
        verbose_name_plural = _("scores")
        ordering = ["sheet", "criterion__position"]
        constraints = [
            models.UniqueConstraint(fields=["sheet", "criterion"], name="score_unique_criterion"),
            models.CheckConstraint(condition=models.Q(value__gte=0, value__lte=10), name="score_value_0_10"),
        ]

    def __str__(self) -> str:
        return f"{self.criterion.code}={self.value}"


class Selection(StatefulModel):
    """The selection outcome of one accepted application.

    ``score`` is the mean of the submitted sheets' totals (0..100); ``rank`` is 1-based
    within the round (ties broken as documented in :mod:`processes.selection.scoring`).

    Each state but the decided ones has a task in the coordinators' queue (``task_plan``,
    opened when :func:`processes.selection.services.open_scoring` creates the selection and
    after each transition): close the scoring once the experts have submitted, discuss the
    application once the round's ranking is computed (the round's ``start_discussion``), and
    record the commission's decision (``select``, or ``reject`` with the reason as comment).
    """

    human_tasks = True
    task_plan = {
        "scoring": [("complete_scoring", COORDINATOR, gettext_noop("Close the expert scoring of the application"))],
        "scored": [("discuss", COORDINATOR, gettext_noop("Discuss the scored application jointly with the partner"))],
        "discussed": [("select", COORDINATOR, gettext_noop("Record the commission's decision on the application"),
                       ("reject",))],
    }

    class State(models.TextChoices):
        SCORING = "scoring", _("scoring")
        SCORED = "scored", _("scored")
        DISCUSSED = "discussed", _("discussed")
        SELECTED = "selected", _("selected")
        NOT_SELECTED = "not_selected", _("not selected")

    application = models.OneToOneField("submission.Application", on_delete=models.PROTECT, related_name="selection",
                                       verbose_name=_("application"))
    round = models.ForeignKey("rounds.Round", on_delete=models.PROTECT, related_name="selections",
                              verbose_name=_("round"))
    score = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True, verbose_name=_("score"))
    rank = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("rank"))
    divergent_criteria = models.JSONField(default=list, blank=True,
                                          help_text=_("criteria where experts differ by more than 3 points"),
                                          verbose_name=_("divergent criteria"))
    decision_reason = models.TextField(blank=True, verbose_name=_("decision reason"))
    state = FSMField(default=State.SCORING, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("selection")
        verbose_name_plural = _("selections")
        ordering = ["round", "rank", "application"]

    def __str__(self) -> str:
        return f"{self.application}"

    @property
    def audit_chain(self) -> str:
        return self.application.case.ref

    @transition(field=state, source=State.SCORING, target=State.SCORED, permission=coordinators,
                conditions=[condition(lambda s: _("at least %(count)s expert score sheets must be submitted") % {
                    "count": EXPERTS_PER_APPLICATION})(
                    lambda s: s.application.score_sheets.filter(state="submitted").count() >= EXPERTS_PER_APPLICATION)])
    def complete_scoring(self):
        """Close scoring: the score is the mean of the submitted sheets."""
        from .scoring import application_score, divergent_criteria

        self.score = application_score(self.application)
        self.divergent_criteria = divergent_criteria(self.application)

    @transition(field=state, source=State.SCORED, target=State.DISCUSSED, permission=coordinators,
                conditions=[condition(_("the round's ranking must be computed"))(lambda s: s.rank is not None)])
    def discuss(self):
        """The application was discussed jointly (operator and partner)."""

    @transition(field=state, source=State.DISCUSSED, target=State.SELECTED, permission=coordinators,
                conditions=[
                    condition(lambda s: _("score %(score)s is below the pass mark %(mark)s") % {
                        "score": s.score, "mark": s.round.pass_mark})(
                        lambda s: s.score is not None and s.score >= s.round.pass_mark),
                    condition(lambda s: _("rank %(rank)s is beyond the %(places)s places of the round") % {
                        "rank": s.rank, "places": s.round.max_selected})(
                        lambda s: s.rank is not None and s.rank <= s.round.max_selected),
                ])
    def select(self):
        """The commission selects the cluster as a pilot."""

    @transition(field=state, source=State.DISCUSSED, target=State.NOT_SELECTED, permission=coordinators)
    def reject(self, comment=""):
        """The cluster is not selected; the comment gives the reason."""
        self.decision_reason = comment
