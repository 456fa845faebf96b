"""Deployment checks (tag ``kelisim_deploy``), run by ``manage.py check --deploy`` and at the
start of a production web process, Celery worker or beat (:mod:`operations.startup`).

Ids: ``kelisim.E101`` the database cannot be reached, ``kelisim.E102`` the broker cannot be
reached, ``kelisim.E103`` the storage cannot be reached or written; ``kelisim.E104`` a
round's criteria weights do not sum to 100 and ``kelisim.E105`` a round has no signatories
(the deployment form of ``kelisim.W002``/``W003``: warnings for ``migrate``, errors for a
process that is to serve). Messages name ``host:port`` and the database or bucket, never a
password or key.
"""

from __future__ import annotations

from django.core import checks

from . import probes

TAG = "kelisim_deploy"

_HINTS = {
    "database": "is PostgreSQL running and reachable from here, and are the host, port, database name, "
                "user and password in DATABASE_URL right?",
    "broker": "is Redis (or RabbitMQ) running and reachable from here, and is CELERY_BROKER_URL right?",
    "storage": "for s3:// does the bucket exist (mc mb ALIAS/BUCKET) and are the keys in STORAGE_URL right; "
               "for file:// does the directory exist and is it writable by this user?",
}
_IDS = {"database": "kelisim.E101", "broker": "kelisim.E102", "storage": "kelisim.E103"}


def probe_errors(results: list[probes.Probe]) -> list[checks.CheckMessage]:
    """One ``Error`` per failed probe of ``results`` (see the module docstring for the ids)."""
    return [checks.Error(f"the {p.name} cannot be reached at {p.target}: {p.error}",
                         hint=f"{p.target}: {_HINTS[p.name]}", id=_IDS[p.name])
            for p in results if not p.ok]


@checks.register(TAG, deploy=True)
def check_services(app_configs=None, **kwargs):
    """The database, the broker and the storage answer (:func:`operations.probes.probe_all`)."""
    return probe_errors(probes.probe_all())


@checks.register(TAG, deploy=True)
def check_rounds_for_deployment(app_configs=None, **kwargs):
    """``processes.rounds.checks.check_rounds`` with its warnings as errors (E104, E105)."""
    from processes.rounds.checks import check_rounds

    if not probes.probe_database().ok:
        return []  # E101 says it
    ids = {"kelisim.W002": "kelisim.E104", "kelisim.W003": "kelisim.E105"}
    return [checks.Error(w.msg, hint=w.hint, obj=w.obj, id=ids.get(w.id, w.id))
            for w in check_rounds(databases=["default"])]
