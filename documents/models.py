"""Documents and their versions.

A :class:`Document` is one paper of one owner (a case or a round, named by ``owner_ref``,
which is also the owner's audit chain) of one kind in one language; ``key`` tells apart
several papers of the same kind (e.g. one score sheet per expert). Every generated or
uploaded file is a :class:`DocumentVersion` with its storage key, sha256 and size.
"""

from django.conf import settings
from django.db import models


class Document(models.Model):
    owner_ref = models.CharField(max_length=200, db_index=True)
    stage = models.CharField(max_length=30)
    kind = models.CharField(max_length=50)
    key = models.CharField(max_length=100, blank=True, default="")
    language = models.CharField(max_length=5, choices=settings.LANGUAGES)
    title = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    storage_key = models.CharField(max_length=500, unique=True)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(help_text="bytes")
    content_type = models.CharField(max_length=150)
    template_name = models.CharField(max_length=200, blank=True)
    template_version = models.CharField(max_length=50, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    signed = models.BooleanField(default=False)

    class Meta:
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
        PDF = "pdf", "PDF"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    source = models.ForeignKey(DocumentVersion, on_delete=models.PROTECT, related_name="renditions")
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.PDF)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="when the current attempt began")
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, help_text="why the last attempt failed")
    storage_key = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="bytes")

    class Meta:
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
