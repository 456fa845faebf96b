"""Admin for state support measures and the positions of the government bodies: browse only."""

from django.contrib import admin

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import BodyPosition, SupportMeasure


class BodyPositionInline(ReadOnlyTabularInline):
    model = BodyPosition
    fields = ("body", "state", "decided_at", "comment")
    readonly_fields = fields


@admin.register(SupportMeasure)
class SupportMeasureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "amount_kzt", "reimbursement_pct", "state")
    list_filter = ("state", "case__round")
    list_select_related = ("case",)
    search_fields = ("case__ref", "title")
    readonly_fields = ("state",)
    inlines = [BodyPositionInline]
