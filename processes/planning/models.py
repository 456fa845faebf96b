"""Development plans, their actions, and signing by every signatory of the round.

Plan states (DESIGN.md): ``drafting -> review -> (revision_requested <-> resubmitted) ->
signing -> approved | rejected``. Signature states: ``pending -> approved | rejected``, and
``superseded`` when a new version of the plan document restarts the signing.
Approval policy of the 2017 round: every signatory (all-of); one rejection rejects (veto).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from workflow.conditions import condition
from workflow.models import StatefulModel
from workflow.permissions import COORDINATOR, PARTNER_COORDINATOR, role_required

coordinators = role_required(COORDINATOR, PARTNER_COORDINATOR)


def _actions_complete(plan) -> bool:
    actions = list(plan.actions.all())
    return bool(actions) and all(a.measure and a.responsible and a.deadline and a.kpi for a in actions)


def _all_signed(plan) -> bool:
    current = plan.signatures.exclude(state="superseded")
    return current.exists() and not current.exclude(state="approved").exists()


def _any_rejected(plan) -> bool:
    return plan.signatures.filter(state="rejected").exists()


class Plan(ConcurrentTransitionMixin, StatefulModel):
    """A cluster development plan: vision, governance model and an action table."""

    class State(models.TextChoices):
        DRAFTING = "drafting", _("drafting")
        REVIEW = "review", _("review")
        REVISION_REQUESTED = "revision_requested", _("revision requested")
        RESUBMITTED = "resubmitted", _("resubmitted")
        SIGNING = "signing", _("signing")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    case = models.OneToOneField("rounds.Case", on_delete=models.PROTECT, related_name="plan")
    vision = models.TextField(blank=True)
    governance = models.TextField(blank=True)
    state = FSMField(default=State.DRAFTING, choices=State.choices, protected=True)

    def __str__(self) -> str:
        return f"{self.case.ref} plan"

    @property
    def audit_chain(self) -> str:
        return self.case.ref

    @property
    def total_budget_kzt(self):
        """Sum of the actions' budgets, in KZT."""
        return sum((a.budget_kzt for a in self.actions.all()), 0)

    @transition(field=state, source=State.DRAFTING, target=State.REVIEW, permission=coordinators,
                conditions=[condition("the plan needs at least one action with measure, responsible party, "
                                      "deadline and KPI")(_actions_complete)])
    def submit_for_review(self):
        """The draft goes to review by the operator and the partner."""

    @transition(field=state, source=[State.REVIEW, State.RESUBMITTED], target=State.REVISION_REQUESTED,
                permission=coordinators)
    def request_revision(self):
        """Reviewers ask for changes (the comment says which)."""

    @transition(field=state, source=State.REVISION_REQUESTED, target=State.RESUBMITTED, permission=coordinators,
                conditions=[condition("the plan needs complete actions")(_actions_complete)])
    def resubmit(self):
        """The revised plan comes back to review."""

    @transition(field=state, source=[State.REVIEW, State.RESUBMITTED], target=State.SIGNING,
                permission=coordinators)
    def send_for_signing(self):
        """The plan document is sent to the signatories."""

    @transition(field=state, source=State.SIGNING, target=State.APPROVED, permission=coordinators,
                conditions=[condition("every signatory must approve the current version of the plan")(_all_signed)])
    def approve(self):
        """All signatories approved the same document version."""

    @transition(field=state, source=State.SIGNING, target=State.REJECTED, permission=coordinators,
                conditions=[condition("a signatory must have rejected the plan")(_any_rejected)])
    def reject(self):
        """A signatory rejected the plan (veto)."""


class PlanAction(models.Model):
    """One line of the action plan: measure, responsible party, deadline, budget (KZT), KPI."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveSmallIntegerField()
    measure = models.TextField()
    responsible = models.CharField(max_length=300)
    deadline = models.DateField()
    budget_kzt = models.DecimalField(max_digits=16, decimal_places=2, help_text="KZT")
    kpi = models.CharField(max_length=300)
    kpi_target = models.DecimalField(max_digits=14, decimal_places=2)
    kpi_unit = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["plan", "position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "position"], name="plan_action_unique_position"),
            models.CheckConstraint(condition=models.Q(budget_kzt__gte=0), name="plan_action_budget_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.measure[:60]}"


class Signature(ConcurrentTransitionMixin, StatefulModel):
    """One signatory's decision on one version of the plan document.

    ``sha256`` is the hash of the exact document version decided on.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        SUPERSEDED = "superseded", _("superseded")

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="signatures")
    signatory = models.ForeignKey("rounds.RoundSignatory", on_delete=models.PROTECT, related_name="signatures")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signatures")
    document_version = models.ForeignKey("documents.DocumentVersion", on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    state = FSMField(default=State.PENDING, choices=State.choices, protected=True)

    class Meta:
        ordering = ["plan", "signatory__position"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "signatory", "document_version"], name="signature_once_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.plan.case.ref} plan: {self.signatory}"

    @property
    def audit_chain(self) -> str:
        return self.plan.case.ref

    @transition(field=state, source=State.PENDING, target=State.APPROVED,
                permission=role_required(owner=lambda s: s.user))
    def approve(self, comment=""):
        """The signatory approves this document version."""
        from django.utils import timezone

        self.comment, self.decided_at = comment, timezone.now()

    @transition(field=state, source=State.PENDING, target=State.REJECTED,
                permission=role_required(owner=lambda s: s.user))
    def reject(self, comment=""):
        """The signatory rejects this document version (the comment gives the reason)."""
        from django.utils import timezone

        self.comment, self.decided_at = comment, timezone.now()

    @transition(field=state, source=[State.PENDING, State.APPROVED, State.REJECTED], target=State.SUPERSEDED,
                permission=coordinators)
    def supersede(self):
        """A newer document version restarts the signing; this decision no longer counts."""
