"""Browser tests: Playwright drives Debian's Chromium against a Kelisim server process.

Why a server process (``manage.py runserver --noreload``) and not pytest-django's
``live_server``: the journeys are one story (the application the applicant files is the one
the coordinator accepts and the expert scores), so their data must outlive a test, while a
``live_server`` test is transactional and its database is flushed after every test, which
would also wipe the session's 2017 cycle under later tests. Here the server gets a database
of its own, built by ``tests/browser/seed.py`` (tables, ``run_cycle``, ``create_demo_users``,
an open round and a plan at signing): a fresh SQLite file in a temporary directory, or, when
the suite runs on PostgreSQL (``DATABASE_URL=postgres://...``), a fresh database
``<test database name>_browser`` on the same server, dropped afterwards. The seed starts in
the background as soon as the journeys are collected (:func:`pytest_collection_finish`), so
in a whole-suite run, where they come last, the server is ready when they start.
The tests themselves use no Django database, so pytest-django's test ordering and flushes
do not touch them, and Playwright's event loop never meets the ORM. Documents go to the
server's temporary ``var`` directory; mail to files there.

Chromium is Debian's (``/usr/bin/chromium``; Playwright's own browser builds cannot be
downloaded here), launched with ``executable_path``. Without Chromium or Playwright the tests
are skipped, except with ``CI=true``, where they fail.

A failed test saves a full-page screenshot of its ``page`` to ``var/screenshots/<test>.png``
(:mod:`tests.browser.screenshots`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from .chromium import CHROMIUM_ARGS, chromium_path, missing
from .screenshots import pytest_runtest_makereport  # noqa: F401 - the screenshot hook

REPO = Path(__file__).resolve().parents[2]
#: How long Playwright waits for an element, a navigation or an assertion (ms) before failing a step.
STEP_TIMEOUT_MS = 15_000
#: How long the seed may take (s), and the server to answer after it was started.
SEED_S = 300
SERVER_START_S = 60
#: Environment variables of this process that must not reach the server (it gets its own).
SERVER_ENV_DROP = ("DATABASE_URL", "TEST_DATABASE_NAME", "CELERY_BROKER_URL", "STORAGE_URL", "MEDIA_ROOT",
                   "KELISIM_VAR_DIR", "DJANGO_SETTINGS_MODULE", "EMAIL_BACKEND", "EMAIL_FILE_PATH", "DEBUG")


@pytest.fixture(scope="package")
def browser():
    """A headless Debian Chromium driven by Playwright (sync API), for the tests of this
    directory (closed after the last of them, not at the end of the whole session)."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:
        missing(f"Playwright for Python is not installed ({exc}); pip install -e '.[test]'")
    executable = chromium_path()
    if executable is None:
        missing("Chromium is not installed (Debian: apt-get install chromium)")
    expect.set_options(timeout=STEP_TIMEOUT_MS)  # assertions wait as long as actions (a loaded CI machine)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies: a new visitor) and its page, English first."""
    context = browser.new_context(accept_downloads=True, locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


# -- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_database(url: str) -> tuple[str, str]:
    """For the suite's PostgreSQL ``url``: ``(name, url)`` of the server's own database,
    ``<TEST_DATABASE_NAME or test_<name>>_browser`` on the same server."""
    parts = urlsplit(url)
    base = os.environ.get("TEST_DATABASE_NAME") or f"test_{parts.path.lstrip('/') or 'postgres'}"
    name = f"{base}_browser"[:63]
    return name, urlunsplit(parts._replace(path=f"/{name}"))


def postgres_admin(url: str, sql: str) -> None:
    """Run ``sql`` (CREATE/DROP DATABASE) outside a transaction on the database of ``url``."""
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                         password=parts.password, dbname=parts.path.lstrip("/") or "postgres",
                         autocommit=True) as conn:
        conn.execute(sql)


@dataclass
class Server:
    """The running Kelisim server: ``url(path)`` and the seed's ``facts``."""

    base_url: str
    log: Path
    facts: dict = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log (for a failed test's report)."""
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:] if self.log.exists() else ""


