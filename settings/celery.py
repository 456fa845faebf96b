"""The Celery application (``celery -A settings worker``).

In embedded mode (no ``CELERY_BROKER_URL``) tasks run eagerly in the calling process.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.settings")

app = Celery("kelisim")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workflow", "documents", "processes.portal"], related_name="jobs")
