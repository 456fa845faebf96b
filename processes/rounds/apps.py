from django.apps import AppConfig


class RoundsConfig(AppConfig):
    name = "processes.rounds"
    label = "rounds"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
