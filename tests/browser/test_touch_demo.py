"""The README's screenshots (docs/screenshots/*.png), taken of the demo data as served.

One server of its own, with nothing but `flask demo load` in its database, so the pictures show
what a first run shows whatever other browser tests do. The file names are fixed: run this
again after a design change to refresh them (`pytest -p no:randomly
tests/browser/test_touch_demo.py`), and commit the PNGs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Site, pass_two_factor, serve_demo_site
from tests.servers import ROOT

OUT = ROOT / "docs" / "screenshots"
PASSWORD = "screenshots passphrase 15"
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory) -> Iterator[Site]:
    with serve_demo_site(
        tmp_path_factory.mktemp("demo-screenshots"),
        "demo-screenshots",
        password=PASSWORD,
        workers=1,
    ) as served:
        yield served


def _page(browser: Browser, site: Site, viewport: dict[str, int]) -> Page:
    context = browser.new_context(
        base_url=site.url, viewport=viewport, color_scheme="light", reduced_motion="reduce"
    )
    return context.new_page()


def _shoot(page: Page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover state in the picture
    page.screenshot(path=str(OUT / f"{name}.png"), animations="disabled", caret="hide")
    assert (OUT / f"{name}.png").stat().st_size > 5_000


def _sign_in(page: Page, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    pass_two_factor(page, email)
    page.wait_for_url(lambda url: "/sign-in" not in url)


def test_screenshots_of_the_demo_for_the_readme(browser: Browser, demo_site: Site) -> None:
    visitor = _page(browser, demo_site, DESKTOP)
    visitor.goto("/")
    expect(
        visitor.get_by_text("Slack notifications when a deal changes stage").first
    ).to_be_visible()
    _shoot(visitor, "home")

    visitor.get_by_role("link", name="Export reports to Excel with formatting", exact=True).click()
    expect(visitor.locator("h1")).to_contain_text("Export reports to Excel")
    _shoot(visitor, "idea")

    visitor.goto("/roadmap")
    expect(visitor.get_by_text("Custom fields on deals").first).to_be_visible()
    _shoot(visitor, "roadmap")
    visitor.context.close()

    team = _page(browser, demo_site, DESKTOP)
    _sign_in(team, "priya.pm@portal.example")
    team.goto("/team/dashboard")
    expect(team.get_by_text("overdue now")).to_be_visible()
    _shoot(team, "dashboard")
    team.goto("/team/triage")
    _shoot(team, "triage")
    team.context.close()

    phone = _page(browser, demo_site, MOBILE)
    phone.goto("/")
    _shoot(phone, "home-mobile")
    phone.context.close()
