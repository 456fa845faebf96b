"""Development plans, their actions, and signing by every signatory of the round.

Plan states (DESIGN.md): ``drafting -> review -> (revision_requested <-> resubmitted) ->
signing -> approved | rejected``; a rejected plan returns to ``drafting`` (``return_to_draft``). The signing itself is a :mod:`workflow.approvals` approval of
the exact plan document version, under the policy the round sets for ``development_plan``
(default: every signatory, and one rejection rejects).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_fsm import FSMField, transition

from workflow.conditions import condition
from workflow.models import StatefulModel
from workflow.permissions import COORDINATOR, coordinators

from processes.rounds.models import CaseStage


def _actions_complete(plan) -> bool:
    actions = list(plan.actions.all())
    return bool(actions) and all(a.measure and a.responsible and a.deadline and a.kpi for a in actions)


def _approval_in(plan, state: str) -> bool:
    approval = plan.current_approval
    return approval is not None and approval.state == state


class Plan(CaseStage, StatefulModel):
    """A cluster development plan: vision, governance model and an action table."""

    human_tasks = True
    #: Taken through :func:`processes.planning.services.take_routed` on every path (inbox task,
    #: API, page): the plan document and the signatories' approval, the approval sheet
    #: (``workflow.tasks``, "Routing").
    routed_transitions = frozenset({"send_for_signing", "approve", "reject"})
    task_plan = {
        "drafting": [("submit_for_review", COORDINATOR, gettext_noop("Draft the development plan"))],
        "review": [("send_for_signing", COORDINATOR, gettext_noop("Review the plan and send it for signing"),
                    ("request_revision",))],
        "revision_requested": [("resubmit", COORDINATOR, gettext_noop("Revise the development plan"))],
        "resubmitted": [("send_for_signing", COORDINATOR, gettext_noop("Review the revised plan"), ("request_revision",))],
        # the signatories rejected it: the coordinator takes it back to drafting (return_to_draft)
        "rejected": [("return_to_draft", COORDINATOR, gettext_noop("Revise the development plan"))],
    }

    class State(models.TextChoices):
        DRAFTING = "drafting", _("drafting")
        REVIEW = "review", _("review")
        REVISION_REQUESTED = "revision_requested", _("revision requested")
        RESUBMITTED = "resubmitted", _("resubmitted")
        SIGNING = "signing", _("signing")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    case = models.OneToOneField("rounds.Case", on_delete=models.PROTECT, related_name="plan", verbose_name=_("case"))
    vision = models.TextField(blank=True, verbose_name=_("vision"))
    governance = models.TextField(blank=True, verbose_name=_("governance"))
    state = FSMField(default=State.DRAFTING, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("development plan")
        verbose_name_plural = _("development plans")

    def __str__(self) -> str:
        return f"{self.case.ref} plan"

    @property
    def audit_chain(self) -> str:
        return self.case.ref

    def save(self, *args, **kwargs):
        """Save the plan; a change of an existing plan of a suspended case (its vision,
        governance or actions: ``processes.planning.forms.write_plan`` saves the plan first,
        on the API, the case page's form and anywhere else) is refused with
        ``TransitionNotAllowed`` (409) naming the suspension (``CaseStage.ensure_not_suspended``)."""
        if self.pk is not None:
            self.ensure_not_suspended("content_changed")
        super().save(*args, **kwargs)

    def due_at_for(self, limit: str):
        """Due date of a step under the round's ``review_working_days[limit]``."""
        return self.case.round.due_at(limit)

    def take_task_transition(self, transition: str, *, actor, comment: str = "", data=None):
        """Take ``transition`` through the planning services (``send_for_signing``: the plan
        document and the approval; ``approve`` / ``reject``: the approval sheet), any other
        with ``perform``. See :func:`processes.planning.services.take_routed`."""
        from .services import take_routed

        return take_routed(self, transition, actor=actor, comment=comment, data=data)

    @property
    def approval_key(self) -> str:
        """The key that groups the approvals of every version of this plan's document."""
        return f"{self.case.ref}:development_plan"

    @property
    def current_approval(self):
        """The newest :class:`~workflow.approvals.models.Approval` of the plan document, or None."""
        from workflow.approvals.models import Approval

        return Approval.objects.filter(key=self.approval_key).order_by("-pk").first()

    @property
    def total_budget_kzt(self):
        """Sum of the actions' budgets, in KZT."""
        return sum((a.budget_kzt for a in self.actions.all()), 0)

    @transition(field=state, source=State.DRAFTING, target=State.REVIEW, permission=coordinators,
                conditions=[condition(_("the plan needs at least one action with measure, responsible party, "
                                        "deadline and KPI"))(_actions_complete)])
    def submit_for_review(self):
        """The draft goes to review by the operator and the partner."""

    @transition(field=state, source=[State.REVIEW, State.RESUBMITTED], target=State.REVISION_REQUESTED,
                permission=coordinators)
    def request_revision(self):
        """Reviewers ask for changes (the comment says which)."""

    @transition(field=state, source=State.REVISION_REQUESTED, target=State.RESUBMITTED, permission=coordinators,
                conditions=[condition(_("the plan needs complete actions"))(_actions_complete)])
    def resubmit(self):
        """The revised plan comes back to review."""

    @transition(field=state, source=[State.REVIEW, State.RESUBMITTED], target=State.SIGNING,
                permission=coordinators)
    def send_for_signing(self):
        """The plan document is sent to the signatories."""

    @transition(field=state, source=State.SIGNING, target=State.APPROVED, permission=coordinators,
                conditions=[condition(_("the current version of the plan must be approved under the round's policy"))(
                    lambda p: _approval_in(p, "approved"))])
    def approve(self):
        """All signatories approved the same document version."""

    @transition(field=state, source=State.SIGNING, target=State.REJECTED, permission=coordinators,
                conditions=[condition(_("the approval of the current version must have been rejected"))(
                    lambda p: _approval_in(p, "rejected"))])
    def reject(self):
        """A signatory rejected the plan (veto)."""

    @transition(field=state, source=State.REJECTED, target=State.DRAFTING, permission=coordinators)
    def return_to_draft(self):
        """After the signatories' rejection the coordinator revises the plan: it is drafted again
        (editable on the case page's form and ``PATCH /api/plans/<id>/``), then submitted for
        review and sent for signing anew, as a new version of the plan document with a new
        approval; the rejected version, its approval and its approval sheet stay on record."""


class PlanAction(models.Model):
    """One line of the action plan: measure, responsible party, deadline, budget (KZT), KPI."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="actions", verbose_name=_("plan"))
    position = models.PositiveSmallIntegerField(verbose_name=_("position"))
    measure = models.TextField(verbose_name=_("measure"))
    responsible = models.CharField(max_length=300, verbose_name=_("responsible"))
    deadline = models.DateField(verbose_name=_("deadline"))
    budget_kzt = models.DecimalField(max_digits=16, decimal_places=2, help_text=_("KZT"), verbose_name=_("budget, KZT"))
    kpi = models.CharField(max_length=300, verbose_name=_("KPI"))
    kpi_target = models.DecimalField(max_digits=14, decimal_places=2, verbose_name=_("KPI target"))
    kpi_unit = models.CharField(max_length=50, blank=True, verbose_name=_("KPI unit"))

    class Meta:
        verbose_name = _("plan action")
        verbose_name_plural = _("plan actions")
        ordering = ["plan", "position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "position"], name="plan_action_unique_position"),
            models.CheckConstraint(condition=models.Q(budget_kzt__gte=0), name="plan_action_budget_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.measure[:60]}"
