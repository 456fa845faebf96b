"""State support measures and their coordination with government bodies.

Measure states (DESIGN.md): ``proposed -> coordination -> agreed | declined``, then
``agreed -> in_force``. Each government body gives one position: ``pending -> agreed |
objected``. A measure is agreed when every body agreed, declined when any objected.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_fsm import FSMField, transition

from workflow.conditions import condition
from workflow.models import StatefulModel
from workflow.permissions import COORDINATOR, coordinators

from processes.rounds.models import CaseStage


class SupportMeasure(CaseStage, StatefulModel):
    """A support measure for a cluster, e.g. reimbursement of cluster management costs.

    ``amount_kzt`` is per year in KZT; ``reimbursement_pct`` the share reimbursed (0..100);
    ``legal_basis`` the act it rests on (2017: Order No. 1194 of 2015-12-09).
    """

    human_tasks = True
    #: Taken through :func:`processes.support.services.take_routed` on every path (inbox task,
    #: API, page): the coordination sheet, then in force (``workflow.tasks``, "Routing").
    routed_transitions = frozenset({"agree", "decline"})
    #: The coordination's limit (a ``Round.review_working_days`` key): each body's position and
    #: the concluding task are due ``support_coordination`` working days after the measure was
    #: sent to the bodies (30 in the 2017 sample, labelled illustrative there).
    COORDINATION_LIMIT = "support_coordination"
    task_plan = {
        "proposed": [("start_coordination", COORDINATOR, gettext_noop("Send the measure to the government bodies"))],
        # the concluding task: opened only once every body has answered (``task_ready``), for
        # the one outcome the positions allow
        "coordination": [
            ("agree", COORDINATOR, gettext_noop("Conclude the coordination: every government body agreed"), (),
             COORDINATION_LIMIT),
            ("decline", COORDINATOR, gettext_noop("Conclude the coordination: a government body objected"), (),
             COORDINATION_LIMIT),
        ],
        "agreed": [("put_in_force", COORDINATOR, gettext_noop("Put the agreed measure in force"))],
    }

    class State(models.TextChoices):
        PROPOSED = "proposed", _("proposed")
        COORDINATION = "coordination", _("coordination")
        AGREED = "agreed", _("agreed")
        DECLINED = "declined", _("declined")
        IN_FORCE = "in_force", _("in force")

    case = models.ForeignKey("rounds.Case", on_delete=models.PROTECT, related_name="support_measures",
                             verbose_name=_("case"))
    title = models.CharField(max_length=300, verbose_name=_("title"))
    amount_kzt = models.DecimalField(max_digits=16, decimal_places=2, help_text=_("KZT per year"),
                                     verbose_name=_("amount, KZT"))
    reimbursement_pct = models.DecimalField(max_digits=5, decimal_places=2, verbose_name=_("reimbursement percent"))
    legal_basis = models.TextField(blank=True, verbose_name=_("legal basis"))
    state = FSMField(default=State.PROPOSED, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("support measure")
        verbose_name_plural = _("support measures")
        ordering = ["case", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_kzt__gte=0), name="measure_amount_nonnegative"),
            models.CheckConstraint(condition=models.Q(reimbursement_pct__gte=0, reimbursement_pct__lte=100),
                                   name="measure_pct_0_100"),
        ]

    def __str__(self) -> str:
        return f"{self.case.ref}: {self.title}"

    @property
    def audit_chain(self) -> str:
        return self.case.ref

    def task_ready(self, transition: str) -> bool:
        """Whether the ``task_plan`` entry for ``transition`` may open now
        (:func:`workflow.tasks.follow_up`).

        The concluding tasks wait for every body: ``agree`` is ready when every position is
        ``agreed``, ``decline`` when none is ``pending`` any more and at least one is
        ``objected`` (so exactly one of them opens, once the last body answers). Every other
        entry is always ready. One query.
        """
        if transition not in ("agree", "decline"):
            return True
        states = set(self.positions.values_list("state", flat=True))
        if not states or BodyPosition.State.PENDING in states:
            return False
        return (BodyPosition.State.OBJECTED in states) == (transition == "decline")

    def coordination_started_at(self):
        """When the measure was sent to the government bodies: the time of its latest
        ``start_coordination`` audit entry (aware), or ``None`` before that."""
        from workflow.models import AuditEntry
        from workflow.transitions import object_type

        entry = (AuditEntry.objects.filter(chain=self.audit_chain, object_type=object_type(self),
                                           object_id=str(self.pk), transition="start_coordination")
                 .order_by("-seq").only("created_at").first())
        return entry.created_at if entry is not None else None

    def due_at_for(self, limit: str):
        """Due date of the concluding task: ``review_working_days[limit]`` working days (the
        round's ``support_coordination``) after the measure was sent to the bodies
        (:meth:`coordination_started_at`; now when there is no such entry), i.e. the same day
        as the bodies' positions opened with it: the whole coordination, answers and conclusion,
        has one limit. Counted on Kazakhstan's calendar (``Round.due_at``); ``None`` when the
        round sets no such limit. A body answering late makes the conclusion due at once (the
        deadline escalates from the next working day, docs/deadlines.md)."""
        return self.case.round.due_at(limit, start=self.coordination_started_at())

    def take_task_transition(self, transition: str, *, actor, comment: str = "", data=None):
        """Take ``transition`` through the support services (``agree`` / ``decline``: the
        coordination sheet, and an agreed measure is put in force), any other with
        ``perform``. See :func:`processes.support.services.take_routed`."""
        from .services import take_routed

        return take_routed(self, transition, actor=actor, comment=comment, data=data)

    @transition(field=state, source=State.PROPOSED, target=State.COORDINATION, permission=coordinators,
                conditions=[condition(_("at least one government body must be asked for its position"))(
                    lambda m: m.positions.exists())])
    def start_coordination(self):
        """The measure is sent to the government bodies."""

    @transition(field=state, source=State.COORDINATION, target=State.AGREED, permission=coordinators,
                conditions=[condition(_("every government body must agree"))(
                    lambda m: m.positions.exists() and not m.positions.exclude(state="agreed").exists())])
    def agree(self):
        """Every body agreed."""

    @transition(field=state, source=State.COORDINATION, target=State.DECLINED, permission=coordinators,
                conditions=[condition(_("a government body must have objected"))(
                    lambda m: m.positions.filter(state="objected").exists())])
    def decline(self):
        """A body objected."""

    @transition(field=state, source=State.AGREED, target=State.IN_FORCE, permission=coordinators)
    def put_in_force(self):
        """The agreement is signed and the measure applies."""


class BodyPosition(CaseStage, StatefulModel):
    """One government body's position on a measure (recorded by a coordinator from its letter)."""

    human_tasks = True
    task_plan = {"pending": [("agree", COORDINATOR, gettext_noop("Record the government body's position"), ("lodge_objection",),
                              "support_coordination")]}

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        AGREED = "agreed", _("agreed")
        OBJECTED = "objected", _("objected")

    measure = models.ForeignKey(SupportMeasure, on_delete=models.PROTECT, related_name="positions",
                                verbose_name=_("measure"))
    body = models.CharField(max_length=300, verbose_name=_("body"))
    comment = models.TextField(blank=True, verbose_name=_("comment"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    state = FSMField(default=State.PENDING, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("government body's position")
        verbose_name_plural = _("government bodies' positions")
        ordering = ["measure", "pk"]
        constraints = [models.UniqueConstraint(fields=["measure", "body"], name="position_one_per_body")]

    def __str__(self) -> str:
        return f"{self.measure}: {self.body}"

    @property
    def audit_chain(self) -> str:
        return self.measure.case.ref

    def stage_case(self):
        """The case of the position's measure (frozen while it is suspended, see ``CaseStage``)."""
        return self.measure.case

    def due_at_for(self, limit: str):
        """Due date of the body's position under the round's ``review_working_days[limit]``."""
        return self.measure.case.round.due_at(limit)

    def after_transition(self, transition: str, *, actor, comment: str = "") -> None:
        """Once the last body has answered, the measure's concluding task opens in the
        coordinators' queue (``SupportMeasure.task_plan["coordination"]``, ``task_ready``);
        completing it routes through ``conclude_coordination``. Same transaction as the answer."""
        from workflow.tasks import follow_up

        if transition in ("agree", "lodge_objection"):
            follow_up(SupportMeasure.objects.select_related("case__round").get(pk=self.measure_id))

    @transition(field=state, source=State.PENDING, target=State.AGREED, permission=coordinators)
    def agree(self, comment=""):
        """The body agrees."""
        from django.utils import timezone

        self.comment, self.decided_at = comment, timezone.now()

    @transition(field=state, source=State.PENDING, target=State.OBJECTED, permission=coordinators)
    def lodge_objection(self, comment=""):
        """The body objects (the comment gives its reasons)."""
        from django.utils import timezone

        self.comment, self.decided_at = comment, timezone.now()
