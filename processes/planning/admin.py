"""Admin for development plans (with their actions and signatures) and signatures: browse only."""

from django.contrib import admin

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Plan, PlanAction, Signature


class PlanActionInline(ReadOnlyTabularInline):
    model = PlanAction
    fields = ("position", "measure", "responsible", "deadline", "budget_kzt", "kpi", "kpi_target", "kpi_unit")
    readonly_fields = fields
    ordering = ("position",)


class SignatureInline(ReadOnlyTabularInline):
    model = Signature
    fields = ("signatory", "user", "state", "decided_at", "comment", "document_version")
    readonly_fields = fields


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "state")
    list_filter = ("state", "case__round")
    list_select_related = ("case",)
    search_fields = ("case__ref", "vision")
    readonly_fields = ("state",)
    inlines = [PlanActionInline, SignatureInline]


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "user", "state", "decided_at")
    list_filter = ("state", "user")
    list_select_related = ("plan__case", "signatory", "user")
    search_fields = ("plan__case__ref", "user__username", "signatory__role")
    readonly_fields = ("state",)
