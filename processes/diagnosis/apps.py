from django.apps import AppConfig


class DiagnosisConfig(AppConfig):
    name = "processes.diagnosis"
    label = "diagnosis"
