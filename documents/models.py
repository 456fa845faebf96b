"""Documents and their versions.

A :class:`Document` is one paper of one owner (a case or a round, named by ``owner_ref``,
which is also the owner's audit chain) of one kind in one language; ``key`` tells apart
several papers of the same kind (e.g. one score sheet per expert). Every generated or
uploaded file is a :class:`DocumentVersion` with its storage key, sha256 and size.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Document(models.Model):
    owner_ref = models.CharField(max_length=200, db_index=True, verbose_name=_("owner reference"))
    stage = models.CharField(max_length=30, verbose_name=_("stage"))
    kind = models.CharField(max_length=50, verbose_name=_("kind"))
    key = models.CharField(max_length=100, blank=True, default="", verbose_name=_("key"))
    language = models.CharField(max_length=5, choices=settings.LANGUAGES, verbose_name=_("language"))
    title = models.CharField(max_length=300, verbose_name=_("title"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["owner_ref", "stage", "kind", "key", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_ref", "kind", "key", "language"], name="document_unique_per_owner"
            )
        ]

    def __str__(self) -> str:
        suffix = f" [{self.key}]" if self.key else ""
        return f"{self.owner_ref} {self.kind}{suffix} ({self.language})"

    @property
    def current_version(self):
        """The newest :class:`DocumentVersion`, or ``None``."""
        return self.versions.order_by("-number").first()


class SignedVersionError(Exception):
    """A signed document version is immutable; changing or deleting it is refused."""


class DocumentVersion(models.Model):
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="versions",
                                 verbose_name=_("document"))
    number = models.PositiveIntegerField(verbose_name=_("number"))
    storage_key = models.CharField(max_length=500, unique=True, verbose_name=_("storage key"))
    original_name = models.CharField(max_length=255, verbose_name=_("original name"))
    sha256 = models.CharField(max_length=64, verbose_name=_("SHA-256"))
    size = models.PositiveBigIntegerField(help_text=_("bytes"), verbose_name=_("size"))
    content_type = models.CharField(max_length=150, verbose_name=_("content type"))
    template_name = models.CharField(max_length=200, blank=True, verbose_name=_("template name"))
    template_version = models.CharField(max_length=50, blank=True, verbose_name=_("template version"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("created by")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    signed = models.BooleanField(default=False, verbose_name=_("signed"))

    class Meta:
        verbose_name = _("document version")
        verbose_name_plural = _("document versions")
        ordering = ["document", "number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="version_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.number}"

    def save(self, *args, **kwargs):
        """Save, refusing any change to a version already signed (raises SignedVersionError)."""
        if self.pk is not None:
            stored = DocumentVersion.objects.filter(pk=self.pk).values_list("signed", flat=True).first()
            if stored:
                raise SignedVersionError(f"{self} is signed and cannot be changed")
        super().save(*args, **kwargs)

    @property
    def is_docx(self) -> bool:
        """True when this version is a Word .docx file (which ``documents.pdf`` can convert)."""
        from .render import DOCX_CONTENT_TYPE

        return self.content_type == DOCX_CONTENT_TYPE

    def delete(self, *args, **kwargs):
        if self.signed:
            raise SignedVersionError(f"{self} is signed and cannot be deleted")
        return super().delete(*args, **kwargs)


class Rendition(models.Model):
    """Another format of one :class:`DocumentVersion`, made by a background job (docs/pdf.md).

    Today the only format is PDF, made by LibreOffice headless (``documents.pdf``). A
    rendition is derived data, not a version: it never takes a version number, is never
    signed or approved, and its source (the ``.docx`` version) is never changed by making
    it. Its file is written once to the default storage under ``storage_key`` with its
    ``sha256`` and ``size`` (bytes), and read back through ``documents.storage.read_verified``
    like a version. One row per (source, format): asking again returns the same row.

    ``status``: ``pending`` (queued) -> ``running`` (a worker claimed it at ``started_at``;
    ``attempts`` counts the claims) -> ``done`` (file stored) or ``failed`` (``error`` says
    why; the row may be requested again, which queues it anew).
    """

    class Format(models.TextChoices):
        PDF = "pdf", _("PDF")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    source = models.ForeignKey(DocumentVersion, on_delete=models.PROTECT, related_name="renditions",
                               verbose_name=_("source"))
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.PDF, verbose_name=_("format"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(auto_now_add=True, verbose_name=_("requested at"))
    started_at = models.DateTimeField(null=True, blank=True, help_text=_("when the current attempt began"),
                                      verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    error = models.TextField(blank=True, help_text=_("why the last attempt failed"), verbose_name=_("error"))
    storage_key = models.CharField(max_length=500, blank=True, verbose_name=_("storage key"))
    sha256 = models.CharField(max_length=64, blank=True, verbose_name=_("SHA-256"))
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text=_("bytes"), verbose_name=_("size"))

    class Meta:
        verbose_name = _("rendition")
        verbose_name_plural = _("renditions")
        ordering = ["source", "format"]
        constraints = [
            models.UniqueConstraint(fields=["source", "format"], name="rendition_unique_per_format"),
        ]

    def __str__(self) -> str:
        return f"{self.source} as {self.format}"

    @property
    def content_type(self) -> str:
        """The MIME type of the rendition's file."""
        return {"pdf": "application/pdf"}[self.format]

    @property
    def file_name(self) -> str:
        """A download name: the source's original name with the format's extension."""
        stem = self.source.original_name.rsplit(".", 1)[0] if "." in self.source.original_name else \
            self.source.original_name
        return f"{stem}.{self.format}"
