"""Refuse control characters in every URL path, query value and form value, in one place.

PostgreSQL text columns cannot hold NUL (``\\x00``: psycopg raises ``DataError``, a 500), SQLite
stores it silently, and the other C0 control characters (``\\x01``-``\\x1f`` except tab, line
feed and carriage return) have no place in a name, a comment or a code either. Rather than
each view or form checking (and one forgetting), :class:`ControlCharacterMiddleware` answers
before any view runs:

* a URL path holding such a character (``/rounds/%00/apply/``): **404**, as for any path that
  names nothing;
* a query value or name (``?q=a%00b``), or a form value or name of a
  ``application/x-www-form-urlencoded`` or ``multipart/form-data`` body: **400** with a
  message, nothing done.

The answer is the portal's problem page in the reader's language, or the API's JSON error
shape (``{"code": "control_character", ...}`` / ``not_found``) under ``/api/``. JSON bodies of
the API are checked by its serializers (``api/serializers.py``), uploaded files by
:mod:`documents.uploads` (their names) and not at all (their content). A multipart body sent
to a view that streams it itself (``csrf_exempt`` views such as the attachment upload, which
installs its size-limiting upload handler first) is not parsed here; such a view has no
free-text fields.
"""

from __future__ import annotations

import re

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

#: C0 control characters other than tab (``\\t``), line feed (``\\n``) and carriage return (``\\r``).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

#: Content types whose body Django parses into ``request.POST`` (checked here).
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a character of :data:`CONTROL_CHARACTERS`."""
    return bool(CONTROL_CHARACTERS.search(text))


def _bad_field(querydict) -> str | None:
    """The name of the first field of ``querydict`` whose name or a value holds a control
    character (``repr`` of the name: it may itself hold one), else ``None``."""
    for key, values in querydict.lists():
        if has_control_characters(key) or any(has_control_characters(v) for v in values
                                               if isinstance(v, str)):
            return CONTROL_CHARACTERS.sub("?", key)
    return None


def _is_api(request) -> bool:
    from api.errors import API_PREFIX

    return request.path.startswith(API_PREFIX)


def not_found(request):
    """404 for a path holding a control character: JSON under ``/api/``, the portal page
    elsewhere."""
    if _is_api(request):
        from api.errors import body

        return JsonResponse(body("not_found", _("No such API endpoint or object.")), status=404)
    return render(request, "404.html", status=404)


def refusal_message(field: str) -> str:
    """The 400 message for ``field``, in the active language."""
    return _("The value of “%(field)s” contains a control character (such as NUL) that cannot be "
             "stored; nothing was done. Please remove it and try again.") % {"field": field}


def refused(request, field: str):
    """400 for a query or form value (``field``) holding a control character."""
    message = refusal_message(field)
    if _is_api(request):
        from api.errors import body

        return JsonResponse(body("control_character", message, {"field": field}), status=400)
    return render(request, "portal/problem.html", {"title": _("Bad request"), "message": message}, status=400)


class ControlCharacterMiddleware:
    """404 for a URL path, 400 for a query or form field, holding a C0 control character other
    than tab, LF or CR (see the module docstring). Installed after the authentication and
    message middleware (the page knows the user) and after the CSRF check (a POST without a
    token is a 403 first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if has_control_characters(request.path_info) or has_control_characters(request.path):
            return not_found(request)
        field = _bad_field(request.GET)
        if field is not None:
            return refused(request, field)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return None
        content_type = (request.content_type or "").lower()
        if content_type not in FORM_TYPES:
            return None
        if content_type == "multipart/form-data" and getattr(view_func, "csrf_exempt", False):
            return None  # the view streams the body itself (see the module docstring)
        if _is_api(request):
            try:
                post = request.POST
            except Exception:  # noqa: BLE001 - the view reads it again and answers in the API's shape
                return None
        else:
            post = request.POST  # a body Django refuses is handler400's answer, as in any view
        field = _bad_field(post)
        if field is not None:
            return refused(request, field)
        return None
