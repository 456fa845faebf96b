"""WSGI entry point (``gunicorn -c python:settings.gunicorn settings.wsgi:application``).

In production (``KELISIM_STARTUP_CHECKS``, on with ``KELISIM_ENV=production``) the deployment
checks run before the first request: a web process that cannot reach its database, broker or
storage, or whose rounds are inconsistent, does not start (operations/startup.py).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.settings")
application = get_wsgi_application()

from operations.startup import enabled, run_startup_checks  # noqa: E402  (needs the settings)

if enabled():
    run_startup_checks("web")
