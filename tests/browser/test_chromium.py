"""Finding Debian's Chromium, and what a missing browser means (skip here, fail in CI)."""

from __future__ import annotations

import os
import stat

import pytest

from .chromium import chromium_path, missing


def test_a_configured_chromium_must_be_an_executable_file(tmp_path, monkeypatch):
    program = tmp_path / "chromium"
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    monkeypatch.setenv("KELISIM_CHROMIUM", str(program))
    assert chromium_path() is None  # not executable
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    assert chromium_path() == str(program)
    monkeypatch.setenv("KELISIM_CHROMIUM", str(tmp_path))  # a directory
    assert chromium_path() is None
    monkeypatch.setenv("KELISIM_CHROMIUM", str(tmp_path / "absent"))
    assert chromium_path() is None


def test_without_configuration_chromium_is_looked_up_on_the_path(tmp_path, monkeypatch):
    monkeypatch.delenv("KELISIM_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert chromium_path() is None
    program = tmp_path / "chromium-browser"
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    assert chromium_path() == str(program)
    (tmp_path / "chromium").write_text("#!/bin/sh\n", encoding="utf-8")
    os.chmod(tmp_path / "chromium", 0o755)
    assert chromium_path() == str(tmp_path / "chromium")  # Debian's name first


def test_a_missing_browser_skips_outside_ci_and_fails_in_ci():
    with pytest.raises(pytest.skip.Exception, match="no chromium here"):
        missing("no chromium here", ci=False)
    with pytest.raises(pytest.fail.Exception, match="CI=true: no chromium here"):
        missing("no chromium here", ci=True)

