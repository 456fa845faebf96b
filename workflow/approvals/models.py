"""Approvals, decisions and delegations."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from workflow.conditions import condition
from workflow.models import StatefulModel

from . import policy as rules


def _participant(approval, user) -> bool:
    """A signatory of ``approval`` or one of their active deputies (or a coordinator)."""
    from workflow.permissions import COORDINATOR, PARTNER_COORDINATOR, has_role

    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if has_role(user, COORDINATOR, PARTNER_COORDINATOR):
        return True
    return any(d.signatory_id == user.pk or active_delegation(owner=d.signatory, deputy=user, approval=approval)
               for d in approval.decisions.exclude(state=Decision.State.SUPERSEDED))


_participant.reason = _("only a signatory of this approval, their deputy or a coordinator may conclude it")


def _current_states(approval) -> list[str]:
    return list(approval.decisions.exclude(state=Decision.State.SUPERSEDED).order_by("position")
                .values_list("state", flat=True))


def _outcome(approval) -> str | None:
    return rules.outcome(approval.policy, approval.required, approval.veto, _current_states(approval))


class Approval(StatefulModel):
    """One request to approve one exact version of a document (``subject``, its sha256).

    ``key`` groups the versions of one document (a new version's approval supersedes the
    open one with the same key); ``chain`` is the audit chain (the case reference).
    """

    class State(models.TextChoices):
        OPEN = "open", _("open")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        SUPERSEDED = "superseded", _("superseded")

    class Policy(models.TextChoices):
        ALL_OF = rules.ALL_OF, _("all of the signatories")
        QUORUM = rules.QUORUM, _("a quorum of the signatories")
        SEQUENTIAL = rules.SEQUENTIAL, _("every signatory, in order")

    chain = models.CharField(max_length=200, db_index=True, verbose_name=_("chain"))
    key = models.CharField(max_length=200, db_index=True, verbose_name=_("key"))
    title = models.CharField(max_length=300, verbose_name=_("title"))
    subject_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("subject type"))
    subject_id = models.PositiveBigIntegerField(verbose_name=_("subject ID"))
    subject = GenericForeignKey("subject_type", "subject_id")
    subject_sha256 = models.CharField(max_length=64, verbose_name=_("subject SHA-256"))
    subject_version = models.PositiveIntegerField(default=1, verbose_name=_("subject version"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+", help_text=_("the document's author, who may not approve it"),
                               verbose_name=_("author"))
    policy = models.CharField(max_length=20, choices=Policy.choices, default=Policy.ALL_OF, verbose_name=_("policy"))
    required = models.PositiveSmallIntegerField(null=True, blank=True, help_text=_("approvals needed (quorum)"),
                                                verbose_name=_("required"))
    veto = models.BooleanField(default=True, help_text=_("one rejection rejects"), verbose_name=_("veto"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    concluded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("concluded at"))
    state = FSMField(default=State.OPEN, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        ordering = ["chain", "key", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(state="open"), name="approval_one_open_per_key"),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.subject_version}"

    @property
    def audit_chain(self) -> str:
        return self.chain

    @transition(field=state, source=State.OPEN, target=State.APPROVED, permission=_participant,
                conditions=[condition(lambda a: _("the %(policy)s policy is not satisfied yet") % {"policy": a.get_policy_display()})(
                    lambda a: _outcome(a) == rules.APPROVED)])
    def approve(self):
        """The policy is satisfied: the version is approved."""
        self.concluded_at = timezone.now()

    @transition(field=state, source=State.OPEN, target=State.REJECTED, permission=_participant,
                conditions=[condition(_("the decisions so far do not reject the version"))(
                    lambda a: _outcome(a) == rules.REJECTED)])
    def reject(self):
        """A veto, or too few approvals remain possible: the version is rejected."""
        self.concluded_at = timezone.now()

    @transition(field=state, source=[State.OPEN, State.REJECTED], target=State.SUPERSEDED, permission=_participant)
    def supersede(self):
        """A newer version of the document restarts the approval."""
        self.concluded_at = timezone.now()


def active_delegation(*, owner, deputy, approval=None, on: dt.date | None = None):
    """The delegation that lets ``deputy`` act for ``owner`` today (Asia/Almaty), or ``None``.

    A delegation scoped to one approval covers only that approval; an unscoped one (and an
    out-of-office substitution) covers all of the owner's decisions within its dates.
    """
    if owner is None or deputy is None or owner.pk == deputy.pk:
        return None
    on = on or timezone.localdate()
    scope = Q(approval__isnull=True) | (Q(approval=approval) if approval is not None else Q(pk__in=[]))
    return (Delegation.objects.filter(scope, owner=owner, deputy=deputy, starts_on__lte=on, ends_on__gte=on,
                                      revoked_at__isnull=True).order_by("-pk").first())


def _may_decide(decision, user) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    approval = decision.approval
    if approval.author_id is not None and approval.author_id in (user.pk, decision.signatory_id):
        return False
    if decision.signatory_id == user.pk:
        return True
    return active_delegation(owner=decision.signatory, deputy=user, approval=approval) is not None


def _why_not_decide(decision, user) -> str:
    approval = decision.approval
    if user is not None and approval.author_id == getattr(user, "pk", None):
        return str(_("the author of a document may not approve it"))
    if approval.author_id is not None and approval.author_id == decision.signatory_id:
        return str(_("the signatory is the document's author and may not approve it"))
    return _("only %(signatory)s or a deputy with an active delegation may decide on this version") % {
        "signatory": decision.signatory.get_username()}


_may_decide.reason = _why_not_decide


def _earlier_approved(decision) -> bool:
    if decision.approval.policy != rules.SEQUENTIAL:
        return True
    return not decision.approval.decisions.filter(position__lt=decision.position).exclude(
        state__in=[Decision.State.APPROVED, Decision.State.SUPERSEDED]).exists()


class Decision(StatefulModel):
    """One signatory's decision on one approval (one exact version, by its sha256).

    ``decided_by`` is who acted (the signatory or a deputy on their behalf). Each pending
    decision is also a human task in the signatory's inbox (``workflow.tasks``).
    """

    human_tasks = True

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        SUPERSEDED = "superseded", _("superseded")

    approval = models.ForeignKey(Approval, on_delete=models.PROTECT, related_name="decisions",
                                 verbose_name=_("approval"))
    position = models.PositiveSmallIntegerField(verbose_name=_("position"))
    signatory = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions",
                                  verbose_name=_("signatory"))
    role = models.CharField(max_length=200, blank=True, verbose_name=_("role"))
    organisation = models.CharField(max_length=200, blank=True, verbose_name=_("organisation"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    sha256 = models.CharField(max_length=64, blank=True, help_text=_("sha256 of the version decided on"),
                              verbose_name=_("SHA-256"))
    comment = models.TextField(blank=True, verbose_name=_("comment"))
    state = FSMField(default=State.PENDING, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")
        ordering = ["approval", "position"]
        constraints = [
            models.UniqueConstraint(fields=["approval", "position"], name="decision_unique_position"),
            models.UniqueConstraint(fields=["approval", "signatory"], name="decision_once_per_signatory"),
        ]

    def __str__(self) -> str:
        return f"{self.approval}: {self.signatory.get_username()}"

    @property
    def audit_chain(self) -> str:
        return self.approval.chain

    def take_task_transition(self, transition: str, *, actor, comment: str = "", data=None):
        """Complete this decision's inbox task through :func:`~workflow.approvals.services.decide`,
        so the approval is concluded, the sha256 recorded and a deputy named."""
        from .services import decide

        return decide(decision=self, actor=actor, approve=transition == "approve", comment=comment)

    def _decide(self, actor, comment):
        self.decided_by, self.decided_at, self.comment = actor, timezone.now(), comment
        self.sha256 = self.approval.subject_sha256

    _open = condition(_("the approval is no longer open"))(lambda d: d.approval.state == Approval.State.OPEN)
    _in_order = condition(_("earlier signatories in the sequence have not approved yet"))(_earlier_approved)

    @transition(field=state, source=State.PENDING, target=State.APPROVED, permission=_may_decide,
                conditions=[_open, _in_order])
    def approve(self, actor=None, comment=""):
        """Approve the exact version the approval names."""
        self._decide(actor, comment)

    @transition(field=state, source=State.PENDING, target=State.REJECTED, permission=_may_decide,
                conditions=[_open, _in_order])
    def reject(self, actor=None, comment=""):
        """Reject the version (the comment gives the reason)."""
        self._decide(actor, comment)

    @transition(field=state, source=[State.PENDING, State.APPROVED, State.REJECTED], target=State.SUPERSEDED,
                permission=lambda decision, user: _participant(decision.approval, user))
    def supersede(self):
        """A newer version restarts the approval; this decision no longer counts."""


#: The longest delegation, and the farthest its start may be from today (calendar days).
MAX_DELEGATION_DAYS = 366


class Delegation(models.Model):
    """``owner`` lets ``deputy`` decide on their behalf from ``starts_on`` to ``ends_on``
    (calendar dates, Asia/Almaty, both included). ``approval`` limits it to one approval;
    ``kind`` tells a hand-over of a task from an out-of-office substitution.
    """

    class Kind(models.TextChoices):
        DELEGATION = "delegation", _("delegation")
        OUT_OF_OFFICE = "out_of_office", _("out of office")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_given",
                              verbose_name=_("owner"))
    deputy = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="delegations_received", verbose_name=_("deputy"))
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.DELEGATION, verbose_name=_("kind"))
    approval = models.ForeignKey(Approval, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                 verbose_name=_("approval"))
    starts_on = models.DateField(verbose_name=_("starts on"))
    ends_on = models.DateField(verbose_name=_("ends on"))
    reason = models.CharField(max_length=300, blank=True, verbose_name=_("reason"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))

    class Meta:
        verbose_name = _("delegation")
        verbose_name_plural = _("delegations")
        ordering = ["owner", "-starts_on"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="delegation_dates_ordered"),
            models.CheckConstraint(condition=~Q(owner=models.F("deputy")), name="delegation_not_to_self"),
        ]

    def __str__(self) -> str:
        return f"{self.owner.get_username()} -> {self.deputy.get_username()} ({self.starts_on}..{self.ends_on})"

    def problems(self, *, today: dt.date | None = None) -> dict[str, str]:
        """What makes this delegation unacceptable, ``{field: message}`` in the active language
        (empty when none): the owner delegating to themselves; a deputy who does not hold the
        signatory role, or who is an applicant (holds the applicant role or is a case's
        applicant: a deputy sees the cases of the approvals it stands in for, breaker F8b);
        dates out of order, a period over :data:`MAX_DELEGATION_DAYS` calendar days, or a start
        more than that many days before or after ``today`` (Asia/Almaty; default today)."""
        from django.apps import apps
        from django.utils.translation import gettext

        from workflow.permissions import APPLICANT, SIGNATORY, has_role

        problems: dict[str, str] = {}
        owner, deputy = getattr(self, "owner", None), getattr(self, "deputy", None)
        if owner is not None and deputy is not None and owner.pk == deputy.pk:
            problems["deputy"] = gettext("A signatory cannot delegate to themselves.")
        elif deputy is not None:
            applicant = (deputy.groups.filter(name=APPLICANT).exists()
                         or apps.get_model("rounds", "Case").objects.filter(applicant_id=deputy.pk).exists())
            if applicant:
                problems["deputy"] = gettext("The deputy is an applicant; an applicant may not decide for a "
                                             "signatory.")
            elif not has_role(deputy, SIGNATORY):
                problems["deputy"] = gettext("The deputy must hold the signatory role.")
        if self.starts_on and self.ends_on:
            today = today or timezone.localdate()
            if self.ends_on < self.starts_on:
                problems["ends_on"] = gettext("The delegation ends (%(end)s) before it starts (%(start)s).") % {
                    "end": self.ends_on, "start": self.starts_on}
            elif (self.ends_on - self.starts_on).days >= MAX_DELEGATION_DAYS:
                problems["ends_on"] = gettext("A delegation lasts at most %(days)s days.") % {
                    "days": MAX_DELEGATION_DAYS}
            if abs((self.starts_on - today).days) > MAX_DELEGATION_DAYS:
                problems["starts_on"] = gettext("A delegation starts within %(days)s days of today.") % {
                    "days": MAX_DELEGATION_DAYS}
        return problems

    def clean(self):
        """The admin's form check: :meth:`problems` as field errors."""
        from django.core.exceptions import ValidationError

        problems = self.problems()
        if problems:
            raise ValidationError(problems)
