"""Helpers shared by the role pages: role checks, problem pages, the navigation links."""

from __future__ import annotations

import dataclasses

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from workflow import permissions

#: The roles of each role page (superusers hold every role, see ``permissions.has_role``).
COORDINATOR_ROLES = (permissions.COORDINATOR, permissions.PARTNER_COORDINATOR)
EXPERT_ROLES = (permissions.EXPERT,)
SIGNATORY_ROLES = (permissions.SIGNATORY,)
APPLICANT_ROLES = (permissions.APPLICANT,)
AUDITOR_ROLES = (permissions.AUDITOR,)
#: Who may check an uploaded dossier: those who may download one (auditors, coordinators).
DOSSIER_ROLES = (permissions.AUDITOR, permissions.COORDINATOR)
#: Rows per page of the long lists (coordinator's cases, audit search).
PER_PAGE = 50
#: The longest comment or note accepted by a role page's form (characters).
MAX_TEXT = 4000


def require_role(user, *roles: str) -> None:
    """Raise ``PermissionDenied`` (403) unless ``user`` holds one of ``roles``."""
    if not permissions.has_role(user, *roles):
        raise PermissionDenied


def problem(request, status: int, title: str, message: str) -> HttpResponse:
    """The portal's problem page with ``status`` (400, 404, 409, ...), a title and a message."""
    return render(request, "portal/problem.html", {"title": title, "message": message}, status=status)


def is_deputy_today(user) -> bool:
    """True when ``user`` stands in for a signatory today (an active delegation)."""
    from django.utils import timezone

    from workflow.approvals.models import Delegation

    if user is None or user.pk is None:
        return False
    today = timezone.localdate()
    return Delegation.objects.filter(deputy_id=user.pk, starts_on__lte=today, ends_on__gte=today,
                                     revoked_at__isnull=True).exists()


def may_decide_as_signatory(user) -> bool:
    """Signatories, and anybody standing in for one today, use the approvals page."""
    return permissions.has_role(user, *SIGNATORY_ROLES) or is_deputy_today(user)


@dataclasses.dataclass(frozen=True)
class NavLink:
    """One link of the top navigation: ``url``, translated ``label``, stable ``id``."""

    url: str
    label: str
    id: str


def role_links(user) -> list[NavLink]:
    """The role pages ``user`` works from, in a fixed order, for the top navigation.

    At most two queries: the open rounds (applicants only) and today's delegations (only for
    users who are not signatories); roles are cached on the user.
    """
    if user is None or not user.is_authenticated:
        return []
    from processes.rounds.models import Round

    links = []
    if permissions.has_role(user, *COORDINATOR_ROLES):
        links.append(NavLink(reverse("portal:coordinator"), _("Work"), "nav-coordinator"))
    if permissions.has_role(user, *EXPERT_ROLES):
        links.append(NavLink(reverse("portal:expert"), _("Score sheets"), "nav-expert"))
    if may_decide_as_signatory(user):
        links.append(NavLink(reverse("portal:signatory"), _("Approvals"), "nav-signatory"))
    if permissions.APPLICANT in permissions.user_roles(user):  # not for administrators: they file nothing
        for code in Round.objects.filter(state=Round.State.OPEN).order_by("code").values_list("code", flat=True):
            links.append(NavLink(reverse("portal:application-new", args=[code]),
                                 _("Apply to %(round)s") % {"round": code}, f"nav-apply-{code}"))
    if permissions.has_role(user, *AUDITOR_ROLES):
        links.append(NavLink(reverse("portal:audit"), _("Audit"), "nav-audit"))
    if permissions.has_role(user, *DOSSIER_ROLES):
        links.append(NavLink(reverse("portal:dossier-verify"), _("Verify a dossier"), "nav-dossier-verify"))
    return links
