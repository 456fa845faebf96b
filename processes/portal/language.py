"""The interface language: the switcher's view, and the saved preference applied at login.

The language of a browser is Django's language cookie (``settings.LANGUAGE_COOKIE_NAME``),
read by ``LocaleMiddleware`` on every request, so anonymous pages (the login page) follow it
too. A logged-in person's choice is also saved as their
:class:`workflow.models.UserPreference` ``language`` (Kelisim writes their notifications in
it), and at their next login the cookie is set back from that preference, whichever browser
they use. See docs/i18n.md.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from workflow.models import UserPreference

#: The request attribute through which a login asks the middleware to set the language cookie.
LOGIN_LANGUAGE_ATTRIBUTE = "_kelisim_login_language"
#: The session key of a language chosen before logging in (on the login page): it wins at login.
CHOSEN_LANGUAGE_SESSION_KEY = "kelisim_chosen_language"


def supported(code: str | None) -> bool:
    """Whether ``code`` is one of ``settings.LANGUAGES`` (``kk``, ``ru``, ``en``) exactly."""
    return bool(code) and code in dict(settings.LANGUAGES)


@require_POST
def set_language(request):
    """POST ``language`` (kk, ru or en) and optionally ``next`` (a local URL): sets the language
    cookie through Django's ``set_language`` and redirects (302) to ``next`` (else the
    referring page, else ``/``); for a logged-in user also saves the choice as their
    ``UserPreference.language``; before login the choice is kept in the session and becomes
    the preference at login (:func:`apply_saved_language`). An unknown language is a 400 with
    a message and changes nothing; GET is a 405."""
    code = request.POST.get("language", "")
    if not supported(code):
        return render(request, "portal/problem.html", {
            "title": _("Unknown language"),
            "message": _("Choose one of: %(languages)s.") % {
                "languages": ", ".join(f"{name} ({lang})" for lang, name in settings.LANGUAGES)},
        }, status=400)
    response = django_set_language(request)
    if request.user.is_authenticated:
        UserPreference.objects.update_or_create(user=request.user, defaults={"language": code})
    else:
        request.session[CHOSEN_LANGUAGE_SESSION_KEY] = code
    return response


@receiver(user_logged_in, dispatch_uid="kelisim-login-language")
def apply_saved_language(sender, request, user, **kwargs):
    """On login, switch to the person's saved language (when they saved one): the rest of this
    request renders in it and :class:`LoginLanguageMiddleware` sets the cookie on the response.
    A language chosen with the switcher before logging in (kept in the session by
    :func:`set_language`) wins instead and becomes the saved preference."""
    if request is None:
        return
    chosen = request.session.pop(CHOSEN_LANGUAGE_SESSION_KEY, None) if hasattr(request, "session") else None
    if supported(chosen):
        UserPreference.objects.update_or_create(user=user, defaults={"language": chosen})
        code = chosen
    else:
        code = UserPreference.objects.filter(user=user).values_list("language", flat=True).first()
    if supported(code):
        setattr(request, LOGIN_LANGUAGE_ATTRIBUTE, code)
        translation.activate(code)
        request.LANGUAGE_CODE = code


class LoginLanguageMiddleware:
    """Sets the language cookie on the response of a login that chose a saved language
    (:func:`apply_saved_language`); every other response passes unchanged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        code = getattr(request, LOGIN_LANGUAGE_ATTRIBUTE, None)
        if code:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, code,
                max_age=settings.LANGUAGE_COOKIE_AGE, path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN, secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY, samesite=settings.LANGUAGE_COOKIE_SAMESITE)
        return response
