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


@signals.worker_ready.connect(weak=False)
def queue_pending_delivery(**kwargs):
    """A worker that starts queues one delivery when e-mail rows are pending
    (``workflow.deadlines.queue_delivery_if_pending``): after a crash they are sent at once, not
    when the broker gives the killed task back (Redis: an hour) or at the next periodic delivery.
    A failure is logged; it does not stop the worker (the periodic delivery still runs)."""
    import logging

    from django.db import connections

    try:
        from workflow.deadlines import queue_delivery_if_pending

        queue_delivery_if_pending()
    except Exception:  # noqa: BLE001 - the worker serves on; beat's delivery covers it
        logging.getLogger("kelisim.deadlines").exception("queueing the pending deliveries at worker start failed")
    finally:
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:  # the worker's main process keeps no connection open
                connection.close()


@signals.worker_process_init.connect(weak=False)
def warm_storage(**kwargs):
    """Each pool process loads the S3 service models once, at its start (``documents.s3.warm``),
    not in the first task that stores or reads a document."""
    from documents.s3 import warm

    warm()
