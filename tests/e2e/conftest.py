"""The end-to-end test's stack (``stack.py``): when it runs, and its logs when it fails.

It runs only when the suite runs on PostgreSQL (``DATABASE_URL=postgres://...``: the PostgreSQL
pass of ``.ci/run``, ``make e2e``), since the stack's own database lives on that server; on
SQLite it is skipped with the reason. PostgreSQL or Redis not answering skips it too, except
with ``CI=true``, where it fails (as ``tests/brokers`` do).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

from .stack import ProcessStack, postgres_admin_url, redis_address

IN_CI = os.environ.get("CI", "").lower() == "true"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def why_not() -> str | None:
    """Why the end-to-end stack cannot run here (None when it can)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return ("the end-to-end test runs on PostgreSQL only (DATABASE_URL=postgres://...; `make e2e`, "
                "the PostgreSQL pass of .ci/run)")
    pg = urlsplit(postgres_admin_url())
    if not _answers(pg.hostname or "127.0.0.1", pg.port or 5432):
        return f"PostgreSQL is not reachable at {pg.hostname}:{pg.port or 5432}"
    host, port = redis_address()
    if not _answers(host, port):
        return f"Redis is not reachable at {host}:{port}"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"e2e_report_{report.when}", report)


@pytest.fixture
def stack(request, tmp_path_factory):
    """A started :class:`ProcessStack` (2 gunicorn processes x 4 threads, a worker, beat); its
    logs' tails are printed when the test fails; stopped (database dropped) afterwards."""
    reason = why_not()
    if reason:
        if IN_CI and not reason.startswith("the end-to-end test runs on PostgreSQL only"):
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    started = ProcessStack(tmp_path_factory.mktemp("e2e-stack"))
    started.start()
    try:
        yield started
    finally:
        report = getattr(request.node, "e2e_report_call", None)
        if report is not None and report.failed:
            print(f"\n===== logs of the end-to-end stack ({started.workdir}) =====\n{started.log_tails(lines=60)}")
        started.stop()
