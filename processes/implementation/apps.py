from django.apps import AppConfig


class ImplementationConfig(AppConfig):
    name = "processes.implementation"
    label = "implementation"
