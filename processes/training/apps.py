from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "processes.training"
    label = "training"
