"""Admin for the audit chain (strictly read-only) and helpers shared by the other admins.

History is append-only: nobody, not even a superuser, may add, change or delete an
:class:`AuditEntry` or :class:`AuditChain` through the admin. Every django-fsm state field is
read-only everywhere in the admin: a state changes only through
``workflow.transitions.perform``.
"""

from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .models import AuditChain, AuditEntry, Deadline, UserPreference


def fsm_field_names(model) -> list[str]:
    """Names of ``model``'s django-fsm state fields (they are never editable in the admin)."""
    return [f.name for f in model._meta.fields if hasattr(f, "get_all_transitions")]


class ProtectedStateAdminMixin:
    """Adds every FSM state field of the model to ``readonly_fields`` (admins and inlines)."""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields + [name for name in fsm_field_names(self.model) if name not in fields]


class ReadOnlyAdminMixin(ProtectedStateAdminMixin):
    """Browse only: no add, change or delete (the view permission still shows everything).

    Used for records that change only through the workflow services, so that no edit can
    bypass the permissions, conditions and audit entries of ``perform``.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A tabular inline that only shows its rows."""

    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("chain", "seq", "created_at", "actor_username", "object_type", "transition",
                    "from_state", "to_state")
    list_filter = ("object_type", "transition")
    search_fields = ("chain", "actor_username", "object_repr", "transition", "comment")
    ordering = ("chain", "seq")
    date_hierarchy = "created_at"
    list_per_page = 100
    readonly_fields = ("chain", "seq", "created_at", "actor", "actor_username", "on_behalf_of_username",
                       "object_type", "object_id", "object_repr", "transition", "from_state", "to_state",
                       "comment", "data", "prev_hash", "hash", "canonical")
    fields = readonly_fields


@admin.register(AuditChain)
class AuditChainAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("key", "length", "head_hash")
    search_fields = ("key",)
    readonly_fields = ("key", "length", "head_hash")


def transition_action(name: str, description: str):
    """An admin action taking transition ``name`` on the selected objects as the current user.

    All or nothing: the first refusal (not permitted, wrong state, unmet condition, stale)
    rolls every object back and is reported; it goes through ``perform`` like every path.
    """
    from django.contrib import messages
    from django.db import transaction

    from .exceptions import WorkflowError
    from .transitions import perform

    def action(modeladmin, request, queryset):
        objects = list(queryset)
        try:
            with transaction.atomic():
                for obj in objects:
                    perform(obj, name, actor=request.user, comment="via the admin")
        except WorkflowError as exc:
            modeladmin.message_user(request, _("Nothing was changed: %(reason)s") % {"reason": exc.message},
                                    level=messages.ERROR)
            return
        modeladmin.message_user(request, ngettext("%(transition)s: %(count)s object done.", "%(transition)s: %(count)s objects done.",
                                  len(objects)) % {"transition": name, "count": len(objects)}, level=messages.SUCCESS)

    action.__name__ = f"transition_{name}"
    return admin.action(description=description)(action)


@admin.register(UserPreference)
class UserPreferenceAdmin(admin.ModelAdmin):
    """A person's language for e-mail and in-app notifications (blank: the case's language)."""

    list_display = ("user", "language")
    list_filter = ("language",)
    search_fields = ("user__username", "user__email")


@admin.register(Deadline)
class DeadlineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Deadlines are kept by the workflow (opened and closed with tasks and stages); read-only,
    so that an auditor's view of reminders, escalations and expiry rules stays true."""

    list_display = ("label_shown", "chain", "due_at", "responsible", "role", "on_expiry", "closed_at", "expired_at")
    list_filter = ("role", "on_expiry")
    search_fields = ("chain", "label")
    date_hierarchy = "due_at"

    @admin.display(description=gettext_lazy("label"), ordering="label")
    def label_shown(self, deadline):
        """The work's label is stored in English (a ``gettext_noop`` string of the stage's task
        plan) and shown in the reader's language."""
        return _(deadline.label) if deadline.label else deadline.label
