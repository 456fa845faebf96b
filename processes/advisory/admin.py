"""Admin for advisory materials (briefing notes, agendas, minutes): browse only."""

from django.contrib import admin

from workflow.admin import ReadOnlyAdminMixin

from .models import AdvisoryMaterial


@admin.register(AdvisoryMaterial)
class AdvisoryMaterialAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("title", "round", "case", "kind", "state")
    list_filter = ("round", "kind", "state")
    list_select_related = ("round", "case")
    search_fields = ("title", "body", "partner_comments")
    readonly_fields = ("state",)
