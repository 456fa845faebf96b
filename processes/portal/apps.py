from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "processes.portal"
    label = "portal"
