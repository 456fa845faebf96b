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

    def delete(self, *args, **kwargs):
        if self.signed:
            raise SignedVersionError(f"{self} is signed and cannot be deleted")
        return super().delete(*args, **kwargs)
