"""Admin for expert score sheets and selections: browse only."""

from django.contrib import admin

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Score, ScoreSheet, Selection


class ScoreInline(ReadOnlyTabularInline):
    model = Score
    fields = ("criterion", "value", "comment")
    readonly_fields = fields


@admin.register(ScoreSheet)
class ScoreSheetAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "expert", "total", "state")
    list_filter = ("state", "application__round", "expert")
    list_select_related = ("application__case", "expert")
    search_fields = ("application__case__ref", "expert__username")
    readonly_fields = ("state",)
    inlines = [ScoreInline]


@admin.register(Selection)
class SelectionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "round", "score", "rank", "state")
    list_filter = ("round", "state")
    list_select_related = ("application__case", "round")
    search_fields = ("application__case__ref", "application__name_en")
    ordering = ("round", "rank")
    readonly_fields = ("state",)
