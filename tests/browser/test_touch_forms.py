"""Issue 15, the forms points, in Chromium with JavaScript and without it.

8. Long text is refused with the text kept, never cut; the limit and a live count are shown;
   every field's error comes in one round.
9. Deleting a comment asks first.
10. After a vote with JavaScript every count on the page follows.
13. The list's filters apply as they change, with JavaScript; the Show button stays without.
14. Votes from search results, the roadmap and the similar ideas shown while typing.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD
from tests.browser.test_journeys import ScriptlessChecks

pytestmark = pytest.mark.slow


def sign_in(page: Page, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/sign-in"))


def first_idea_path(page: Page) -> str:
    page.goto("/")
    return page.locator(".idea-card__title a").first.get_attribute("href")


def customer(n: int) -> str:
    """The nth customer of the demo data: each test its own, so that none meets the limits
    (comments a minute) or the votes another test left."""
    from portal.demo import PEOPLE

    emails = [email for email, _name, role in PEOPLE if getattr(role, "value", role) == "customer"]
    return emails[n % len(emails)]


def open_page(new_context, checks, *, javascript: bool, person: str):
    """A signed-in customer's page, and the checks that work for it (axe needs scripts)."""
    page = new_context(java_script_enabled=javascript).new_page()
    if not javascript:
        checks = ScriptlessChecks(checks, new_context().new_page())
    sign_in(page, person)
    return page, checks


def post_comment(page: Page, idea_path: str, text: str):
    page.goto(idea_path)
    page.locator("form.card").get_by_label("Your comment").fill(text)
    page.get_by_role("button", name="Post comment").click()
    comment = page.locator("article.comment").filter(has_text=text)
    expect(comment, page.locator("main").inner_text()[:500]).to_have_count(1)
    return comment


# --- 9. Deleting a comment asks first -------------------------------------------------------------


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_deleting_a_comment_asks_first_and_can_be_kept(new_context, checks, site, javascript):
    page, checks = open_page(
        new_context, checks, javascript=javascript, person=customer(1 if javascript else 2)
    )
    idea = first_idea_path(page)
    text = f"A comment to think twice about {uuid.uuid4().hex[:6]}"
    comment = post_comment(page, idea, text)

    comment.get_by_role("link", name="Delete").click()
    if javascript:  # asked in place, the focus on the question
        question = comment.locator(".confirm-inline__question")
        expect(question).to_be_visible()
        expect(question).to_have_text("Delete this comment? It can't be undone.")
        expect(question).to_be_focused()
        assert page.url.split("#")[0].endswith(idea)
    else:  # asked on a page of its own
        expect(page).to_have_url(re.compile(r"/comments/\d+/delete$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Delete this comment?")
        expect(page.locator("main")).to_contain_text("It can't be undone.")
        expect(page.locator("main")).to_contain_text(text)
    checks.check(page, f"delete question ({'js' if javascript else 'no js'})")

    page.get_by_role("link", name="Keep it").or_(page.get_by_role("button", name="Keep it")).click()
    expect(page.locator("article.comment").filter(has_text=text)).to_be_visible()
    if javascript:
        expect(comment.locator(".confirm-inline")).to_be_hidden()
        expect(comment.get_by_role("link", name="Delete")).to_be_focused()
    else:
        expect(page).to_have_url(re.compile(re.escape(idea) + r"#comment-\d+$"))

    page.locator("article.comment").filter(has_text=text).get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator(".flashes")).to_contain_text("Your comment is deleted.")
    expect(page.locator("article.comment").filter(has_text=text)).to_have_count(0)


# --- 8. Limits shown and counted; over-long text refused whole; all errors in one round -----------


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_long_text_is_refused_whole_and_every_error_comes_at_once(
    new_context, checks, site, javascript
):
    page, checks = open_page(
        new_context, checks, javascript=javascript, person=customer(3 if javascript else 4)
    )
    page.goto("/ideas/new")
    title = page.get_by_label("Title")
    count = page.locator("#title-count")
    expect(count).to_have_text("0 of 120 characters" if javascript else "Up to 120 characters.")
    assert "title-count" in title.get_attribute("aria-describedby")

    pasted = "Export " + "x" * 9_993
    title.fill(pasted)
    assert len(title.input_value()) == 10_000  # nothing cut as it is pasted
    if javascript:
        expect(count).to_have_text("10,000 of 120 characters: 9,880 too many")
        live = page.locator("#title-count + [aria-live='polite']")
        expect(live).to_have_text("9,880 characters too many: shorten it to send it")
        title.fill("Export to Excel")
        expect(count).to_have_text("15 of 120 characters")
        expect(live).to_have_text("")  # quiet while far from the limit
        title.fill(pasted)
    page.get_by_label("What problem does it solve for you?").fill("   \n   ")
    page.get_by_role("button", name="Post idea").click()

    expect(page.locator("#title-error")).to_contain_text(
        "The title has 10,000 characters; the limit is 120."
    )
    expect(page.locator("#problem-error")).to_have_text(
        "Describe the problem this idea solves for you."
    )
    assert len(page.get_by_label("Title").input_value()) == 10_000  # kept whole
    checks.check(page, f"over-long title ({'js' if javascript else 'no js'})")

    # A comment over its limit: the same.
    page.goto(first_idea_path(page))
    box = page.locator("form.card").get_by_label("Your comment")
    comment = "A long story. " + "z" * 10_000
    box.fill(comment)
    if javascript:
        expect(page.locator("#body-count")).to_have_text("10,014 of 10,000 characters: 14 too many")
    page.get_by_role("button", name="Post comment").click()
    expect(page.locator("#body-error")).to_contain_text(
        "This has 10,014 characters; the limit is 10,000."
    )
    assert page.get_by_label("Your comment").input_value() == comment
