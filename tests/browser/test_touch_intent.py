"""Issue 15, points 2 and 3, in Chromium: what a person meant is never lost.

2. The minimum fill time counts from the form's first showing: "Post anyway" a second after the
   "Is it one of these?" step goes through, and a sign-up filled at once (as by a password
   manager) is accepted. On a site of its own with the production FORM_MIN_SECONDS of 3.
3. Vote, follow or comment pressed while signed out: sign in (or sign up and confirm), and it
   is done (the comment back in its box) and the person is back on the idea.

With JavaScript and without; every page through axe-core and the Nu HTML checker.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, Site, serve_demo_site
from tests.browser.test_journeys import ScriptlessChecks, _verification_link

pytestmark = pytest.mark.slow

JS = pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
_numbers = itertools.count(1)


def _browser(new_context, checks, javascript: bool) -> tuple[Page, object]:
    page = new_context(java_script_enabled=javascript).new_page()
    if not javascript:
        checks = ScriptlessChecks(checks, new_context().new_page())
    return page, checks


def _open_an_idea_open_for_votes(page: Page, checks) -> str:
    """From the home page, signed out, to an idea whose Vote button leads to sign-in."""
    page.goto("/")
    card = page.locator("article.idea-card:has(a.vote__button)").first
    title = card.locator(".idea-card__title a").inner_text()
    card.locator(".idea-card__title a").click()
    page.wait_for_load_state("load")
    checks.check(page, "idea page, signed out")
    return title


def _sign_in_on_the_page(page: Page, email: str, button: str) -> None:
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name=button).click()


# --- Point 3: intent carried through sign-in and sign-up --------------------------------------


@JS
def test_a_vote_pressed_signed_out_is_cast_after_signing_in(site, new_context, checks, javascript):
    page, checks = _browser(new_context, checks, javascript)
    email = site.new_customer()
    title = _open_an_idea_open_for_votes(page, checks)
    idea_path = re.sub(r"^https?://[^/]+", "", page.url)

    page.locator("a.vote__button").click()
    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in to vote for “{title}”")
    checks.check(page, "sign in to vote")
    _sign_in_on_the_page(page, email, "Sign in and vote")

    assert page.url.endswith(idea_path)
    expect(page.locator(".flashes")).to_contain_text(f"Your vote for “{title}” is counted")
    expect(page.locator("button.vote__button").first).to_have_attribute("aria-pressed", "true")
    checks.check(page, "idea page, voted")


@JS
def test_a_follow_pressed_signed_out_is_done_after_signing_in(
    site, new_context, checks, javascript
):
    page, checks = _browser(new_context, checks, javascript)
    email = site.new_customer()
    title = _open_an_idea_open_for_votes(page, checks)

    page.get_by_role("link", name="Follow (sign in first)").click()
    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sign in to follow “{title}”")
    _sign_in_on_the_page(page, email, "Sign in and follow")

    expect(page.locator(".flashes")).to_contain_text(f"You follow “{title}”")
    expect(page.get_by_role("button", name="Following ✓")).to_be_visible()
    expect(page.locator("button.vote__button").first).to_have_attribute("aria-pressed", "false")
    checks.check(page, "idea page, following")


@JS
def test_a_comment_typed_signed_out_is_back_in_its_box_after_signing_in(
    site, new_context, checks, javascript
):
    page, checks = _browser(new_context, checks, javascript)
    email = site.new_customer()
    title = _open_an_idea_open_for_votes(page, checks)
    words = f"Our auditors need this every quarter ({next(_numbers)})."

    page.get_by_label("Add a comment").fill(words)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign in to comment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Sign in to post your comment on “{title}”"
    )
    checks.check(page, "sign in to comment")
    _sign_in_on_the_page(page, email, "Sign in and comment")

    assert page.url.endswith("#conversation")
    expect(page.get_by_label("Your comment")).to_have_value(words)
    checks.check(page, "idea page, comment kept")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Post comment").click()
    expect(page.locator("#conversation")).to_contain_text(words)
    expect(page.get_by_label("Your comment")).to_have_value("")


@JS
def test_a_vote_pressed_signed_out_is_cast_after_signing_up_and_confirming(
    site, new_context, checks, javascript
):
    page, checks = _browser(new_context, checks, javascript)
    title = _open_an_idea_open_for_votes(page, checks)
    idea_path = re.sub(r"^https?://[^/]+", "", page.url)
    email = f"newintent{next(_numbers)}.{int(time.time() * 1000) % 10**8}@example.com"

    page.locator("a.vote__button").click()
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Create an account").click()
    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Create an account to vote for “{title}”"
    )
    checks.check(page, "sign up to vote")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Display name").fill("Nia Newcomer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I have read the community guidelines").check()
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("with your vote counted")).to_be_visible()
    checks.check(page, "check your email, vote waiting")

    page.goto(_verification_link(site, email))
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Confirm and sign in").click()

    assert page.url.endswith(idea_path)
    expect(page.locator(".flashes")).to_contain_text(f"Your vote for “{title}” is counted")
    expect(page.locator("button.vote__button").first).to_have_attribute("aria-pressed", "true")
    checks.check(page, "idea page, voted after confirming")


# --- Point 2: the minimum fill time, on a site that keeps it ----------------------------------


@pytest.fixture(scope="module")
def timed_site(tmp_path_factory, worker_id) -> Iterator[Site]:
    """Like `site`, with the production minimum fill time of 3 seconds."""
    with serve_demo_site(
        tmp_path_factory.mktemp(f"timed-site-{worker_id}"),
        "timed",
        FORM_MIN_SECONDS="3",
    ) as served:
        yield served


@JS
def test_post_anyway_a_second_after_the_similar_ideas_step_is_accepted(
    timed_site, new_context, checks, javascript
):
    page, checks = _browser(new_context, checks, javascript)
    email = timed_site.new_customer()
    page.goto(f"{timed_site.url}/")
    existing = page.locator("article.idea-card .idea-card__title a").first.inner_text()
    page.goto(f"{timed_site.url}/sign-in")
    _sign_in_on_the_page(page, email, "Sign in")
    page.goto(f"{timed_site.url}/ideas/new")

    page.get_by_label("Title", exact=True).fill(existing)
    problem = page.get_by_label("What problem does it solve for you?")
    problem.fill("We retype this by hand every week, and make mistakes.")
    category = page.get_by_label("Category")
    if category.count():
        category.select_option(index=1)
    time.sleep(3.5)  # the time a person takes to write it
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Post idea").click()
    expect(page.get_by_role("heading", name="Is it one of these?")).to_be_visible()
    checks.check(page, "is it one of these?")

    with page.expect_navigation(wait_until="load"):  # at once: no new wait for a redrawn form
        page.get_by_role("button", name="Post anyway").click()

    assert re.search(r"/ideas/\d+$", page.url), page.url
    expect(page.get_by_text("quicker than a person")).to_have_count(0)
    checks.check(page, "idea posted")


@JS
def test_a_sign_up_filled_at_once_by_a_password_manager_is_accepted(
    timed_site, new_context, checks, javascript
):
    page, checks = _browser(new_context, checks, javascript)
    page.goto(f"{timed_site.url}/sign-up")
    started = time.monotonic()
    page.get_by_label("Email address").fill(f"autofill{next(_numbers)}@example.com")
    page.get_by_label("Display name").fill("Pat Autofill")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I have read the community guidelines").check()
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Create account").click()
    assert time.monotonic() - started < 3  # faster than the minimum time for content

    assert page.url.endswith("/sign-up/check-email"), page.url
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    checks.check(page, "check your email after autofill")
