"""A round (call for applications) and its cases (one per cluster).

Round and Case states follow DESIGN.md: Round ``draft -> open -> closed -> scoring ->
discussion -> decided -> published``; Case ``submission -> selection -> diagnosis ->
planning -> support -> implementation -> closed`` with off-ramps ``refused``,
``not_selected``, ``withdrawn`` and ``suspended``.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_fsm import RETURN_VALUE, FSMField, transition

from workflow.conditions import condition
from workflow.models import StatefulModel
from workflow.permissions import COORDINATOR, coordinators, role_required


class Round(StatefulModel):
    """A competitive selection: criteria with weights, pass mark, limits and signatories.

    ``review_working_days`` maps a step (e.g. ``completeness_check``) to its limit in working
    days on the Kazakhstan calendar; ``pass_mark`` is on the 0..100 weighted scale.

    From ``closed`` to ``decided`` each state has a task in the coordinators' queue for its
    next step (``task_plan``; an open round is closed from the round page or the API when its
    call ends); the steps' papers and ranking follow in ``after_transition``.
    """

    human_tasks = True
    task_plan = {
        "closed": [("start_scoring", COORDINATOR, gettext_noop("Hand the accepted applications to the experts"))],
        "scoring": [("start_discussion", COORDINATOR,
                     gettext_noop("Close the round's scoring and compute the ranking"))],
        "discussion": [("decide", COORDINATOR, gettext_noop("Record the commission's decision on the round"))],
        "decided": [("publish", COORDINATOR, gettext_noop("Publish the results and notify the applicants"))],
    }

    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        OPEN = "open", _("open for applications")
        CLOSED = "closed", _("applications closed")
        SCORING = "scoring", _("expert scoring")
        DISCUSSION = "discussion", _("discussion")
        DECIDED = "decided", _("decided")
        PUBLISHED = "published", _("published")

    code = models.CharField(max_length=50, unique=True, verbose_name=_("code"))
    title_en = models.CharField(max_length=300, verbose_name=_("title (English)"))
    title_ru = models.CharField(max_length=300, verbose_name=_("title (Russian)"))
    title_kk = models.CharField(max_length=300, blank=True, verbose_name=_("title (Kazakh)"))
    organiser = models.CharField(max_length=300, blank=True, verbose_name=_("organiser"))
    operator = models.CharField(max_length=300, blank=True, verbose_name=_("operator"))
    partner = models.CharField(max_length=300, blank=True, verbose_name=_("partner"))
    deciding_body = models.CharField(max_length=300, blank=True, verbose_name=_("deciding body"))
    legal_basis = models.TextField(blank=True, verbose_name=_("legal basis"))
    support_act = models.TextField(blank=True, verbose_name=_("support act"))
    applications_open = models.DateField(null=True, blank=True, verbose_name=_("applications open"))
    applications_close = models.DateField(null=True, blank=True, verbose_name=_("applications close"))
    memorandum_signed = models.DateField(null=True, blank=True, verbose_name=_("memorandum signed"))
    min_pilot_clusters = models.PositiveSmallIntegerField(default=0, verbose_name=_("minimum pilot clusters"))
    max_selected = models.PositiveSmallIntegerField(verbose_name=_("maximum selected"))
    pass_mark = models.DecimalField(max_digits=5, decimal_places=2, help_text=_("0..100, weighted"),
                                    verbose_name=_("pass mark"))
    excluded_sectors = models.JSONField(default=list, blank=True, verbose_name=_("excluded sectors"))
    review_working_days = models.JSONField(default=dict, blank=True, verbose_name=_("review working days"))
    timezone = models.CharField(max_length=50, default="Asia/Almaty", verbose_name=_("time zone"))
    diagnosis_areas = models.JSONField(default=list, blank=True, verbose_name=_("diagnosis areas"))
    support_proposal = models.JSONField(default=dict, blank=True, verbose_name=_("support proposal"))
    expiry_rules = models.JSONField(
        default=dict, blank=True,
        help_text=_('opt-in automatic transitions when a deadline passes: {"revision_reply": "lapse"} '
                  '(see EXPIRY_RULES); empty: deadlines only remind and escalate'), verbose_name=_("expiry rules"))
    approval_policies = models.JSONField(
        default=dict, blank=True,
        help_text=_('per document kind: {"development_plan": {"policy": "all_of|quorum|sequential", '
                  '"required": k, "veto": true}}'), verbose_name=_("approval policies"))
    language = models.CharField(max_length=5, choices=settings.LANGUAGES, default="ru", verbose_name=_("language"))
    source_sha256 = models.CharField(max_length=64, blank=True, verbose_name=_("source SHA-256"),
                                     help_text=_("sha256 of the imported content (canonical JSON)"))
    source = models.JSONField(default=dict, blank=True, help_text=_("the imported round file, as read"),
                              verbose_name=_("source"))
    state = FSMField(default=State.DRAFT, choices=State.choices, protected=True, verbose_name=_("state"))

    class Meta:
        verbose_name = _("round")
        verbose_name_plural = _("rounds")

    def __str__(self) -> str:
        return self.code

    @property
    def audit_chain(self) -> str:
        return self.code

    #: The opt-in expiry rules a round may set (``expiry_rules``): limit -> allowed transitions.
    #: ``revision_reply``: an application returned for revision and not resubmitted by the end
    #: of the limit's last working day lapses (``Application.lapse``: refused as late).
    EXPIRY_RULES = {"revision_reply": ("lapse",)}

    def due_at(self, limit: str, *, start=None):
        """The end of the due working day ``review_working_days[limit]`` working days after
        ``start`` (default now), in the round's time zone; ``None`` when the round sets no
        such limit. Counted on Kazakhstan's calendar (``workflow.calendar``)."""
        from django.utils import timezone

        from workflow import calendar

        days = (self.review_working_days or {}).get(limit)
        if not days:
            return None
        return calendar.due_at(start or timezone.now(), int(days), tz=self.timezone or calendar.TIME_ZONE)

    def title(self, language: str) -> str:
        """The round's title in ``language`` (falls back to Russian, then English)."""
        return getattr(self, f"title_{language}", "") or self.title_ru or self.title_en

    # -- transitions ----------------------------------------------------------------------
    @transition(field=state, source=State.DRAFT, target=State.OPEN, permission=coordinators)
    def open_applications(self):
        """Start accepting applications."""

    @transition(field=state, source=State.OPEN, target=State.CLOSED, permission=coordinators)
    def close_applications(self):
        """Stop accepting applications."""

    @transition(field=state, source=State.CLOSED, target=State.SCORING, permission=coordinators,
                conditions=[condition(_("no application awaits its completeness check"))(
                    lambda r: not r.applications.filter(state__in=["submitted", "resubmitted",
                                                                   "returned_for_revision"]).exists())])
    def start_scoring(self):
        """Hand the accepted applications to the experts."""

    @transition(field=state, source=State.SCORING, target=State.DISCUSSION, permission=coordinators,
                conditions=[condition(_("every accepted application must be scored"))(
                    lambda r: not r.selections.filter(state="scoring").exists())])
    def start_discussion(self):
        """Open the joint discussion of the ranking."""

    @transition(field=state, source=State.DISCUSSION, target=State.DECIDED, permission=coordinators,
                conditions=[condition(_("every application needs a decision (selected or not)"))(
                    lambda r: not r.selections.exclude(state__in=["selected", "not_selected"]).exists())])
    def decide(self):
        """Record the commission's decision on every application."""

    @transition(field=state, source=State.DECIDED, target=State.PUBLISHED, permission=coordinators)
    def publish(self):
        """Publish the results and notify the applicants."""

    def after_transition(self, transition: str, *, actor, comment: str = "") -> None:
        """The papers of a round's steps, on every path (page, API, task, ``run_cycle``), in the
        transition's transaction: ``start_discussion`` computes the ranking
        (:func:`processes.selection.services.compute_ranking`), ``decide`` generates the
        ranking and selection minutes, ``publish`` a decision notice for every scored
        application (:mod:`processes.selection.services`)."""
        from processes.selection import services

        if transition == "start_discussion":
            services.compute_ranking(rnd=self, actor=actor)
        elif transition == "decide":
            services.generate_selection_minutes(rnd=self, actor=actor)
        elif transition == "publish":
            services.generate_decision_notices(rnd=self, actor=actor)


