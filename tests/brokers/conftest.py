"""Broker tests: a real Celery worker (a subprocess) on Redis and RabbitMQ, sharing the test database.

The worker must open the test's database, so these tests commit for real
(``django_db(transaction=True)``) and, on SQLite, the test database is a file, not the usual
in-memory one: ``pytest_configure`` below points ``DATABASES["default"]["TEST"]["NAME"]`` at a
temporary file whenever this directory is collected. (A ``django_db_modify_db_settings``
fixture would not do: in a whole-suite run another directory's test creates the session's
database first, and a session fixture is not set up twice.) On PostgreSQL the worker gets the
test database's name (``TEST_DATABASE_NAME`` or ``test_<name>``) in its ``DATABASE_URL``.

A broker that cannot be reached skips its tests, except with ``CI=true``, where it fails them.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("KELISIM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("KELISIM_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
BROKERS = {"redis": REDIS_URL, "rabbitmq": RABBITMQ_URL}
IN_CI = os.environ.get("CI", "").lower() == "true"

_sqlite_dir: str | None = None


def pytest_configure(config):
    """On SQLite, make the session's test database a file a worker subprocess can open."""
    global _sqlite_dir
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    if settings_dict["ENGINE"] != "django.db.backends.sqlite3" or settings_dict.get("TEST", {}).get("NAME"):
        return
    _sqlite_dir = tempfile.mkdtemp(prefix="kelisim-broker-db-")
    settings_dict.setdefault("TEST", {})["NAME"] = os.path.join(_sqlite_dir, "test.sqlite3")


def pytest_unconfigure(config):
    if _sqlite_dir:
        shutil.rmtree(_sqlite_dir, ignore_errors=True)


def unreachable(name: str) -> str | None:
    """Why broker ``name`` cannot be used, or None when it answers."""
    url = BROKERS[name]
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            pass
    except OSError as exc:
        return f"{name} is not reachable at {parts.hostname}:{parts.port} ({exc})"
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any failure means the broker is unusable
        return f"{name} at {parts.hostname}:{parts.port} refuses the connection: {exc}"
    return None


@pytest.fixture(params=sorted(BROKERS))
def broker_url(request) -> str:
    """Each broker test runs on Redis and on RabbitMQ; a missing broker skips (fails in CI)."""
    reason = unreachable(request.param)
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return BROKERS[request.param]


# The worker fixtures, shared by the worker and the beat tests.
from .test_workers import celery_on_broker, worker  # noqa: E402,F401
