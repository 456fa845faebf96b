"""Admin for documents: read-only browsing of documents and their checksummed versions.

Files are written only by ``documents.storage.store_version`` (which records sha256 and
size) and PDF renditions only by ``documents.pdf``; the admin never edits or deletes them. Each version links to the portal download,
which verifies the checksum before serving the bytes.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Document, DocumentVersion, Rendition


class DocumentVersionInline(ReadOnlyTabularInline):
    model = DocumentVersion
    fields = ("number", "original_name", "short_sha256", "size", "content_type", "signed", "created_by",
              "created_at", "template_name", "template_version", "storage_key", "download")
    readonly_fields = fields
    ordering = ("number",)

    @admin.display(description=_("SHA-256"))
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


@admin.register(Rendition)
class RenditionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """PDF renditions and their job status: what failed and why (docs/pdf.md)."""

    list_display = ("source", "format", "status", "attempts", "requested_by", "requested_at", "finished_at",
                    "short_error")
    list_filter = ("status", "format")
    search_fields = ("source__document__owner_ref", "source__document__kind", "error")
    list_select_related = ("source__document", "requested_by")
    fields = ("source", "format", "status", "attempts", "requested_by", "requested_at", "started_at",
              "finished_at", "error", "storage_key", "sha256", "size")
    readonly_fields = fields

    @admin.display(description=_("error"))
    def short_error(self, obj):
        return obj.error[:120]
