"""The portal's own records: comments on a case, and background jobs with their progress.

* :class:`CaseComment`: a remark anyone who may see a case leaves on its page. Adding one also
  appends a ``comment_added`` entry (no state change) to the case's audit chain, so the
  history shows it and the hash chain covers it.
* :class:`Job`: a long operation (a large case dossier, a bulk transition over many cases)
  run by a Celery task (``processes.portal.jobs``; eager in the embedded mode) while the
  person who asked watches its progress on ``portal:job-status``. Only its owner sees it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

#: The longest comment accepted (characters).
MAX_COMMENT_LENGTH = 4000


class CaseComment(models.Model):
    """One comment on a case: its author, text (1..:data:`MAX_COMMENT_LENGTH` characters) and time.

    Comments are never edited or deleted through the portal; the author's username is kept
    in the audit entry even if the user is later deleted (``author`` then becomes NULL).
    """

    case = models.ForeignKey("rounds.Case", on_delete=models.PROTECT, related_name="comments", verbose_name=_("case"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("author"))
    text = models.TextField(max_length=MAX_COMMENT_LENGTH, verbose_name=_("text"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("case comment")
        verbose_name_plural = _("case comments")

    def __str__(self) -> str:
        return f"{self.case_id}: {self.text[:50]}"


class Job(models.Model):
    """A long operation and its progress, visible to its ``owner`` only.

    ``status``: ``pending`` (queued) -> ``running`` -> ``done`` (``result_*`` set when it made a
    file; ``result_url`` when its outcome is a page) or ``failed`` (``message`` says why; nothing
    was changed). ``progress`` is 0..100 (percent). ``params`` are the inputs the task needs
    (JSON). A result file lives in the default storage under ``result_key`` with its sha256.
    """

    class Kind(models.TextChoices):
        DOSSIER = "dossier", _("case dossier")
        BULK_TRANSITION = "bulk_transition", _("bulk transition")

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    kind = models.CharField(max_length=30, choices=Kind.choices, verbose_name=_("kind"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                              verbose_name=_("owner"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    progress = models.PositiveSmallIntegerField(default=0, help_text=_("percent, 0..100"), verbose_name=_("progress"))
    message = models.TextField(blank=True, help_text=_("what the job is doing, or why it failed"),
                               verbose_name=_("message"))
    params = models.JSONField(default=dict, blank=True, verbose_name=_("parameters"))
    result_key = models.CharField(max_length=500, blank=True, help_text=_("storage key of the result file"),
                                  verbose_name=_("result key"))
    result_name = models.CharField(max_length=300, blank=True, help_text=_("download name of the result file"),
                                   verbose_name=_("result name"))
    result_sha256 = models.CharField(max_length=64, blank=True, verbose_name=_("result SHA-256"))
    result_size = models.PositiveBigIntegerField(null=True, blank=True, help_text=_("bytes"),
                                                 verbose_name=_("result size"))
    result_url = models.CharField(max_length=500, blank=True, help_text=_("the page that shows the outcome"),
                                  verbose_name=_("result URL"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="portal_job_progress_le_100"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} {self.status} {self.progress}%"

    @property
    def finished(self) -> bool:
        """True once the job is done or failed."""
        return self.status in (self.Status.DONE, self.Status.FAILED)
