"""Issue 16: a product manager writes and publishes a release; a customer who asked for one of
its ideas reads it on the changelog, hears of it once, and says whether it met their need.

At desktop and phone widths, each run with its own idea from the demo's roadmap.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, SCREENSHOTS
from tests.browser.test_pages import sign_in
from tests.servers import ROOT, server_environment

pytestmark = pytest.mark.slow

# (width, height, a planned idea of the demo that this run ships)
RUNS = {
    "desktop": (1280, 900, "Calendar sync with Outlook"),
    "phone": (375, 800, "Two-factor authentication with hardware keys"),
}


def _new_customer(site, name: str) -> str:
    email = f"release-{uuid.uuid4().hex[:8]}@freelance.example"
    env = server_environment(
        PORTAL_INSTANCE_PATH=str(site.instance),
        DATABASE_URL=f"sqlite:///{site.instance.parent / 'portal.sqlite3'}",
    )
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "portal", "user", "create", email,
         "--name", name, "--password-stdin"],
        input=PASSWORD + "\n", cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return email


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"release-{name}.png"), full_page=True)


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} scrolls sideways ({width}px)"


@pytest.mark.parametrize("run", sorted(RUNS))
def test_a_pm_publishes_a_release_and_a_customer_reads_it_and_answers(
    site, new_context, checks, run
):
    width, height, idea_title = RUNS[run]
    viewport = {"width": width, "height": height}
    release_title = f"Release 5.{width}: {idea_title.split()[0]} and more"
    note = f"**{idea_title}** is here for every plan. Find it in Settings; tell us how it goes."

    # A customer follows the idea they asked for.
    customer_email = _new_customer(site, f"Rita Release {run}")
    customer = new_context(viewport=viewport).new_page()
    sign_in(customer, customer_email)
    customer.goto("/roadmap")
    customer.get_by_role("link", name=idea_title).first.click()
    customer.get_by_role("button", name="Follow", exact=True).click()
    expect(customer.get_by_role("button", name="Following")).to_be_visible()
    idea_path = customer.url

    # The product manager writes a draft, finding the idea by its title.
    pm = new_context(viewport=viewport).new_page()
    sign_in(pm, site.people["product_manager"])
    pm.goto("/team/releases")
    checks.check(pm, f"releases list {run}")
    pm.get_by_role("link", name="Write a release").click()
    pm.get_by_label("Release title", exact=True).fill(release_title)
    pm.get_by_label("Release note", exact=True).fill(note)
    pm.get_by_label("Find ideas by title").fill(" ".join(idea_title.split()[:2]))
    pm.get_by_role("button", name="Find ideas").click()
    found = pm.get_by_role("list", name="Ideas found")
    found.get_by_label(re.compile(re.escape(idea_title))).check()
    # What was typed survived the search.
    expect(pm.get_by_label("Release title", exact=True)).to_have_value(release_title)
    pm.get_by_role("button", name="Save draft").click()
    expect(pm.locator(".flashes")).to_contain_text("Draft saved")

    # The preview shows it as customers will; customers cannot see it yet.
    preview = pm.get_by_role("region", name=re.compile("Preview"))
    expect(preview.locator("strong", has_text=idea_title)).to_be_visible()
    expect(pm.get_by_role("button", name="Publish and notify followers")).to_be_visible()
    expect(pm.get_by_text(re.compile(r"\(\d+ (person|people)\)"))).to_be_visible()
    checks.check(pm, f"release draft {run}")
    _no_sideways_scroll(pm)
    _shot(pm, f"draft-{run}")
    customer.goto("/shipped")
    expect(customer.get_by_text(release_title)).to_have_count(0)

    pm.get_by_role("button", name="Publish and notify followers").click()
    expect(pm.locator(".flashes")).to_contain_text("Published. 1 idea moved to Shipped")
    expect(pm.get_by_role("heading", level=1)).to_have_text(release_title)

    # The customer reads the changelog, newest release first, with its idea.
    customer.goto("/shipped")
    first = customer.locator(".changelog > li").first
    expect(first.get_by_role("heading", level=2)).to_have_text(release_title)
    expect(first.get_by_role("link", name=idea_title)).to_be_visible()
    feed = customer.locator("head link[rel=alternate][type='application/atom+xml']")
    expect(feed).to_have_attribute("href", "/feeds/shipped.atom")
    checks.check(customer, f"changelog {run}")
    _no_sideways_scroll(customer)
    _shot(customer, f"changelog-{run}")

    # One notification about the release, which leads to the question.
    customer.goto("/notifications")
    news = customer.locator(".notification", has_text=release_title)
    expect(news).to_have_count(1)
    expect(news).to_contain_text("Did it meet your need?")
    news.get_by_role("link", name="Tell us").click()
    expect(customer).to_have_url(re.compile(re.escape(idea_path)))
    outcome = customer.get_by_role("region", name="Did this meet your need?")
    outcome.get_by_role("button", name="Yes").click()
    expect(customer.locator(".flashes")).to_contain_text("Thank you")
    checks.check(customer, f"answered {run}")

    # One email, carrying the note and the one-click answers.
    deadline = time.monotonic() + 15
    while not (mails := site.emails_to(customer_email)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(mails) == 1, [m["Subject"] for m in mails]
    assert str(mails[0]["Subject"]).startswith(f"Shipped in {release_title}")
    text = mails[0].get_body(preferencelist=("plain",)).get_content()
    assert "is here for every plan" in text and "did it meet your need?" in text
