"""``{% stage_form_link request.user case as link %}``: the case page's link to the stage form
of the case's current stage (``processes/portal/stages.py``), for coordinators only.

No query: the case's state is loaded and the user's roles are cached on the user.
"""

from __future__ import annotations

from django import template
from django.urls import reverse

from workflow import permissions

from ..roles.common import COORDINATOR_ROLES

register = template.Library()


@register.simple_tag
def stage_form_link(user, case) -> str:
    """The URL of ``case``'s stage form (diagnosis, plan, support) when ``user`` is a
    coordinator (or administrator) and the case is in one of those stages; else ``""``."""
    from ..stages import STAGE_FORMS

    name = STAGE_FORMS.get(getattr(case, "state", None))
    if name is None or not permissions.has_role(user, *COORDINATOR_ROLES):
        return ""
    return reverse(name, args=[case.pk])
