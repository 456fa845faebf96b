from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "processes.portal"
    label = "portal"

    def ready(self):
        from . import language  # noqa: F401  (connects the login signal: the saved language)
