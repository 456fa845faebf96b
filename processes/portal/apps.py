from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "processes.portal"
    label = "portal"
    verbose_name = _("Portal")

    def ready(self):
        from . import language  # noqa: F401  (connects the login signal: the saved language)
