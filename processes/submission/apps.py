from django.apps import AppConfig


class SubmissionConfig(AppConfig):
    name = "processes.submission"
    label = "submission"
