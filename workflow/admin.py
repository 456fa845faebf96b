"""Admin for the audit chain (strictly read-only) and helpers shared by the other admins.

History is append-only: nobody, not even a superuser, may add, change or delete an
:class:`AuditEntry` or :class:`AuditChain` through the admin. Every django-fsm state field is
read-only everywhere in the admin: a state changes only through
``workflow.transitions.perform``, and an admin action takes a transition the way the inbox and
the API do (:func:`transition_action`: ``workflow.tasks.take``, so routed transitions reach
their stage service).
"""

import contextlib
import contextvars

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


#: Storage keys of the document versions created in this context (see _documents_written).
_WRITTEN: contextvars.ContextVar[list | None] = contextvars.ContextVar("kelisim_admin_written", default=None)


def _note_written(sender, instance, created, **kwargs) -> None:
    written = _WRITTEN.get()
    if created and written is not None:
        written.append(instance.storage_key)


@contextlib.contextmanager
def _documents_written(written: list[str]):
    """Append to ``written`` the storage keys of the :class:`documents.models.DocumentVersion`
    rows created inside the ``with`` block (in this thread or task only)."""
    from django.db.models.signals import post_save

    from documents.models import DocumentVersion

    post_save.connect(_note_written, sender=DocumentVersion, dispatch_uid="kelisim-admin-documents-written")
    token = _WRITTEN.set(written)
    try:
        yield written
    finally:
        _WRITTEN.reset(token)


def transition_action(name: str, description: str):
    """An admin action taking transition ``name`` on the selected objects as the current user,
    the way the inbox and the API take it.

    Each object goes through :func:`workflow.tasks.take`: an open task of the object that the
    user holds or may claim is completed (done, with who completed it), and a routed transition
    (``routed_transitions``, e.g. the plan's ``approve`` / ``reject``) goes to the model's stage
    service (the plan's signed version and approval sheet), so the admin has the consequences
    of ``POST <object>/transitions/<name>/`` (docs/cycle.md, "Tasks and the stage services");
    any other transition is taken with ``perform``. The audit comment is "via the admin".

    All or nothing: first every selected object is checked as ``perform`` checks it (state 409,
    permission 403, conditions 400: :func:`workflow.tasks.ensure_allowed`), and when any is
    refused nothing is taken and each refusal's message is shown; then the transitions are taken
    in one transaction, and a refusal there (a service's own check, a concurrent change) rolls
    every object back and is shown the same way; the stored files of the document versions
    rendered for the objects taken before it are deleted with their rolled-back rows
    (:func:`_documents_written`). Returns nothing (messages go to the admin page).
    """
    from django.contrib import messages
    from django.core.files.storage import default_storage
    from django.db import transaction

    from .exceptions import WorkflowError
    from .tasks import ensure_allowed, take

    def refused(modeladmin, request, reasons: list[str]) -> None:
        modeladmin.message_user(request, _("Nothing was changed: %(reason)s") % {"reason": "; ".join(reasons)},
                                level=messages.ERROR)

    def action(modeladmin, request, queryset):
        objects = list(queryset)
        reasons = []
        for obj in objects:  # nothing is rendered or written for a selection with a refused object
            try:
                ensure_allowed(obj, name, actor=request.user)
            except WorkflowError as exc:
                reasons.append(exc.message)
        if reasons:
            refused(modeladmin, request, reasons)
            return
        written: list[str] = []
        try:
            with _documents_written(written), transaction.atomic():
                for obj in objects:
                    take(obj, name, actor=request.user, comment="via the admin")
        except BaseException as exc:
            for key in written:  # their rows were rolled back: leave no orphan object
                default_storage.delete(key)
            if not isinstance(exc, WorkflowError):
                raise
            for obj in objects:
                obj.refresh_from_db()
            refused(modeladmin, request, [exc.message])
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
