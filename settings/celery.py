"""The Celery application (``celery -A settings worker``).

In embedded mode (no ``CELERY_BROKER_URL``) tasks run eagerly in the calling process.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.settings")

app = Celery("kelisim")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workflow", "documents", "processes.portal"], related_name="jobs")


def _startup(process):
    def receiver(**kwargs):
        from operations.startup import celery_hook

        celery_hook(process)(**kwargs)
    return receiver


# A production worker or beat that cannot reach its database, broker or storage does not start
# (operations/startup.py); a worker serves its metrics on KELISIM_WORKER_METRICS_PORT when set.
signals.worker_init.connect(_startup("worker"), weak=False)
signals.beat_init.connect(_startup("beat"), weak=False)
