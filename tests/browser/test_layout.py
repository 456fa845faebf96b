"""Layout in Chromium: a name a person gave (a file name of 255 characters without a space)
wraps inside its cell instead of widening the page (the newcomer's finding F25: a 4,419 px
wide case page at a 1,280 px viewport)."""

from __future__ import annotations

import re

from .test_journeys import expect, log_in

LONG_NAME = "x" * 251 + ".pdf"  # the longest name an upload keeps (255 characters)


def test_a_long_file_name_wraps_instead_of_widening_the_case_page(page, server):
    log_in(page, server, "applicant-a1")
    page.locator("a[href^='/cases/']").first.click()
    expect(page).to_have_url(re.compile(r"/cases/\d+/$"))
    viewport = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport  # as served

    # The name as the page would show it, in each place a user-given name appears.
    cells = page.evaluate("""name => {
        const cells = [...document.querySelectorAll('td.filename')];
        cells.forEach(cell => { cell.textContent = name; });
        const h1 = document.querySelector('h1');
        h1.textContent = name;
        return cells.length;
    }""", LONG_NAME)
    assert cells > 0, "the case page shows no document or attachment name"
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport
    # ... and the name is still all there, wrapped over several lines.
    height = page.evaluate("document.querySelector('td.filename').getBoundingClientRect().height")
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('td.filename')).lineHeight)")
    assert height > 2 * line
    assert page.locator("td.filename").first.inner_text() == LONG_NAME
