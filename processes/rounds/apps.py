from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoundsConfig(AppConfig):
    name = "processes.rounds"
    label = "rounds"
    verbose_name = _("Rounds and cases")

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
