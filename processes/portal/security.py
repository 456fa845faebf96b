"""Login rate limiting: the page a locked-out login gets (django-axes, docs/security.md).

django-axes counts failed logins per (username, IP address) (``AXES_LOCKOUT_PARAMETERS``);
after ``AXES_FAILURE_LIMIT`` failures (default 5) that pair is locked out for
``AXES_COOLOFF_TIME`` (default 15 minutes) and every login attempt of it, even with the right
password, is answered by :func:`lockout_response` (``AXES_LOCKOUT_CALLABLE``) with HTTP 429.
Other usernames and other addresses are not affected.
"""

from __future__ import annotations

import math

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def cool_off_minutes(request=None) -> int | None:
    """The lockout's length in whole minutes (rounded up), or ``None`` when it never ends."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    return None if cool_off is None else max(1, math.ceil(cool_off.total_seconds() / 60))


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """HTTP 429 for a locked-out login: a page, or JSON ``{"code", "message"}`` when the
    client asks for JSON (``Accept: application/json`` or an XMLHttpRequest)."""
    from axes.helpers import get_failure_limit

    limit = get_failure_limit(request, credentials)
    minutes = cool_off_minutes(request)
    if minutes is None:
        message = _("This account is locked for this address. Ask the administrator to unlock it.")
    else:
        message = _("This account is locked for this address for %(minutes)s minutes. Until then even the "
                    "right password is refused.") % {"minutes": minutes}
    wants_json = (request.META.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest"
                  or "application/json" in request.META.get("HTTP_ACCEPT", ""))
    if wants_json:
        return JsonResponse({"code": "login_locked_out", "message": message}, status=429)
    response = render(request, "registration/lockout.html",
                      {"failure_limit": limit, "cooloff_minutes": minutes, "message": message}, status=429)
    if minutes is not None:
        response["Retry-After"] = str(minutes * 60)
    return response
