"""Applications: filing, completeness check, refusal of excluded sectors.

States (DESIGN.md): ``draft -> submitted -> (returned_for_revision <-> resubmitted) ->
accepted | refused | withdrawn``. Refusal reasons: excluded sector, incomplete, late.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_fsm import FSMField, transition

from workflow.conditions import condition
from workflow.exceptions import ConditionUnmet
from workflow.models import StatefulModel
from workflow.permissions import COORDINATOR, coordinators, role_required

applicant_or_coordinator = role_required(COORDINATOR, owner=lambda a: a.case.applicant)
own_applicant = role_required(owner=lambda a: a.case.applicant)

#: Fields an application must fill before it can be submitted.
REQUIRED_FIELDS = ("name_en", "region", "sector", "anchor_enterprises", "smes", "employees",
                   "export_share_pct", "research_partners")


class RefusalReason(models.TextChoices):
    EXCLUDED_SECTOR = "excluded_sector", _("excluded sector")
    INCOMPLETE = "incomplete", _("incomplete application")
    LATE = "late", _("filed after the deadline")


def missing_fields(application) -> list[str]:
    """Names of :data:`REQUIRED_FIELDS` that ``application`` leaves empty."""
    return [f for f in REQUIRED_FIELDS if getattr(application, f) in (None, "")]


def normalise_sector(text: str) -> str:
    """Lower-case ``text`` and fold dashes and spaces, for sector comparisons."""
    return " ".join(text.casefold().replace("-", " ").replace("_", " ").split())


def excluded_sector(application) -> str | None:
    """Return the round's excluded sector that ``application.sector`` falls in, or ``None``.

    A sector is excluded when, after :func:`normalise_sector`, it equals or contains an
    entry of ``round.excluded_sectors`` (rule of the 2017 round: non-oil pilots only; oil and
    gas initiatives belong to the national cluster, sources S1 and L8 of the sample).
    """
    sector = normalise_sector(application.sector)
    for entry in application.round.excluded_sectors:
        if normalise_sector(entry) and normalise_sector(entry) in sector:
            return entry
    return None


class Application(StatefulModel):
    """An application to a round by a cluster; one per case.

    Figures: ``employees`` (people), ``export_share_pct`` (percent of output exported),
    ``anchor_enterprises``, ``smes`` and ``research_partners`` (counts).
    """

    human_tasks = True  # completeness check / scoring tasks (workflow.tasks)

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        SUBMITTED = "submitted", _("submitted")
        RETURNED_FOR_REVISION = "returned_for_revision", _("returned for revision")
        RESUBMITTED = "resubmitted", _("resubmitted")
        ACCEPTED = "accepted", _("accepted")
        REFUSED = "refused", _("refused")
        WITHDRAWN = "withdrawn", _("withdrawn")

    case = models.OneToOneField("rounds.Case", on_delete=models.PROTECT, related_name="application",
                                verbose_name=_("case"))
    round = models.ForeignKey("rounds.Round", on_delete=models.PROTECT, related_name="applications",
                              verbose_name=_("round"))
    ref = models.CharField(max_length=20, verbose_name=_("reference"))
    name_en = models.CharField(max_length=300, verbose_name=_("name (English)"))
    name_ru = models.CharField(max_length=300, blank=True, verbose_name=_("name (Russian)"))
    name_kk = models.CharField(max_length=300, blank=True, verbose_name=_("name (Kazakh)"))
    region = models.CharField(max_length=200, blank=True, verbose_name=_("region"))
    city = models.CharField(max_length=200, blank=True, verbose_name=_("city"))
    sector = models.CharField(max_length=200, blank=True, verbose_name=_("sector"))
    anchor_enterprises = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("anchor enterprises"))
    smes = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("SMEs"))
    employees = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("employees"))
    export_share_pct = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True,
                                           verbose_name=_("export share percent"))
    research_partners = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("research partners"))
    members_named = models.JSONField(default=list, blank=True, verbose_name=_("members named"))
    labels = models.JSONField(default=dict, blank=True, help_text=_("provenance labels from the source file"),
                              verbose_name=_("labels"))
    submitted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("submitted at"))
    refusal_reason = models.CharField(max_length=30, choices=RefusalReason.choices, blank=True,
                                      verbose_name=_("refusal reason"))
    refusal_detail = models.TextField(blank=True, verbose_name=_("refusal detail"))
    state = FSMField(default=State.DRAFT, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["round", "ref"]
        constraints = [
            models.UniqueConstraint(fields=["round", "ref"], name="application_unique_ref"),
            models.CheckConstraint(
                condition=models.Q(export_share_pct__isnull=True)
                | models.Q(export_share_pct__gte=0, export_share_pct__lte=100),
                name="application_export_share_pct_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case.ref}" if self.case_id else self.ref

    @property
    def audit_chain(self) -> str:
        return self.case.ref

    def name(self, language: str) -> str:
        return getattr(self, f"name_{language}", "") or self.name_ru or self.name_en

    @transition(field=state, source=State.DRAFT, target=State.SUBMITTED, permission=applicant_or_coordinator,
                conditions=[
                    condition(_("the round must be open for applications"))(lambda a: a.round.state == "open"),
                    condition(lambda a: _("required fields are empty: %(fields)s") % {"fields": ", ".join(missing_fields(a))})(
                        lambda a: not missing_fields(a)),
                ])
    def submit(self):
        """File the application."""
        from django.utils import timezone

        self.submitted_at = timezone.now()

    @transition(field=state, source=[State.SUBMITTED, State.RESUBMITTED], target=State.RETURNED_FOR_REVISION,
                permission=coordinators)
    def return_for_revision(self):
        """Ask the applicant to complete or correct the application (comment says what)."""

    @transition(field=state, source=State.RETURNED_FOR_REVISION, target=State.RESUBMITTED,
                permission=own_applicant,
                conditions=[condition(lambda a: _("required fields are empty: %(fields)s") % {"fields": ", ".join(missing_fields(a))})(
                    lambda a: not missing_fields(a))])
    def resubmit(self):
        """File the revised application."""

    @transition(field=state, source=[State.SUBMITTED, State.RESUBMITTED], target=State.ACCEPTED,
                permission=coordinators,
                conditions=[
                    condition(lambda a: _("the sector %(sector)s is excluded from the round (%(rule)s)") % {
                        "sector": repr(a.sector), "rule": excluded_sector(a)})(lambda a: excluded_sector(a) is None),
                    condition(lambda a: _("required fields are empty: %(fields)s") % {"fields": ", ".join(missing_fields(a))})(
                        lambda a: not missing_fields(a)),
                ])
    def accept(self):
        """The completeness check passed: the application goes to scoring."""

    @transition(field=state, source=[State.SUBMITTED, State.RESUBMITTED], target=State.REFUSED,
                permission=coordinators)
    def refuse(self, data):
        """Refuse the application; ``data={"reason": one of RefusalReason, "detail": text}``.

        Raises ``ConditionUnmet`` when the reason is missing or unknown.
        """
        reason = (data or {}).get("reason")
        if reason not in RefusalReason.values:
            msg = "a refusal needs data.reason, one of: " + ", ".join(RefusalReason.values)
            raise ConditionUnmet(f"cannot refuse {self}: {msg}", reason=msg, obj=self, transition="refuse")
        self.refusal_reason = reason
        self.refusal_detail = str((data or {}).get("detail", ""))

    @transition(field=state, source=[State.DRAFT, State.SUBMITTED, State.RETURNED_FOR_REVISION,
                                     State.RESUBMITTED], target=State.WITHDRAWN, permission=own_applicant)
    def withdraw(self):
        """The applicant withdraws the application."""

    @transition(field=state, source=State.RETURNED_FOR_REVISION, target=State.REFUSED, permission=coordinators)
    def lapse(self):
        """The revision was not filed by its due date: refused as late. Taken only by the opt-in
        expiry rule ``revision_reply: lapse`` of the round (``Round.expiry_rules``) through
        ``workflow.deadlines.expire``, or by a coordinator."""
        self.refusal_reason = RefusalReason.LATE
        self.refusal_detail = "The revised application was not filed by its due date."

    #: The deadline of an applicant's revision (``Round.review_working_days["revision_reply"]``).
    REVISION_LIMIT = "revision_reply"
    REVISION_LABEL = gettext_noop("Revise and resubmit the application")

    def after_transition(self, transition: str, *, actor, comment: str = "") -> None:
        """Returned for revision: the applicant gets a deadline (the round's ``revision_reply``
        limit, in working days; with the round's opt-in expiry rule it lapses when missed).
        Leaving that state closes it. An accepted, refused or lapsed application has the
        consequences of :func:`processes.submission.services.completeness_decided` (receipt,
        decision notice, the case moves on or is refused; same transaction)."""
        from workflow import deadlines
        from workflow.models import Deadline

        if self.state == self.State.RETURNED_FOR_REVISION:
            rnd = self.round
            due = rnd.due_at(self.REVISION_LIMIT)
            if due is not None and self.case.applicant_id is not None:
                deadlines.open_deadline(
                    chain=self.audit_chain, label=self.REVISION_LABEL, due_at=due, subject=self,
                    responsible=self.case.applicant, language=self.case.language,
                    on_expiry=(rnd.expiry_rules or {}).get(self.REVISION_LIMIT, ""))
        else:
            from django.contrib.contenttypes.models import ContentType
            from django.utils import timezone

            Deadline.objects.filter(subject_type=ContentType.objects.get_for_model(self), subject_id=self.pk,
                                    label=self.REVISION_LABEL, closed_at__isnull=True).update(closed_at=timezone.now())
        from .services import completeness_decided

        # accepted: receipt, case on to selection; refused or lapsed: receipt, decision notice,
        # case refused (the same service behind every path)
        completeness_decided(application=self, transition=transition, actor=actor, comment=comment)
