"""Audit chain storage: one hash-chained sequence of entries per chain (per case).

History outlives people: an entry keeps the actor's username and id as text, and the foreign
key to the user is ``SET_NULL`` so deleting a user never deletes or edits history.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin

GENESIS_HASH = "0" * 64


class AuditChain(models.Model):
    """The head of one chain: its length and the hash of its last entry.

    The row is locked (``SELECT ... FOR UPDATE``) while an entry is appended, so appends to
    one chain are serialised; the head also lets verification notice deleted tail entries.
    """

    key = models.CharField(max_length=200, primary_key=True, verbose_name=_("key"))
    length = models.PositiveIntegerField(default=0, verbose_name=_("length"))
    head_hash = models.CharField(max_length=64, default=GENESIS_HASH, verbose_name=_("head hash"))

    class Meta:
        verbose_name = _("audit chain")
        verbose_name_plural = _("audit chains")

    def __str__(self) -> str:
        return f"{self.key} ({self.length})"


class AuditEntry(models.Model):
    """One recorded state change (or decision), linked to the previous entry of its chain.

    ``canonical`` is the exact UTF-8 JSON text that was hashed; ``hash`` is its sha256 (hex).
    The structured columns repeat the canonical content so that it can be queried; the
    verifier checks that both agree.
    """

    # indexed by (chain, seq): audit_unique_chain_seq
    chain = models.CharField(max_length=200, verbose_name=_("chain"))
    seq = models.PositiveIntegerField(verbose_name=_("sequence number"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="audit_entries", verbose_name=_("actor"),
    )
    actor_username = models.CharField(max_length=150, verbose_name=_("actor username"))
    on_behalf_of_username = models.CharField(max_length=150, blank=True, verbose_name=_("on behalf of username"))
    object_type = models.CharField(max_length=100, verbose_name=_("object type"))
    object_id = models.CharField(max_length=64, verbose_name=_("object ID"))
    object_repr = models.CharField(max_length=300, verbose_name=_("object description"))
    transition = models.CharField(max_length=100, verbose_name=_("transition"))
    from_state = models.CharField(max_length=50, verbose_name=_("from state"))
    to_state = models.CharField(max_length=50, verbose_name=_("to state"))
    comment = models.TextField(blank=True, verbose_name=_("comment"))
    data = models.JSONField(default=dict, blank=True, verbose_name=_("data"))
    prev_hash = models.CharField(max_length=64, verbose_name=_("previous hash"))
    hash = models.CharField(max_length=64, verbose_name=_("hash"))  # unique: audit_unique_hash
    canonical = models.TextField(verbose_name=_("canonical JSON"))

    class Meta:
        verbose_name = _("audit entry")
        ordering = ["chain", "seq"]
        verbose_name_plural = _("audit entries")
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_unique_chain_seq"),
            models.UniqueConstraint(fields=["chain", "prev_hash"], name="audit_no_fork"),
            # a constraint rather than unique=True: PostgreSQL then builds no second
            # (varchar_pattern_ops) index on the hash, which no query uses (scale check, docs/scale.md)
            models.UniqueConstraint(fields=["hash"], name="audit_unique_hash"),
        ]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            # the auditor's history search (processes.portal.roles.auditor): by time, actor, transition
            models.Index(fields=["created_at"], name="audit_time"),
            models.Index(fields=["actor_username", "created_at"], name="audit_actor_time"),
            models.Index(fields=["transition", "created_at"], name="audit_transition_time"),
        ]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.transition} {self.from_state}->{self.to_state}"


class StatefulModel(ConcurrentTransitionMixin, models.Model):
    """Abstract base for every model whose state is a django-fsm field.

    Subclasses declare ``state = FSMField(protected=True, ...)`` and the ``audit_chain``
    property (the chain key their audit entries join, normally the case reference).
    ``ConcurrentTransitionMixin`` makes a save fail when the row's state changed since it was
    loaded (:class:`workflow.exceptions.StaleObject` through ``perform``).
    """

    #: True for models whose transitions are also human tasks (``workflow.tasks``). Only
    #: these pay for the look-up of open tasks after each transition.
    human_tasks = False
    #: The stage's flow as human tasks: ``{state: [(transition, role, title, (alternatives))]}``.
    #: After every transition (and when the object is created, see ``workflow.tasks.follow_up``)
    #: a queued task is opened for each step listed under the new state.
    task_plan: dict = {}

    class Meta:
        abstract = True

    @property
    def audit_chain(self) -> str:  # pragma: no cover - each subclass overrides it
        raise NotImplementedError

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        """Reload from the database, thread-safely.

        django-fsm-2 (4.2.4) reloads a protected state by switching the *shared* field's
        ``protected`` flag off and on again, which races between threads (a concurrent
        reload then fails with "Direct state modification is not allowed") and leaves the
        protection off when the reload raises. Here only this instance's cached state is
        dropped before Django reloads it, and put back if the reload fails.
        """
        protected = [f.attname for f in self._meta.concrete_fields
                     if getattr(f, "protected", False) and (fields is None or f.attname in fields)]
        kept = {name: self.__dict__.pop(name) for name in protected if name in self.__dict__}
        try:
            models.Model.refresh_from_db(self, using=using, fields=fields, from_queryset=from_queryset)
        except Exception:
            for name, value in kept.items():
                self.__dict__.setdefault(name, value)
            raise
        self._update_initial_state()


class Notification(models.Model):
    """An outbox row: one message to one recipient on one channel.

    ``key`` is the idempotency key (e.g. ``approval:12:approved:author``): a unique constraint
    makes a second attempt to queue the same message a no-op, so a retried or concurrent
    step never notifies twice. Rows are written in the same transaction as the change they
    report, so a rolled-back change notifies nobody. Delivery (e-mail, retries) is done by
    the notifications sender; ``status`` and ``attempts`` record it.
    """

    class Channel(models.TextChoices):
        IN_APP = "in_app", _("in-app")
        EMAIL = "email", _("e-mail")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    key = models.CharField(max_length=200, verbose_name=_("key"))
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.IN_APP,
                               verbose_name=_("channel"))
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications",
                                  verbose_name=_("recipient"))
    kind = models.CharField(max_length=50, verbose_name=_("kind"))
    chain = models.CharField(max_length=200, blank=True, help_text=_("the case (audit chain) it concerns"),
                             verbose_name=_("chain"))
    subject = models.CharField(max_length=300, verbose_name=_("subject"))
    data = models.JSONField(default=dict, blank=True, verbose_name=_("data"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    language = models.CharField(max_length=5, default="ru", help_text=_("the recipient's language (kk, ru, en)"),
                                verbose_name=_("language"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text=_("retry after this time (backoff)"),
                                           verbose_name=_("next attempt at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["key", "channel"], name="notification_idempotent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} -> {self.recipient_id} ({self.channel})"


class Deadline(models.Model):
    """When a piece of open work (a stage step or a human task) is due, and who is reminded.

    ``due_at`` is the end of the due working day in Asia/Almaty (``workflow.calendar.due_at``).
    Reminders go to ``responsible`` (or, for queued work, every holder of ``role``) at
    ``reminder_offsets`` (working days relative to the due day: ``-2`` two working days before,
    ``0`` on the day); from one working day overdue an escalation goes to ``escalate_to``
    (or the coordinators), repeated every ``escalate_every`` working days until the work is
    closed. Reminders never change any state. Only an opt-in expiry rule (``on_expiry``, set
    from a round's ``expiry_rules``) takes a transition, once, when the due time has passed
    (``workflow.deadlines.expire``).
    """

    chain = models.CharField(max_length=200, db_index=True, help_text=_("the case (audit chain) concerned"),
                             verbose_name=_("chain"))
    label = models.CharField(max_length=300, verbose_name=_("label"))
    subject_type = models.ForeignKey("contenttypes.ContentType", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("subject type"))
    subject_id = models.PositiveBigIntegerField(null=True, blank=True, verbose_name=_("subject ID"))
    task_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True,
                                             help_text=_("the viewflow task this deadline belongs to"),
                                             verbose_name=_("task ID"))
    due_at = models.DateTimeField(verbose_name=_("due at"))
    responsible = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("responsible"))
    role = models.CharField(max_length=50, blank=True, help_text=_("queue whose holders are reminded"),
                            verbose_name=_("role"))
    escalate_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("escalate to"))
    reminder_offsets = models.JSONField(default=list, blank=True, help_text=_("working days relative to the due day"),
                                        verbose_name=_("reminder offsets"))
    escalate_every = models.PositiveSmallIntegerField(default=2, help_text=_("working days between escalations"),
                                                      verbose_name=_("escalate every"))
    language = models.CharField(max_length=5, default="ru", verbose_name=_("language"))
    opened_at = models.DateTimeField(auto_now_add=True, verbose_name=_("opened at"))
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("closed at"))
    on_expiry = models.CharField(
        max_length=50, blank=True,
        help_text=_("opt-in: the transition taken on the subject once the deadline has passed (blank: none)"),
        verbose_name=_("on expiry"))
    expired_at = models.DateTimeField(null=True, blank=True, help_text=_("when the expiry rule was applied"),
                                      verbose_name=_("expired at"))
    expiry_result = models.CharField(max_length=500, blank=True,
                                     help_text=_("what the expiry rule did: the transition taken, or why not"),
                                     verbose_name=_("expiry result"))

    class Meta:
        verbose_name = _("deadline")
        verbose_name_plural = _("deadlines")
        ordering = ["due_at"]
        indexes = [models.Index(fields=["closed_at", "due_at"], name="deadline_open_due")]

    def __str__(self) -> str:
        return f"{self.label} (due {self.due_at:%Y-%m-%d})"


class UserPreference(models.Model):
    """A person's own settings: ``language`` (kk, ru or en; blank: the case's language) in which
    Kelisim writes to them (e-mail and in-app notifications)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="kelisim_preference",
                                verbose_name=_("user"))
    language = models.CharField(max_length=5, choices=settings.LANGUAGES, blank=True, verbose_name=_("language"))

    class Meta:
        verbose_name = _("user preference")
        verbose_name_plural = _("user preferences")

    def __str__(self) -> str:
        return f"{self.user} ({self.language or '-'})"
