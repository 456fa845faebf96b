"""``{% document_rows documents as rows %}`` and ``{% timeline_rows history as rows %}``: the case
page's long tables as ready rows (:mod:`processes.portal.rows`), with the reader and the time
zone (``tz``, an IANA name) taken from the template's context."""

from django import template

from processes.portal import rows

register = template.Library()


@register.simple_tag(takes_context=True)
def document_rows(context, documents) -> list[dict]:
    """:func:`processes.portal.rows.document_rows` for ``context["request"].user``."""
    request = context.get("request")
    return rows.document_rows(documents, user=getattr(request, "user", None), tz=context.get("tz"))


@register.simple_tag(takes_context=True)
def timeline_rows(context, entries) -> list[dict]:
    """:func:`processes.portal.rows.timeline_rows` in ``context["tz"]``."""
    return rows.timeline_rows(entries, tz=context.get("tz"))
