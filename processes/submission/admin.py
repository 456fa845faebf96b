"""Admin for applications: browse only (they change through the submission services)."""

from django.contrib import admin

from workflow.admin import ReadOnlyAdminMixin

from .models import Application


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "name_en", "region", "sector", "state", "submitted_at", "refusal_reason")
    list_filter = ("round", "state", "refusal_reason")
    list_select_related = ("case", "round")
    search_fields = ("ref", "case__ref", "name_en", "name_ru", "name_kk", "region", "sector")
    readonly_fields = ("state",)
