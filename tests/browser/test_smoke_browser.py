"""The browser set-up itself: the site answers, and the checks run on a page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_home_page_passes_axe_and_the_html_checker(site, page, checks):
    page.goto(site.url + "/")
    assert "Ideas" in page.title() or page.locator("h1").count() >= 1
    checks.check(page, "home")
    checks.validate_html()
