"""Admin for training modules and their attendance: browse only."""

from django.contrib import admin

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Attendance, TrainingModule


class AttendanceInline(ReadOnlyTabularInline):
    model = Attendance
    fields = ("participant", "organisation", "case", "attended")
    readonly_fields = fields


@admin.register(TrainingModule)
class TrainingModuleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("title", "round", "starts_on", "ends_on", "state")
    list_filter = ("round", "state")
    list_select_related = ("round",)
    search_fields = ("title", "topic")
    readonly_fields = ("state",)
    inlines = [AttendanceInline]
