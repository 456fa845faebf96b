"""The screenshot of a failed browser test (tests/browser/screenshots.py).

The hook is checked in an inner pytest run (a subprocess, without Django) whose only test
fails on purpose: the run must fail, name the saved file, and the file must be what the
test's page produced. The helper itself is checked on a real Chromium page.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap

import pytest

from .screenshots import REPO, save_screenshot, screenshot_name

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE, data[:8]
    return struct.unpack(">II", data[16:24])


def test_screenshot_names_are_file_names():
    assert screenshot_name("tests/browser/test_journeys.py::test_applicant_files") == "test_applicant_files.png"
    assert screenshot_name("tests/x.py::TestA::test_b[kk-Өтінім №5]") == "test_b_kk-________5_.png"
    assert "/" not in screenshot_name("a.py::test[../../etc/passwd]")


def test_a_failed_test_saves_a_screenshot_of_its_page(tmp_path):
    """An inner test with a stand-in page and server fails: the hook saves its screenshot, says
    where and shows the server's log; a passing test and a failing test without a page leave
    no file."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import pytest
        from tests.browser.screenshots import pytest_runtest_makereport  # noqa: F401

        class FakePage:
            def screenshot(self, *, path, full_page):
                assert full_page is True
                with open(path, "wb") as out:
                    out.write(b"\\x89PNG\\r\\n\\x1a\\nfake page")

        class FakeServer:
            def log_tail(self):
                return "GET /work/ HTTP/1.1 500 (fake server log)"

        @pytest.fixture
        def page():
            return FakePage()

        @pytest.fixture
        def server():
            return FakeServer()
    """), encoding="utf-8")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent("""
        def test_journey_that_fails(page, server):
            assert 1 + 1 == 3, "deliberate failure"

        def test_journey_that_passes(page):
            assert page is not None

        def test_failure_without_a_page():
            assert False, "no page here"
    """), encoding="utf-8")
    shots = tmp_path / "shots"
    env = {**os.environ, "KELISIM_SCREENSHOT_DIR": str(shots),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:django", "-p", "no:cacheprovider",
                           "-q", "-rA", "test_inner.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "2 failed, 1 passed" in output, output
    expected = shots / "test_journey_that_fails.png"
    assert f"screenshot saved: {expected}" in output, output
    assert expected.read_bytes() == b"\x89PNG\r\n\x1a\nfake page"
    assert sorted(p.name for p in shots.iterdir()) == ["test_journey_that_fails.png"]
    assert output.count("GET /work/ HTTP/1.1 500 (fake server log)") == 1, output


def test_save_screenshot_writes_a_full_page_png(page, tmp_path):
    """On a real Chromium page taller than the window, the PNG covers the whole page."""
    page.set_content("<body style='margin:0'><div style='height:2400px;background:#0b6e4f'>Өтінім №5</div></body>")
    path = save_screenshot(page, "tests/browser/test_x.py::test_tall[kk]", tmp_path / "shots")
    assert path == tmp_path / "shots" / "test_tall_kk_.png"
    width, height = png_size(path.read_bytes())
    assert height >= 2400 > page.viewport_size["height"]
    assert width == page.viewport_size["width"]


def test_save_screenshot_of_a_closed_page_raises(page, tmp_path):
    """The helper does not hide a broken page (the hook then reports "no screenshot")."""
    page.close()
    with pytest.raises(Exception):
        save_screenshot(page, "t.py::test_closed", tmp_path)
    assert not (tmp_path / "test_closed.png").exists()
