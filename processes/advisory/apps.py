from django.apps import AppConfig


class AdvisoryConfig(AppConfig):
    name = "processes.advisory"
    label = "advisory"
