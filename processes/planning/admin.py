"""Admin for development plans with their actions: browse only (approvals live in workflow.approvals)."""

from django.contrib import admin

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Plan, PlanAction


class PlanActionInline(ReadOnlyTabularInline):
    model = PlanAction
    fields = ("position", "measure", "responsible", "deadline", "budget_kzt", "kpi", "kpi_target", "kpi_unit")
    readonly_fields = fields
    ordering = ("position",)


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "state")
    list_filter = ("state", "case__round")
    list_select_related = ("case",)
    search_fields = ("case__ref", "vision")
    readonly_fields = ("state",)
    inlines = [PlanActionInline]
