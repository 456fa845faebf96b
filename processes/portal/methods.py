"""A page for a request with a method the address does not take (405).

``require_POST`` and ``require_http_methods`` answer 405 with an empty body: a person who
opens a form's address (``/audit/verify/``, ``/cases/1/experts/``) in the browser sees a blank
page. :class:`MethodNotAllowedPageMiddleware` gives such a response the portal's problem page
in the reader's language, keeping the status and the ``Allow`` header. API responses (JSON,
``api/errors.py``) and responses with a body pass unchanged.
"""

from __future__ import annotations

from django.shortcuts import render
from django.utils.translation import gettext as _


class MethodNotAllowedPageMiddleware:
    """Replace the empty body of a 405 outside ``/api/`` with the problem page (status 405,
    the ``Allow`` header kept)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or getattr(response, "streaming", False) or response.content \
                or request.path.startswith("/api/"):
            return response
        page = render(request, "portal/problem.html", {
            "title": _("Not available this way"),
            "message": _("This address only takes the page's own buttons and forms; go back and use them."),
        }, status=405)
        if response.has_header("Allow"):
            page["Allow"] = response["Allow"]
        return page
