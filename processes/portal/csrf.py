"""The page of a failed CSRF check (``settings.CSRF_FAILURE_VIEW``), in the reader's language.

Django's own page is English ("Forbidden (403) CSRF verification failed. Request aborted.")
and its Russian one mentions ``DEBUG=True``; a person whose session or page expired (sessions
last 8 hours) sees this one instead: the portal's problem page, status 403. See docs/i18n.md.
"""

from __future__ import annotations

import logging

from django.shortcuts import render
from django.utils.translation import gettext as _

security_log = logging.getLogger("kelisim.security")


def csrf_failure(request, reason: str = ""):
    """A form posted without a valid CSRF token (an expired page or session, a blocked cookie):
    the portal's problem page with status 403 in the active language; nothing was done.
    ``reason`` (Django's, English) goes to the ``kelisim.security`` log only."""
    security_log.warning("CSRF failure on %s %s: %s", request.method, request.path, reason)
    return render(request, "portal/problem.html", {
        "title": _("The form has expired"),
        "message": _("Nothing was saved: the page was open too long, or you logged in or out in another tab. "
                     "Go back, reload the page and send the form again."),
    }, status=403)
