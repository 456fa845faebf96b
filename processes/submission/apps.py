from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubmissionConfig(AppConfig):
    name = "processes.submission"
    label = "submission"
    verbose_name = _("Applications")
