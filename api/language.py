"""The language of the API's messages (error ``message`` texts, refusal reasons, labels).

For each request, the first of:

1. the ``Accept-Language`` header, its first language Kelisim speaks (``kk``, ``ru``, ``en``;
   regional variants such as ``ru-RU`` count; ``*`` and unknown ones are skipped);
2. the authenticated user's saved language (``workflow.models.UserPreference.language``, set
   by the portal's language switcher), looked up only when the header names none;
3. what Django's ``LocaleMiddleware`` chose (the language cookie), else ``LANGUAGE_CODE``
   (English).

Error ``code`` values never change with the language (docs/api.md). The language is
activated before authentication (for a 401) and again after it, before any permission check,
so that every message a view, the workflow engine or DRF produces is in it; the response's
``Content-Language`` names it.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header


def header_language(request) -> str | None:
    """The first language of the request's ``Accept-Language`` that Kelisim speaks, or ``None``."""
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    if not header or len(header) > 500:  # Django's own limit for parsing the header (LocaleMiddleware)
        return None
    for code, _quality in parse_accept_lang_header(header):
        if code == "*":
            continue
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return None


def saved_language(user) -> str | None:
    """``user``'s saved language (``UserPreference.language``), or ``None`` (anonymous, none saved)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    from workflow.models import UserPreference

    code = UserPreference.objects.filter(user_id=user.pk).values_list("language", flat=True).first()
    try:
        return translation.get_supported_language_variant(code) if code else None
    except LookupError:
        return None


def _activate(request, code: str) -> None:
    translation.activate(code)
    request.LANGUAGE_CODE = code  # read by the serializers (criterion titles) like the portal's views
    if hasattr(request, "_request"):
        request._request.LANGUAGE_CODE = code


class ApiLanguageMixin:
    """For DRF views: speak the request's language (the order in the module docstring).

    ``tests/api/test_api_i18n.py`` checks that every view under ``/api/`` has this mixin.
    """

    def initial(self, request, *args, **kwargs):
        self._explicit_language = header_language(request)
        if self._explicit_language:
            _activate(request, self._explicit_language)
        super().initial(request, *args, **kwargs)

    def perform_authentication(self, request):
        super().perform_authentication(request)  # a failure is answered in the header's language
        if not getattr(self, "_explicit_language", None):
            saved = saved_language(request.user)
            if saved:
                _activate(request, saved)
