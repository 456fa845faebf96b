"""The ``operations`` app: registers the deployment checks and the Celery signal handlers."""

from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self):
        from . import checks, metrics  # noqa: F401  (registers the checks)

        metrics.connect_celery_signals()
