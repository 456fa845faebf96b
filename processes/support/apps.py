from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "processes.support"
    label = "support"
