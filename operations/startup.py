"""Start-up checks of a production process: the web process (``settings/wsgi.py``), a Celery
worker and beat (``settings/celery.py``) refuse to start when a deployment check
(:mod:`operations.checks`, tag ``kelisim_deploy``) fails.

They run when ``KELISIM_STARTUP_CHECKS`` is on: by default in production
(``KELISIM_ENV=production``) and nowhere else.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger("kelisim.startup")


def enabled() -> bool:
    """Whether start-up checks run (``KELISIM_STARTUP_CHECKS``, default: production mode)."""
    import os

    from django.conf import settings

    from settings.production import flag

    return flag(os.environ, "KELISIM_STARTUP_CHECKS", settings.PRODUCTION)


def run_startup_checks(process: str) -> None:
    """Run the ``kelisim_deploy`` checks; raise ``ImproperlyConfigured`` listing every error
    (each with its hint) when one fails, after logging it at CRITICAL. ``process`` names the
    process in the message ("web", "worker", "beat"). Database connections opened by the checks
    are closed afterwards (a forked or threaded server opens its own)."""
    from django.core import checks
    from django.db import connections

    try:
        messages = checks.run_checks(tags=["kelisim_deploy"], include_deployment_checks=True)
    finally:
        connections.close_all()
    errors = [m for m in messages if m.level >= checks.ERROR and not m.is_silenced()]
    if errors:
        text = "; ".join(f"{m.id}: {m.msg} (hint: {m.hint})" for m in errors)
        log.critical("Kelisim %s not started: %s", process, text)
        raise ImproperlyConfigured(f"Kelisim {process} not started: {text}")
    log.info("Kelisim %s: deployment checks passed", process)


def celery_hook(process: str):
    """A Celery signal receiver (``worker_init``, ``beat_init``) running the checks when
    :func:`enabled`; a failure ends the process with exit status 1 (Celery swallows ordinary
    exceptions raised by signal receivers). A worker then serves its metrics on
    ``KELISIM_WORKER_METRICS_PORT`` when that is set."""
    def receiver(**kwargs):
        if enabled():
            try:
                run_startup_checks(process)
            except ImproperlyConfigured as exc:
                import sys

                print(str(exc), file=sys.stderr, flush=True)
                raise SystemExit(1) from exc
        if process == "worker":  # the worker's own /metrics (KELISIM_WORKER_METRICS_PORT)
            import os

            from settings.production import integer

            port = integer(os.environ, "KELISIM_WORKER_METRICS_PORT", 0)
            if port:
                from .metrics import start_worker_metrics_server

                start_worker_metrics_server(port)
    return receiver
