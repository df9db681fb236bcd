"""Issue 15, point 6: notifications are read when opened, grouped by idea, filtered to unread.

With JavaScript and without: a new customer follows two ideas, a product manager comments on
both, and the customer reads the news from the notifications page.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, pass_two_factor

pytestmark = pytest.mark.slow


def _sign_in(page: Page, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    pass_two_factor(page, email)
    expect(page.locator(".flashes")).to_contain_text("Welcome")


def _badge(page: Page) -> str:
    """The unread count beside "Notifications" in the header ("" when there is none)."""
    link = page.locator("header a[href='/notifications']").first
    count = link.locator(".count")
    return count.inner_text().replace("unread", "").strip() if count.count() else ""


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_opening_a_notification_reads_it_and_news_groups_by_idea(
    site, new_context, checks, javascript
):
    label = "js" if javascript else "nojs"
    customer = site.new_customer("Nora Notified" if javascript else "Nina Noscript")
    reader = new_context(java_script_enabled=javascript).new_page()
    _sign_in(reader, customer)

    # The customer follows two ideas.
    reader.goto("/")
    paths = [reader.locator(".idea-card__title a").nth(i).get_attribute("href") for i in range(2)]
    titles = []
    for path in paths:
        reader.goto(path)
        titles.append(reader.get_by_role("heading", level=1).inner_text())
        reader.get_by_role("button", name="Follow", exact=True).click()
        expect(reader.get_by_role("button", name="Following")).to_be_visible()

    # A product manager comments on both.
    team = new_context().new_page()
    _sign_in(team, site.people["product_manager"])
    for n, path in enumerate(paths):
        team.goto(path)
        team.get_by_label("Your comment").fill(f"We are looking at this ({label} {n}).")
        team.get_by_role("button", name="Post comment").click()
        expect(team.locator(".flashes")).to_contain_text("Your comment is posted.")

    # Two ideas, one event each, newest idea first.
    reader.goto("/notifications")
    expect(reader.locator("header a[href='/notifications'] .count")).to_contain_text("2")
    groups = reader.locator("section.notification-group")
    expect(groups).to_have_count(2)
    expect(groups.nth(0).get_by_role("heading", level=2)).to_contain_text(titles[1])
    expect(groups.nth(1).get_by_role("heading", level=2)).to_contain_text(titles[0])
    expect(groups.nth(0).locator(".notification--unread")).to_have_count(1)
    if javascript:  # axe runs as a script: the pages are the same HTML either way
        checks.check(reader, "notifications by idea")

    # Opening one leads to its comment and reads it; the badge goes down.
    groups.nth(0).get_by_role("link", name="See the comment").click()
    expect(reader).to_have_url(re.compile(re.escape(paths[1]) + r"#comment-\d+$"))
    assert _badge(reader) == "1"

    # The unread tab shows only the other idea's news.
    reader.goto("/notifications")
    reader.get_by_role("link", name="Unread (1)").click()
    expect(reader).to_have_url(re.compile(r"/notifications\?unread=1$"))
    unread = reader.locator("section.notification-group")
    expect(unread).to_have_count(1)
    expect(unread.get_by_role("heading", level=2)).to_contain_text(titles[0])
    if javascript:
        checks.check(reader, "unread notifications")

    # Looking at that idea reads its news too: nothing is left.
    reader.goto(paths[0])
    assert _badge(reader) == ""
    reader.goto("/notifications?unread=1")
    expect(reader.locator("main .empty")).to_contain_text("You have read everything.")
    # The full list keeps both, read.
    reader.goto("/notifications")
    expect(reader.locator("section.notification-group")).to_have_count(2)
    expect(reader.locator(".notification--unread")).to_have_count(0)
