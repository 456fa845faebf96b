"""Small template helpers of the portal."""

from django import template

from workflow.permissions import user_roles

register = template.Library()


@register.filter
def localized(obj, language: str) -> str:
    """A case's ``name(language)`` or a round's ``title(language)``, whichever it has."""
    for method in ("name", "title"):
        value = getattr(obj, method, None)
        if callable(value):
            return value(language)
    return str(obj)


@register.filter
def roles_of(user) -> str:
    """The user's role codes, sorted and comma-separated."""
    return ", ".join(sorted(user_roles(user)))
