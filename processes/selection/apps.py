from django.apps import AppConfig


class SelectionConfig(AppConfig):
    name = "processes.selection"
    label = "selection"
