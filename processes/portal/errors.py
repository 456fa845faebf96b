"""Kelisim's own error pages, in the reader's language (``handler404``/``handler500`` in
``settings/urls.py``; ``handler400`` is :func:`processes.portal.files.bad_request`, 403 is
``templates/403.html``).

Without them the 500 page would be viewflow's English one ("500 Server error ... reported to
the site administrators via email") and a 404 would show Django's internal text ("No Case
matches the given query.", "Resolver404"). Under ``/api/`` both answer in the API's JSON error
shape (:func:`api.errors.body`).
"""

from __future__ import annotations

import re

from django.http import Http404, HttpResponseNotFound, HttpResponseServerError, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _

#: Django's own 404 texts, which are not for people: ``get_object_or_404``'s English
#: "No Case matches the given query." and the resolver's internals.
_INTERNAL_404 = re.compile(r"^No .+ matches the given query\.$")


class NotFound(Http404):
    """A 404 whose message is written for the reader (translated where it is raised), e.g.
    ``raise NotFound(_("No such job of yours."))``; the 404 page shows it. The message of any
    other ``Http404`` (Django's ``get_object_or_404``, the resolver) is never shown."""


def _is_api(request) -> bool:
    from api.errors import API_PREFIX

    return request.path.startswith(API_PREFIX)


def not_found_message(exception) -> str:
    """The message a 404 page shows: a :class:`NotFound`'s own message (written for the reader),
    else "There is no such page, or you may not see it."."""
    message = exception.args[0] if isinstance(exception, NotFound) and exception.args else ""
    if not isinstance(message, str) or not message.strip() or _INTERNAL_404.match(message):
        return _("There is no such page, or you may not see it.")
    return message


def page_not_found(request, exception=None):
    """``handler404``: the API's JSON 404 under ``/api/``; elsewhere the portal's page
    (``404.html``) with :func:`not_found_message`."""
    if _is_api(request):
        from api.errors import body

        return JsonResponse(body("not_found", _("No such API endpoint or object.")), status=404)
    template = loader.get_template("404.html")
    return HttpResponseNotFound(template.render({"message": not_found_message(exception)}, request))


def server_error(request):
    """``handler500``: the API's JSON 500 under ``/api/``; elsewhere Kelisim's ``500.html`` in the
    active language. Rendered without context processors (no database query), since the
    failure may be the database's."""
    if _is_api(request):
        from api.errors import body

        return JsonResponse(body("server_error", _(
            "An unexpected error occurred; nothing was changed. It was logged.")), status=500)
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({}))
