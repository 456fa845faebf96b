"""The ``operations`` app: registers the deployment checks, the Celery signal handlers and the
Unicode case-insensitive lookups on SQLite (``operations/sqlite.py``)."""

from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self):
        from . import checks, metrics  # noqa: F401  (registers the checks)

        metrics.connect_celery_signals()
        from . import sqlite

        sqlite.install()
