"""Roles and transition permission predicates.

A transition declares who may take it with ``permission=`` (django-fsm's hook): a callable
``(instance, user) -> bool`` built here. Roles are Django groups named after the role codes
below. Superusers (administrators) hold every role.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_lazy

COORDINATOR = "coordinator"
PARTNER_COORDINATOR = "partner_coordinator"
EXPERT = "expert"
SIGNATORY = "signatory"
APPLICANT = "applicant"
AUDITOR = "auditor"
ADMINISTRATOR = "administrator"

ROLES = (COORDINATOR, PARTNER_COORDINATOR, EXPERT, SIGNATORY, APPLICANT, AUDITOR, ADMINISTRATOR)

#: The name of each role as shown to people, in the active language (the codes above are data).
ROLE_LABELS = {
    COORDINATOR: gettext_lazy("coordinator"),
    PARTNER_COORDINATOR: gettext_lazy("partner coordinator"),
    EXPERT: gettext_lazy("expert"),
    SIGNATORY: gettext_lazy("signatory"),
    APPLICANT: gettext_lazy("applicant"),
    AUDITOR: gettext_lazy("auditor"),
    ADMINISTRATOR: gettext_lazy("administrator"),
}


def role_label(code: str) -> str:
    """The translated name of the role ``code`` (the code itself for an unknown one)."""
    return str(ROLE_LABELS.get(code, code))


def user_roles(user) -> set[str]:
    """Return the role codes (group names) of ``user``; empty for anonymous users.

    The result is cached on the user object for the rest of the request.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_kelisim_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) & set(ROLES)
        if user.is_superuser:
            cached |= {ADMINISTRATOR}
        user._kelisim_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    """True when ``user`` holds any of ``roles`` (administrators hold all but auditor-only)."""
    held = user_roles(user)
    return bool(held & set(roles)) or ADMINISTRATOR in held


def role_required(*roles: str, owner: Callable | None = None) -> Callable:
    """Build a django-fsm ``permission`` predicate: the user holds one of ``roles``.

    With ``owner`` (a callable ``instance -> user or None``), a user holding none of the roles
    is still allowed when it is that instance's owner (e.g. the applicant of its own case).
    The predicate's ``reason`` attribute explains a denial.
    """

    def predicate(instance, user) -> bool:
        if roles and has_role(user, *roles):
            return True
        if owner is not None and user is not None and getattr(user, "pk", None) is not None:
            owner_user = owner(instance)
            return owner_user is not None and owner_user.pk == user.pk
        return False

    def reason() -> str:
        wanted = ", ".join(role_label(role) for role in roles)
        if owner:
            return gettext("requires the role %(roles)s or being the owner") % {"roles": wanted}
        return gettext("requires the role %(roles)s") % {"roles": wanted}

    # Evaluated when shown, in the language of that moment.
    predicate.reason = lazy(reason, str)()
    predicate.roles = roles
    return predicate


#: The operator's and the partner's coordinators: who moves cases through the stages.
coordinators = role_required(COORDINATOR, PARTNER_COORDINATOR)


#: The username of the inactive account that imports and scheduled jobs act as.
SYSTEM_USERNAME = "kelisim-system"


def system_actor():
    """The inactive user (``SYSTEM_USERNAME``, no usable password, so no login) that scheduled
    jobs act as, holding the coordinator role so that opt-in rules (e.g. an expiry rule) pass
    the same permission checks as a coordinator would. Inactive users are never reminded.
    Created on first use."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "first_name": "Kelisim", "last_name": "system"})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if COORDINATOR not in user_roles(user):
        user.groups.add(Group.objects.get_or_create(name=COORDINATOR)[0])
        user._kelisim_roles = None
    return user
