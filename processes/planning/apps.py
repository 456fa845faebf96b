from django.apps import AppConfig


class PlanningConfig(AppConfig):
    name = "processes.planning"
    label = "planning"
