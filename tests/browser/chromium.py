"""Debian's Chromium for the browser tests: where it is, how it is launched, what a missing one means.

Playwright's own browser builds cannot be downloaded here, so the tests launch the system's
Chromium (``.ci/run`` installs Debian's ``chromium`` package when it is missing) through
``executable_path`` with :data:`CHROMIUM_ARGS`. Without Chromium or Playwright the tests are
skipped, except with ``CI=true``, where they fail (:func:`missing`), as the broker tests do.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
#: Headless, no sandbox (CI runs as root), nothing fetched from the network by the browser itself.
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """The Chromium to launch: ``$KELISIM_CHROMIUM`` when set (None unless it is an executable
    file), else ``chromium`` or ``chromium-browser`` on ``PATH``; None when there is none."""
    configured = os.environ.get("KELISIM_CHROMIUM")
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing(reason: str, *, ci: bool = IN_CI):
    """A browser requirement is missing: skip the test, or fail it when ``ci`` (``CI=true``).
    Never returns (raises pytest's skip or fail exception)."""
    if ci:
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)
