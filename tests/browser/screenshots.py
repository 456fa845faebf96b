"""A failed browser test leaves a full-page screenshot: ``var/screenshots/<test>.png``.

:func:`pytest_runtest_makereport` (imported by ``tests/browser/conftest.py``) looks, when the
call phase of a test has failed, for the Playwright page the test used (its ``page``
fixture) and saves it with :func:`save_screenshot`; the path is printed and added to the
report's sections, so it shows in pytest's failure summary, with the end of the server's log
when the test used the ``server`` fixture. The directory is
``$KELISIM_SCREENSHOT_DIR`` when set, else ``var/screenshots`` in the repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    """Where screenshots go: ``$KELISIM_SCREENSHOT_DIR`` or ``<repo>/var/screenshots``."""
    return Path(os.environ.get("KELISIM_SCREENSHOT_DIR") or REPO / "var" / "screenshots")


def screenshot_name(nodeid: str) -> str:
    """A file name for the test ``nodeid``: its name (with parameters), every character
    other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``, plus ``.png``.

    ``"tests/browser/test_journeys.py::test_applicant[kk]"`` -> ``"test_applicant_kk_.png"``.
    """
    name = nodeid.rsplit("::", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:150] + ".png"


def save_screenshot(page, nodeid: str, directory: Path | None = None) -> Path:
    """Save a full-page PNG of ``page`` (a Playwright page) for test ``nodeid``; return its
    path (``directory`` or :func:`screenshot_dir`, created if missing). Raises what
    ``page.screenshot`` raises (e.g. when the page is closed)."""
    directory = Path(directory) if directory is not None else screenshot_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / screenshot_name(nodeid)
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """After a failed call phase, screenshot the test's ``page`` fixture (when it has one) and
    add the end of the ``server`` fixture's log (when it has one) to the report."""
    report = yield
    if report.when == "call" and report.failed:
        page = getattr(item, "funcargs", {}).get("page")
        if page is not None:
            try:
                path = save_screenshot(page, item.nodeid)
            except Exception as exc:  # noqa: BLE001 - a failed screenshot must not hide the failure
                message = f"no screenshot: {type(exc).__name__}: {exc}"
            else:
                message = f"screenshot saved: {path}"
            print(f"\n{item.nodeid}: {message}")
            report.sections.append(("screenshot", message))
        server = getattr(item, "funcargs", {}).get("server")
        if server is not None and hasattr(server, "log_tail"):
            report.sections.append(("server log (tail)", server.log_tail()))
    return report
