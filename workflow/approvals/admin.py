"""Admin for approvals: browse approvals and decisions; decide through an admin action (which
goes through ``perform`` like every other path, so a user without the right is refused);
grant delegations (recorded in the audit chain)."""

from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from workflow.admin import ReadOnlyAdminMixin, ReadOnlyTabularInline
from workflow.exceptions import WorkflowError

from .models import Approval, Decision, Delegation
from .services import decide, delegate


class DecisionInline(ReadOnlyTabularInline):
    model = Decision
    fields = ("position", "signatory", "role", "organisation", "state", "decided_by", "decided_at", "sha256",
              "comment")
    readonly_fields = fields


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "chain", "policy", "required", "veto", "state", "created_at")
    list_filter = ("state", "policy")
    search_fields = ("chain", "key", "title")
    inlines = [DecisionInline]


def _decide_selected(modeladmin, request, queryset, approve: bool):
    try:
        with transaction.atomic():  # all or nothing
            for decision in queryset.select_related("approval", "signatory"):
                decide(decision=decision, actor=request.user, approve=approve, comment="via the admin")
    except WorkflowError as exc:
        modeladmin.message_user(request, gettext("Nothing was changed: %(reason)s") % {"reason": exc.message}, level=messages.ERROR)
        return
    modeladmin.message_user(request, ngettext("%(count)s decision recorded.", "%(count)s decisions recorded.", queryset.count()) % {
            "count": queryset.count()}, level=messages.SUCCESS)


@admin.action(description=_("Approve the selected decisions (as yourself)"))
def approve_decisions(modeladmin, request, queryset):
    _decide_selected(modeladmin, request, queryset, True)


@admin.action(description=_("Reject the selected decisions (as yourself)"))
def reject_decisions(modeladmin, request, queryset):
    _decide_selected(modeladmin, request, queryset, False)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "signatory", "state", "decided_by", "decided_at")
    list_filter = ("state",)
    list_select_related = ("approval", "signatory", "decided_by")
    search_fields = ("approval__chain", "signatory__username")
    actions = [approve_decisions, reject_decisions]

    def has_change_permission(self, request, obj=None):
        # Actions need the change permission; the fields stay read-only (ReadOnlyAdminMixin).
        return obj is None and super(ReadOnlyAdminMixin, self).has_change_permission(request)

    def get_actions(self, request):
        return {name: action for name, action in super().get_actions(request).items() if name != "delete_selected"}


@admin.register(Delegation)
class DelegationAdmin(admin.ModelAdmin):
    list_display = ("owner", "deputy", "kind", "starts_on", "ends_on", "approval", "revoked_at")
    list_filter = ("kind",)
    raw_id_fields = ("owner", "deputy", "approval")
    fields = ("owner", "deputy", "kind", "approval", "starts_on", "ends_on", "reason")

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """New delegations go through the service, which records them in the audit chain."""
        created = delegate(owner=obj.owner, deputy=obj.deputy, starts_on=obj.starts_on, ends_on=obj.ends_on,
                           approval=obj.approval, kind=obj.kind, reason=obj.reason, actor=request.user)
        obj.pk = created.pk