class Criterion(models.Model):
    """A scoring criterion; scores are 0..10, weights of a round sum to 100."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="criteria", verbose_name=_("round"))
    code = models.CharField(max_length=20, verbose_name=_("code"))
    title_en = models.CharField(max_length=300, verbose_name=_("title (English)"))
    title_ru = models.CharField(max_length=300, verbose_name=_("title (Russian)"))
    title_kk = models.CharField(max_length=300, blank=True, verbose_name=_("title (Kazakh)"))
    weight = models.PositiveSmallIntegerField(help_text=_("percent of the 0..100 total"), verbose_name=_("weight"))
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))

    class Meta:
        verbose_name = _("criterion")
        verbose_name_plural = _("criteria")
        ordering = ["round", "position"]
        constraints = [
            models.UniqueConstraint(fields=["round", "code"], name="criterion_unique_code"),
            models.CheckConstraint(condition=models.Q(weight__lte=100), name="criterion_weight_le_100"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.weight}%)"

    def title(self, language: str) -> str:
        return getattr(self, f"title_{language}", "") or self.title_ru or self.title_en


class RoundSignatory(models.Model):
    """A position that signs development plans (e.g. Deputy Chairman of the Board, KIID)."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="signatories", verbose_name=_("round"))
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))
    role = models.CharField(max_length=200, verbose_name=_("role"))
    organisation = models.CharField(max_length=200, verbose_name=_("organisation"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="signatory_positions", verbose_name=_("user"))

    class Meta:
        verbose_name = _("round signatory")
        ordering = ["round", "position"]
        verbose_name_plural = _("round signatories")
        constraints = [
            models.UniqueConstraint(fields=["round", "position"], name="signatory_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.role}, {self.organisation}"


def _related_or_none(case, relation: str):
    obj = case
    for part in relation.split("."):
        try:
            obj = getattr(obj, part)
        except models.ObjectDoesNotExist:
            return None
    return obj


def _stage_in(relation: str, *states: str):
    def check(case) -> bool:
        obj = _related_or_none(case, relation)
        if obj is None:
            return False
        if hasattr(obj, "filter"):  # a case's few support measures: the prefetched ones when a page loaded them
            return any(item.state in states for item in obj.all())
        return obj.state in states

    return check


def suspension_message(case) -> str:
    """Why nothing of ``case`` may change while it is suspended, in the active language:
    "case TC-2017/A1 is suspended: resume it first"."""
    return gettext("case %(case)s is suspended: resume it first") % {"case": case.ref}


class CaseStage:
    """Mixin of a case's stage objects (diagnosis, plan, support measure, body position,
    implementation): frozen while their case is ``suspended`` (docs/cycle.md, "Suspension").

    ``closed_reason`` (read by ``workflow.transitions.perform`` after the state and the
    permission, so on every path: pages, API, inbox tasks, admin actions, services) refuses
    every transition with :class:`~workflow.exceptions.TransitionNotAllowed` (409) and
    :func:`suspension_message`, but those in :attr:`SUSPENSION_TRANSITIONS`, which the case's
    own suspension takes on them (``Case.after_transition``: a running implementation is
    suspended with it). :meth:`ensure_not_suspended` is the same refusal for a write that is not
    a transition (a plan's content, a diagnosis's areas, a quarterly report); reading is allowed.
    The case is the one the object holds (``stage_case``), as loaded with it.
    """

    #: Transitions taken on a stage object by the case's suspension itself.
    SUSPENSION_TRANSITIONS = frozenset({"suspend"})

    def stage_case(self):
        """The case this object belongs to."""
        return self.case

    def suspension_reason(self) -> str:
        """:func:`suspension_message` when the object's case is suspended, else ``""``."""
        case = self.stage_case()
        if case is not None and case.state == Case.State.SUSPENDED:
            return suspension_message(case)
        return ""

    def closed_reason(self, transition: str = "") -> str:
        """Why ``transition`` is refused whatever the object's state: its case is suspended."""
        if transition in self.SUSPENSION_TRANSITIONS:
            return ""
        return self.suspension_reason()

    def ensure_not_suspended(self, action: str = "content_changed") -> None:
        """Raise ``TransitionNotAllowed`` (409) naming the suspension when the object's case is
        suspended (``action`` names the refused write, e.g. ``content_changed``); else nothing."""
        from workflow.exceptions import TransitionNotAllowed

        reason = self.suspension_reason()
        if reason:
            raise TransitionNotAllowed(reason, obj=self, transition=action, state=str(getattr(self, "state", "")))


class Case(StatefulModel):
    """One cluster's way through the cycle; its reference names its audit chain.

    ``ref`` is ``ROUND/APPLICATION`` (e.g. ``TC-2017/A1``). The case's stage advances only
    when the stage object (application, selection, diagnosis, plan, support measure,
    implementation) has reached the state the condition names.
    """

    class State(models.TextChoices):
        SUBMISSION = "submission", _("submission")
        SELECTION = "selection", _("selection")
        DIAGNOSIS = "diagnosis", _("diagnosis")
        PLANNING = "planning", _("planning")
        SUPPORT = "support", _("support")
        IMPLEMENTATION = "implementation", _("implementation")
        CLOSED = "closed", _("closed")
        REFUSED = "refused", _("refused")
        NOT_SELECTED = "not_selected", _("not selected")
        WITHDRAWN = "withdrawn", _("withdrawn")
        SUSPENDED = "suspended", _("suspended")

    ACTIVE_STATES = (State.SUBMISSION, State.SELECTION, State.DIAGNOSIS, State.PLANNING, State.SUPPORT,
                     State.IMPLEMENTATION)

    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="cases", verbose_name=_("round"))
    ref = models.CharField(max_length=100, unique=True, verbose_name=_("reference"))
    number = models.CharField(max_length=20, help_text=_("the application's number in the round, e.g. A1"),
                              verbose_name=_("number"))
    name_en = models.CharField(max_length=300, verbose_name=_("name (English)"))
    name_ru = models.CharField(max_length=300, blank=True, verbose_name=_("name (Russian)"))
    name_kk = models.CharField(max_length=300, blank=True, verbose_name=_("name (Kazakh)"))
    language = models.CharField(max_length=5, choices=settings.LANGUAGES, default="ru", verbose_name=_("language"))
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="cases", verbose_name=_("applicant"))
    state = FSMField(default=State.SUBMISSION, choices=State.choices, protected=True, verbose_name=_("state"))
    suspended_from = models.CharField(max_length=20, blank=True, help_text=_("the stage a suspension interrupted"),
                                      verbose_name=_("suspended from"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["round", "number"]
        constraints = [
            models.UniqueConstraint(fields=["round", "number"], name="case_unique_number"),
        ]
        # filters by state (work page, case list, API ?state= and ?stage=, cycle runner): docs/scale.md
        indexes = [models.Index(fields=["state"], name="case_state")]

    def __str__(self) -> str:
        return self.ref

    @property
    def audit_chain(self) -> str:
        return self.ref

    def name(self, language: str | None = None) -> str:
        """The cluster's name in ``language`` (default: the case's language)."""
        language = language or self.language
        return getattr(self, f"name_{language}", "") or self.name_ru or self.name_en

    @property
    def stage(self) -> str:
        """The stage the case is in or left from (its state for active states)."""
        return self.state

    @transition(field=state, source=State.SUBMISSION, target=State.SELECTION, permission=coordinators,
                conditions=[condition(_("the application must be accepted"))(_stage_in("application", "accepted"))])
    def advance_to_selection(self):
        """The accepted application goes to expert scoring."""

    @transition(field=state, source=State.SUBMISSION, target=State.REFUSED, permission=coordinators,
                conditions=[condition(_("the application must be refused"))(_stage_in("application", "refused"))])
    def refuse(self):
        """The application was refused at submission (excluded sector, incomplete, late)."""

    @transition(field=state, source=[State.SUBMISSION, State.SELECTION], target=State.WITHDRAWN,
                permission=role_required(COORDINATOR, owner=lambda c: c.applicant))
    def withdraw(self):
        """The applicant withdraws."""

    @transition(field=state, source=State.SELECTION, target=State.NOT_SELECTED, permission=coordinators,
                conditions=[condition(_("the selection must end as not selected"))(
                    _stage_in("application.selection", "not_selected"))])
    def close_not_selected(self):
        """The cluster was not selected."""

    @transition(field=state, source=State.SELECTION, target=State.DIAGNOSIS, permission=coordinators,
                conditions=[condition(_("the cluster must be selected"))(
                    _stage_in("application.selection", "selected"))])
    def advance_to_diagnosis(self):
        """The selected cluster is diagnosed."""

    @transition(field=state, source=State.DIAGNOSIS, target=State.PLANNING, permission=coordinators,
                conditions=[condition(_("the diagnosis report must be approved"))(_stage_in("diagnosis", "approved"))])
    def advance_to_planning(self):
        """A development plan is drafted."""

    @transition(field=state, source=State.PLANNING, target=State.SUPPORT, permission=coordinators,
                conditions=[condition(_("the development plan must be approved"))(_stage_in("plan", "approved"))])
    def advance_to_support(self):
        """State support measures are agreed with government bodies."""

    @transition(field=state, source=State.SUPPORT, target=State.IMPLEMENTATION, permission=coordinators,
                conditions=[condition(_("at least one support measure must be in force"))(
                    _stage_in("support_measures", "in_force"))])
    def advance_to_implementation(self):
        """The plan is implemented and monitored."""

    @transition(field=state, source=State.IMPLEMENTATION, target=State.CLOSED, permission=coordinators,
                conditions=[condition(_("the implementation must be completed"))(
                    _stage_in("implementation", "completed"))])
    def close(self):
        """The cycle is complete."""

    @transition(field=state, source=[State.DIAGNOSIS, State.PLANNING, State.SUPPORT, State.IMPLEMENTATION],
                target=State.SUSPENDED, permission=coordinators)
    def suspend(self):
        """Work on the case stops (the comment gives the reason): the open tasks of its stage
        are cancelled and a running implementation is suspended (see ``after_transition``)."""
        self.suspended_from = self.state

    @transition(field=state, source=State.SUSPENDED,
                target=RETURN_VALUE(State.DIAGNOSIS, State.PLANNING, State.SUPPORT, State.IMPLEMENTATION),
                permission=coordinators,
                conditions=[condition(_("the case records no stage to resume"))(lambda c: bool(c.suspended_from))])
    def resume(self):
        """Work continues in the stage the suspension interrupted; its tasks are reopened."""
        stage, self.suspended_from = self.suspended_from, ""
        return stage

    def predicted_target(self, transition: str) -> str | None:
        """The state ``transition`` would lead to when django-fsm decides it at run time:
        ``resume`` returns to the stage the suspension interrupted (``suspended_from``; None
        when none is recorded). Used by ``workflow.transitions.available_transitions``."""
        if transition == "resume":
            return self.suspended_from or None
        return None

    def stage_objects(self) -> list:
        """The case's stage objects that exist (diagnosis, plan, measures and positions, implementation)."""
        objects = []
        for relation in ("diagnosis", "plan", "implementation"):
            obj = _related_or_none(self, relation)
            if obj is not None:
                objects.append(obj)
        for measure in self.support_measures.all():
            objects.append(measure)
            objects.extend(measure.positions.all())
        return objects

    #: The working-day limit (a ``Round.review_working_days`` key) of each stage.
    STAGE_LIMITS = {State.SELECTION: "commission_decision", State.DIAGNOSIS: "diagnosis",
                    State.PLANNING: "plan_drafting", State.SUPPORT: "support_coordination"}
    #: The label (a msgid, translated in each recipient's language) of each stage deadline.
    STAGE_LABELS = {State.SELECTION: gettext_noop("Complete the selection stage"),
                    State.DIAGNOSIS: gettext_noop("Complete the diagnosis stage"),
                    State.PLANNING: gettext_noop("Complete the planning stage"),
                    State.SUPPORT: gettext_noop("Complete the support stage")}

    def after_transition(self, transition: str, *, actor, comment: str = "") -> None:
        """Keeps the stage deadline (closed on leaving a stage, opened on entering one with a
        limit); suspending stops the stage's work, resuming restarts it (same transaction)."""
        from processes.reasons import DATA_KEY, coded, english
        from workflow import deadlines, tasks
        from workflow.transitions import perform

        deadlines.close_deadlines(subject=self)
        limit = self.STAGE_LIMITS.get(self.state)
        due = self.round.due_at(limit) if limit else None
        if due is not None:
            deadlines.open_deadline(chain=self.ref, label=self.STAGE_LABELS[self.state], due_at=due, subject=self,
                                    role=COORDINATOR, language=self.language)

        if transition == "suspend":
            for obj in self.stage_objects():
                tasks.cancel_tasks_of(obj, actor=actor, reason=f"case suspended: {comment}")
                if getattr(obj, "state", None) in ("active", "reporting") and hasattr(obj, "resume"):
                    message = coded("case_suspended", case=self.ref)
                    perform(obj, "suspend", actor=actor, comment=english(message), data={DATA_KEY: message})
        elif transition == "resume":
            for obj in self.stage_objects():
                if getattr(obj, "state", None) == "suspended" and hasattr(obj, "resume"):
                    message = coded("case_resumed", case=self.ref)
                    perform(obj, "resume", actor=actor, comment=english(message), data={DATA_KEY: message})
                else:
                    tasks.follow_up(obj)