class ServerBuild:
    """A server of the browser tests' own, in three steps: :meth:`start_seed` (a database of
    its own, then ``python -m tests.browser.seed setup`` in the background), :meth:`serve`
    (waits for the seed, starts ``manage.py runserver``, waits until it answers) and
    :meth:`stop` (idempotent: ends both processes, drops a PostgreSQL database, removes the
    temporary directory)."""

    def __init__(self):
        self.var = Path(tempfile.mkdtemp(prefix="kelisim-browser-"))
        self.env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_DROP}
        self.env.update(DJANGO_SETTINGS_MODULE="tests.browser.server_settings", KELISIM_VAR_DIR=str(self.var),
                        PYTHONUNBUFFERED="1")
        self.suite_url = os.environ.get("DATABASE_URL", "")
        self.pg_name: str | None = None
        self.seeding: subprocess.Popen | None = None
        self.process: subprocess.Popen | None = None
        self.server: Server | None = None

    def start_seed(self) -> "ServerBuild":
        if self.suite_url.startswith(("postgres://", "postgresql://")):
            self.pg_name, self.env["DATABASE_URL"] = postgres_database(self.suite_url)
            postgres_admin(self.suite_url, f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            postgres_admin(self.suite_url, f'CREATE DATABASE "{self.pg_name}"')
        with open(self.var / "seed.out", "wb") as out, open(self.var / "seed.err", "wb") as err:
            self.seeding = subprocess.Popen([sys.executable, "-m", "tests.browser.seed", "setup"], cwd=REPO,
                                            env=self.env, stdout=out, stderr=err)
        return self

    def serve(self) -> Server:
        """The running server (started on the first call)."""
        if self.server is not None:
            return self.server
        if self.seeding is None:
            self.start_seed()
        try:
            code = self.seeding.wait(timeout=SEED_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the seed did not finish within {SEED_S} s") from None
        if code != 0:
            error = (self.var / "seed.err").read_text(encoding="utf-8", errors="replace")[-4000:]
            raise RuntimeError(f"python -m tests.browser.seed setup failed ({code}):\n{error}")
        facts = json.loads((self.var / "seed.out").read_text(encoding="utf-8").strip().splitlines()[-1])
        port = free_port()
        server = Server(base_url=f"http://127.0.0.1:{port}", log=self.var / "server.log", facts=facts)
        with open(server.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(server.url("/accounts/login/"), timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {SERVER_START_S} s:\n{server.log_tail()}")
            time.sleep(0.2)  # polling the port while the server starts (not in a journey)
        self.server = server
        return server

    def stop(self) -> None:
        for process in (self.process, self.seeding):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.process = self.seeding = self.server = None
        if self.pg_name:
            postgres_admin(self.suite_url, f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            self.pg_name = None
        shutil.rmtree(self.var, ignore_errors=True)


#: The build started when the journeys were collected (see pytest_collection_finish).
_build: ServerBuild | None = None


def pytest_collection_finish(session):
    """When journeys are to run and the browser is there, start seeding their database now, in
    the background: in a whole-suite run it is ready by the time they run (they come last)."""
    global _build
    here = Path(__file__).parent
    wanted = any(Path(str(item.path)).parent == here and "server" in getattr(item, "fixturenames", ())
                 for item in session.items)
    if wanted and _build is None and chromium_path() is not None and importlib.util.find_spec("playwright"):
        _build = ServerBuild().start_seed()


def pytest_unconfigure(config):
    if _build is not None:
        _build.stop()


@pytest.fixture(scope="package")
def server(browser):
    """Kelisim served from a database of its own on a free port, for the tests of this
    directory (seeded in the background since collection); stopped (and a PostgreSQL
    database dropped) after the last of them.

    Depends on ``browser`` so that nothing is served when the browser tests are skipped.
    """
    global _build
    build = _build or ServerBuild()
    _build = build
    try:
        yield build.serve()
    finally:
        build.stop()
        _build = None
