"""Admin for development plans with their actions: browse only (approvals live in workflow.approvals).

The "approve" / "reject" actions take the transition the way the API does
(``workflow.admin.transition_action`` -> ``workflow.tasks.take``): the planning service marks the
signed version and renders the approval sheet; a refusal changes nothing and is shown.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline, transition_action

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
    actions = [transition_action("approve", _("Approve the selected plans (their approval must be complete)")),
               transition_action("reject", _("Reject the selected plans (their approval must be rejected)"))]

    def has_change_permission(self, request, obj=None):
        # Actions need the change permission on the list; every field stays read-only.
        return obj is None and super(ReadOnlyAdminMixin, self).has_change_permission(request)

    def get_actions(self, request):
        return {name: action for name, action in super().get_actions(request).items() if name != "delete_selected"}
