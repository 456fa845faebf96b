"""Admin for rounds (reference data, editable while the round is a draft) and cases.

A round and its criteria can be edited only while the round is a draft: once applications
are open, the rules and weights are what applicants and experts rely on, and a change would
escape the audit chain. Later only a signatory position's user may be linked. Cases are
created by the import or by an applicant filing, and are read-only here: the applicant
decides who sees and acts on a case, and a change made in the admin would bypass ``perform``
and the audit chain (breaker F8); the applicant is linked by the services that create the case.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from workflow.admin import ProtectedStateAdminMixin, ReadOnlyAdminMixin

from .models import Case, Criterion, Round, RoundSignatory


class CriterionInline(ProtectedStateAdminMixin, admin.TabularInline):
    model = Criterion
    extra = 0
    fields = ("position", "code", "title_en", "title_ru", "title_kk", "weight")
    ordering = ("position",)

    def _frozen(self, obj) -> bool:
        return obj is not None and obj.state != Round.State.DRAFT

    def get_readonly_fields(self, request, obj=None):
        if self._frozen(obj):
            return self.fields
        return super().get_readonly_fields(request, obj)

    def has_add_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_delete_permission(request, obj)


class RoundSignatoryInline(admin.TabularInline):
    model = RoundSignatory
    extra = 0
    fields = ("position", "role", "organisation", "user")
    raw_id_fields = ("user",)
    ordering = ("position",)

    def _frozen(self, obj) -> bool:
        return obj is not None and obj.state != Round.State.DRAFT

    def get_readonly_fields(self, request, obj=None):
        if self._frozen(obj):
            return ("position", "role", "organisation")
        return super().get_readonly_fields(request, obj)

    def has_add_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_delete_permission(request, obj)


@admin.register(Round)
class RoundAdmin(ProtectedStateAdminMixin, admin.ModelAdmin):
    list_display = ("code", "title_en", "state", "applications_open", "applications_close", "max_selected",
                    "pass_mark")
    list_filter = ("state",)
    search_fields = ("code", "title_en", "title_ru", "title_kk")
    readonly_fields = ("state", "source_sha256", "source")
    inlines = [CriterionInline, RoundSignatoryInline]
    fieldsets = (
        (None, {"fields": ("code", "state", "language", "title_en", "title_ru", "title_kk")}),
        (_("Parties"), {"fields": ("organiser", "operator", "partner", "deciding_body", "legal_basis",
                                "support_act", "memorandum_signed")}),
        (_("Rules"), {"fields": ("applications_open", "applications_close", "timezone", "min_pilot_clusters",
                              "max_selected", "pass_mark", "excluded_sectors", "review_working_days",
                              "diagnosis_areas", "support_proposal")}),
        (_("Source"), {"classes": ("collapse",), "fields": ("source_sha256", "source")}),
    )

    def get_readonly_fields(self, request, obj=None):
        """Every field is read-only once the round has left the draft state."""
        if obj is not None and obj.state != Round.State.DRAFT:
            return [f.name for f in Round._meta.fields]
        return super().get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        """Only a draft round may be deleted (its cases protect it anyway)."""
        if obj is not None and obj.state != Round.State.DRAFT:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Case)
class CaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Browse only (see the module docstring): no add, change or delete."""

    list_display = ("ref", "name_en", "round", "state", "applicant", "created_at")
    list_filter = ("round", "state")
    list_select_related = ("round", "applicant")
    search_fields = ("ref", "number", "name_en", "name_ru", "name_kk")
    fields = ("ref", "round", "number", "state", "name_en", "name_ru", "name_kk", "language", "applicant",
              "created_at")
    readonly_fields = fields
