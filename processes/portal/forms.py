"""Forms of the portal that are not a role page's own: the login form.

Django's ``AuthenticationForm`` messages have no Kazakh translation in Django's catalogue and
name the user model's field (``%(username)s``), so :class:`LoginForm` replaces them with
Kelisim's own catalogued strings (docs/i18n.md).
"""

from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class LoginForm(AuthenticationForm):
    """``AuthenticationForm`` with Kelisim's translated error messages; used by the login page
    (``settings/urls.py``, ``LoginView(authentication_form=LoginForm)``). Behaviour (checks,
    django-axes lockout) is Django's."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("The user name or the password is wrong. Both are case-sensitive."),
        "inactive": _("This account is inactive."),
    }
