"""The project's Celery app for the worker subprocesses of the broker tests.

``celery -A tests.brokers.worker_app worker`` is ``celery -A settings worker`` with one
change: the default queue is ``KELISIM_TEST_QUEUE`` (unique per test), so the messages the
worker publishes itself (the delivery queued after a sweep commits) stay in the test's queue
and two test runs sharing a broker never take each other's tasks.
"""

import os

from settings.celery import app

app.conf.task_default_queue = os.environ["KELISIM_TEST_QUEUE"]

__all__ = ("app",)
