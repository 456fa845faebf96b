"""Template helpers of the role pages: the navigation links (see :mod:`processes.portal.roles`)."""

from django import template

from processes.portal.roles.common import role_links

register = template.Library()


@register.simple_tag
def role_pages(user) -> list:
    """``{% role_pages user as links %}``: the role pages ``user`` works from (``NavLink`` list)."""
    return role_links(user)


@register.filter
def may_edit_application(user, case) -> bool:
    """``{% if request.user|may_edit_application:case %}``: the case has an application that is
    a draft or returned for revision, and ``user`` is its applicant or a coordinator."""
    from processes.portal.roles.applicant import EDITABLE, may_edit

    application = getattr(case, "application", None) if case is not None else None
    return bool(application is not None and user is not None and user.is_authenticated
                and application.state in EDITABLE and may_edit(user, case))
