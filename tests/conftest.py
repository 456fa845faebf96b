"""Shared fixtures: files go to a temporary directory; the 2017 sample cycle runs once per session.

On PostgreSQL (``DATABASE_URL=postgres://...``) the same tests run against a real server;
with ``CI=true`` a PostgreSQL URL that cannot be reached fails the run instead of skipping.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.test import override_settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "pilot-selection-2017.json"


def pytest_sessionstart(session):
    """Compile the translation catalogues (``make messages``) when a .mo is missing or stale,
    so that a bare ``pytest`` tests the same translations as ``make test``."""
    import subprocess

    for po in sorted(REPO.glob("locale/*/LC_MESSAGES/django.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            subprocess.run(["msgfmt", "--check-format", "-o", str(mo), str(po)], check=True)


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session", autouse=True)
def _isolated_storage(media_root):
    """Every test writes documents under a temporary MEDIA_ROOT, never under var/."""
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": str(media_root)}},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    fast_hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # tests only: speed, not security
    with override_settings(STORAGES=storages, MEDIA_ROOT=str(media_root), PASSWORD_HASHERS=fast_hashers):
        yield


@pytest.fixture(autouse=True)
def _default_language():
    """Each test ends in the default language: a page requested with a language cookie (or a
    login with a saved language) activates that language in the test's thread, and later
    tests (messages compared in English, management commands) would inherit it."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, _isolated_storage):
    """Create the test database, then run the whole 2017 sample cycle once for the session."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("run_cycle", str(SAMPLE), "--format", "json", stdout=open("/dev/null", "w"))


@pytest.fixture
def sample_round(db):
    """The 2017 round after the scripted cycle (read-only by convention; tests roll back)."""
    from processes.rounds.models import Round

    return Round.objects.get(code="TC-2017")


@pytest.fixture
def sample_path() -> Path:
    return SAMPLE


@pytest.fixture
def round_file(tmp_path):
    """Write a variant of the sample round: ``round_file(mutate)`` returns its path.

    ``mutate(doc)`` edits the parsed sample in place (or returns replacement text or bytes).
    """
    import json

    def make(mutate=None, *, name="round.json") -> Path:
        doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
        replaced = mutate(doc) if mutate else None
        path = tmp_path / name
        if isinstance(replaced, bytes):
            path.write_bytes(replaced)
        else:
            path.write_text(replaced if isinstance(replaced, str) else json.dumps(doc, ensure_ascii=False),
                            encoding="utf-8")
        return path

    return make


@pytest.fixture
def restore_file():
    """Copy files aside and put them back after the test (for tests that tamper with storage)."""
    saved: list[tuple[Path, Path]] = []

    def keep(path: Path) -> Path:
        backup = path.with_suffix(path.suffix + ".bak")
        shutil.copy2(path, backup)
        saved.append((path, backup))
        return path

    yield keep
    for path, backup in saved:
        shutil.move(backup, path)
