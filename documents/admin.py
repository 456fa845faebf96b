"""Admin for documents: read-only browsing of documents and their checksummed versions.

Files are written only by ``documents.storage.store_version`` (which records sha256 and
size); the admin never edits or deletes them. Each version links to the portal download,
which verifies the checksum before serving the bytes.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Document, DocumentVersion


class DocumentVersionInline(ReadOnlyTabularInline):
    model = DocumentVersion
    fields = ("number", "original_name", "short_sha256", "size", "content_type", "signed", "created_by",
              "created_at", "template_name", "template_version", "storage_key", "download")
    readonly_fields = fields
    ordering = ("number",)

    @admin.display(description="sha256")
    def short_sha256(self, obj):
        return format_html('<code title="{}">{}…</code>', obj.sha256, obj.sha256[:12])

    @admin.display(description=_("download"))
    def download(self, obj):
        if obj.pk is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("portal:document-download", args=[obj.pk]),
                           _("download"))


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("owner_ref", "stage", "kind", "key", "language", "title", "created_at")
    list_filter = ("stage", "kind", "language")
    search_fields = ("owner_ref", "kind", "key", "title")
    readonly_fields = ("owner_ref", "stage", "kind", "key", "language", "title", "created_at")
    fields = readonly_fields
    inlines = [DocumentVersionInline]
