from django.apps import AppConfig


class RoundsConfig(AppConfig):
    name = "processes.rounds"
    label = "rounds"
