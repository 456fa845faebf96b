from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdvisoryConfig(AppConfig):
    name = "processes.advisory"
    label = "advisory"
    verbose_name = _("Advisory materials")
