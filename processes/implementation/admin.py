"""Admin for implementations and their quarterly monitoring reports: browse only."""

from django.contrib import admin

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Implementation, MonitoringReport, MonitoringValue


class MonitoringReportInline(ReadOnlyTabularInline):
    model = MonitoringReport
    fields = ("year", "quarter", "summary", "created_at")
    readonly_fields = fields
    show_change_link = True


class MonitoringValueInline(ReadOnlyTabularInline):
    model = MonitoringValue
    fields = ("action", "actual")
    readonly_fields = fields


@admin.register(Implementation)
class ImplementationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "started_on", "state")
    list_filter = ("state", "case__round")
    list_select_related = ("case",)
    search_fields = ("case__ref",)
    readonly_fields = ("state",)
    inlines = [MonitoringReportInline]


@admin.register(MonitoringReport)
class MonitoringReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "year", "quarter", "created_at")
    list_filter = ("year", "quarter")
    list_select_related = ("implementation__case",)
    search_fields = ("implementation__case__ref", "summary")
    inlines = [MonitoringValueInline]
