"""Interface strings of Django's admin and of third-party apps that their own catalogues leave
in English for Kazakh (Django's ``kk`` admin catalogue lacks them; django-axes and
django-celery-beat have no ``kk`` catalogue at all).

Nothing imports this module. It only lists the exact msgids with ``gettext_noop`` so that
``makemessages`` keeps them in Kelisim's catalogues (``locale/``), which ``LOCALE_PATHS``
puts before every app's own: the administrator's index and change lists then name every model
in Kazakh too (docs/i18n.md, "The admin"). The Russian entries repeat the packages' own
Russian translations. A msgid here must match the package's string exactly (case included),
or it translates nothing; ``tests/portal/test_admin_i18n.py`` renders the admin in ``kk``.
"""

from django.utils.translation import gettext_noop

DJANGO_ADMIN = (
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    gettext_noop("Toggle theme (current theme: auto)"),
    gettext_noop("Toggle theme (current theme: light)"),
    gettext_noop("Toggle theme (current theme: dark)"),
    gettext_noop("Skip to main content"),
    gettext_noop("Show counts"),
    gettext_noop("Hide counts"),
    gettext_noop("Clear all filters"),
    gettext_noop("Recent actions"),
    gettext_noop("My actions"),
    gettext_noop("Models in the %(name)s application"),
    gettext_noop("Select %s to view"),
    gettext_noop("Close"),
)

DJANGO_AUTH = (
    gettext_noop("Authentication and Authorization"),
    gettext_noop("email address"),
)

DJANGO_CELERY_BEAT = (
    gettext_noop("Periodic Tasks"),
    gettext_noop("periodic task"),
    gettext_noop("periodic tasks"),
    gettext_noop("clocked"),
    gettext_noop("crontab"),
    gettext_noop("crontabs"),
    gettext_noop("solar event"),
    gettext_noop("solar events"),
    gettext_noop("interval"),
    gettext_noop("intervals"),
    gettext_noop("Last Run Datetime"),
    gettext_noop("Start Datetime"),
    gettext_noop("One-off Task"),
)

DJANGO_AXES = (
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("Attempt Time"),
    gettext_noop("Logout Time"),
    gettext_noop("Path"),
    gettext_noop("IP Address"),
    gettext_noop("User Agent"),
    gettext_noop("Access lock out"),
    gettext_noop("Locked Out"),
)
