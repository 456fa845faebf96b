"""Admin for cluster diagnoses and their six assessed areas: browse only."""

from django.contrib import admin

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Diagnosis, DiagnosisArea


class DiagnosisAreaInline(ReadOnlyTabularInline):
    model = DiagnosisArea
    fields = ("position", "area", "score_pct", "finding")
    readonly_fields = fields
    ordering = ("position",)


@admin.register(Diagnosis)
class DiagnosisAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "assessors", "overall_pct", "state")
    list_filter = ("state", "case__round")
    list_select_related = ("case",)
    search_fields = ("case__ref", "assessors")
    readonly_fields = ("state",)
    inlines = [DiagnosisAreaInline]
