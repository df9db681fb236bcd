"""Issue 16: a product manager adds a customer's vote heard in a sales call; the customer is
told, sees who added it, and withdraws it. At 1280 and 375 px; the adding works without
JavaScript (the search is a plain GET form)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_journeys import ScriptlessChecks
from tests.browser.test_pages import sign_in

pytestmark = pytest.mark.slow

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}
QUOTE = "We re-type the monthly numbers by hand; an export would save us a day."


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"on-behalf-{name}.png"), full_page=True)


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_pm_adds_a_customers_vote_and_the_customer_withdraws_it(site, new_context, checks, size):
    viewport = VIEWPORTS[size]
    name = f"Olga {size.title()} {uuid.uuid4().hex[:4]}"
    customer = site.new_customer(name)

    # The product manager, without JavaScript: the whole flow is plain forms.
    pm = new_context(viewport=viewport, java_script_enabled=False).new_page()
    pm_checks = ScriptlessChecks(checks, new_context(viewport=viewport).new_page())
    sign_in(pm, site.people["product_manager"])
    pm.goto("/?stage=under_review")
    idea_path = pm.locator(".idea-card__title a").first.get_attribute("href")
    pm.goto(idea_path)
    title = pm.get_by_role("heading", level=1).inner_text()
    card = pm.locator("section[aria-labelledby='team-votes-title']")
    expect(card).to_contain_text("Votes added by the team")
    card.get_by_label("Add a customer's vote: find them by name or email").fill(name.split()[-1])
    card.get_by_role("button", name="Find customer").click()

    expect(pm.get_by_role("heading", level=1)).to_have_text("Add a customer's vote")
    # Only one person matches: they are chosen already. The source is missing at first.
    expect(pm.get_by_label(re.compile(re.escape(name)))).to_be_checked()
    pm.get_by_label("What they said (optional)").fill(QUOTE)
    pm.get_by_role("button", name="Add the vote").click()
    expect(pm.locator(".form-errors")).to_contain_text("Please correct")
    expect(pm.locator("#source-error")).to_have_text("Choose where the customer told you.")
    expect(pm.get_by_label("What they said (optional)")).to_have_value(QUOTE)  # kept
    pm_checks.check(pm, f"team vote form with an error ({size})")
    no_sideways_scroll(pm)
    shot(pm, f"form-{size}")

    pm.get_by_label("A sales call").check()
    pm.get_by_role("button", name="Add the vote").click()
    expect(pm.locator(".flashes")).to_contain_text(f"Vote added for {name}")
    card = pm.locator("section[aria-labelledby='team-votes-title']")
    expect(card).to_contain_text(name)
    expect(card).to_contain_text("From a sales call, added by Priya Raman")
    expect(card).to_contain_text(QUOTE)
    expect(pm.locator(".avatars")).to_contain_text(f"{name} (added by the team)")
    pm_checks.check(pm, f"idea with a vote added by the team ({size})")
    no_sideways_scroll(pm)
    shot(pm, f"team-panel-{size}")

    # The customer, with JavaScript: told in the app, sees who added it, withdraws it.
    reader = new_context(viewport=viewport).new_page()
    sign_in(reader, customer)
    reader.goto("/notifications")
    expect(reader.locator("main")).to_contain_text(
        f"Priya Raman added your vote for “{title}”, from a sales call."
    )
    checks.check(reader, f"notification of a vote added ({size})")
    reader.goto(idea_path)
    expect(reader.locator("#added-for-you")).to_contain_text(
        "Priya Raman from the team added your vote"
    )
    expect(reader.locator("main")).not_to_contain_text(QUOTE)  # the team's note stays theirs
    expect(reader.get_by_role("button", name="Following")).to_be_visible()
    checks.check(reader, f"idea with the customer's added vote ({size})")
    no_sideways_scroll(reader)
    shot(reader, f"customer-{size}")
    vote = reader.locator(".idea__head form.vote button[type=submit]")
    before = int(reader.locator(".idea__head .vote__count").inner_text())
    vote.click()
    expect(reader.locator(".idea__head .vote__count")).to_have_text(str(before - 1))
    reader.reload()
    expect(reader.locator("#added-for-you")).to_have_count(0)

    # The team's card no longer lists it.
    pm.reload()
    expect(pm.locator("section[aria-labelledby='team-votes-title']")).not_to_contain_text(name)
