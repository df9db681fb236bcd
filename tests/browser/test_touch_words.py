"""Issue 15, points 5, 15, 16 and 17 in Chromium, as people meet them.

5. Closing an idea sends each follower one email: the outcome question, with the team's note.
15. Unvoting undoes the follow the vote made, and keeps a follow the person chose.
16. Normal use never meets a limit: four sign-ups from one office's address in a row, and a new
    account replying seconds after its first comment (the site runs every limit at its default).
17. Small words: a first sign-in is not "Welcome back", a used confirmation link does not ask for
    "One last step" again, and the sign-up page sums up the guidelines an admin set.

With JavaScript and without where the page behaves differently; every page through axe-core
and the Nu HTML checker.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD
from tests.browser.test_journeys import ScriptlessChecks, _verification_link
from tests.browser.test_pages import sign_in

pytestmark = pytest.mark.slow

JS = pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
QUIET_SECONDS = 3  # after the first email, how long a second one is waited for


def _browser(new_context, checks, javascript: bool) -> tuple[Page, object]:
    page = new_context(java_script_enabled=javascript).new_page()
    if not javascript:  # axe cannot run there: a copy of each page is checked
        checks = ScriptlessChecks(checks, new_context().new_page())
    return page, checks


def _submit(page: Page, button) -> None:
    with page.expect_navigation(wait_until="load"):
        button.click()


def _post_idea(page: Page, title: str) -> str:
    page.goto("/ideas/new")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("What problem does it solve for you?").fill(
        "Our finance team copies these numbers by hand every Friday."
    )
    category = page.get_by_label("Category")
    if category.count():
        category.select_option(index=1)
    _submit(page, page.get_by_role("button", name="Post idea"))
    if page.get_by_role("button", name="Post anyway").count():
        _submit(page, page.get_by_role("button", name="Post anyway"))
    assert re.search(r"/ideas/\d+$", page.url), page.url
    return page.url.removeprefix(page.url.split("/ideas/")[0])


def _emails_about(site, address: str, title: str) -> list:
    """Every email to address that names title, once the first has come and the rest had time."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [m for m in site.emails_to(address) if title in _text(m)]
        if found:
            time.sleep(QUIET_SECONDS)
            return [m for m in site.emails_to(address) if title in _text(m)]
        time.sleep(0.2)
    pytest.fail(f"no email to {address} about “{title}”")


def _text(message) -> str:
    return str(message["Subject"]) + message.get_body(preferencelist=("plain",)).get_content()


# --- Point 5: one email when an idea closes ------------------------------------------------------


def test_closing_an_idea_emails_each_follower_once(site, new_context, checks):
    title = f"Export the ledger to CSV {uuid.uuid4().hex[:6]}"
    author_email, follower_email = site.new_customer("Ada Author"), site.new_customer("Fin Fan")
    author = new_context().new_page()
    sign_in(author, author_email)
    path = _post_idea(author, title)

    follower = new_context().new_page()
    sign_in(follower, follower_email)
    follower.goto(path)
    _submit(follower, follower.get_by_role("button", name="Follow", exact=True))
    expect(follower.get_by_role("button", name="Following ✓")).to_be_visible()

    pm = new_context().new_page()
    sign_in(pm, site.people["product_manager"])
    pm.goto(path)
    pm.get_by_label("Move to").select_option(label="Shipped")
    note = "Shipped today: Reports → Export → CSV."
    pm.get_by_label("Note to everyone following", exact=True).fill(note)
    _submit(pm, pm.get_by_role("button", name="Move and notify followers"))
    expect(pm.locator(".flashes")).to_contain_text("Moved.")
    checks.check(pm, "pm: idea moved to Shipped")

    for address in (follower_email, author_email):
        [message] = _emails_about(site, address, title)  # one, not a stage change and a question
        body = _text(message)
        assert note in body
        assert "Did the outcome meet your need?" in body or "meet your need" in body
        link = re.search(r"(http\S+/outcome\S*)", body)
        assert link, body
        assert link.group(1).startswith(site.url)


# --- Point 15: unvoting undoes the vote's follow, not the person's own -------------------------


def _vote_button(page: Page):
    return page.locator(".idea-main button.vote__button, .idea button.vote__button").first


def _follow_button(page: Page):
    return page.get_by_role("complementary", name="About this idea").get_by_role(
        "button", name=re.compile(r"^Follow")
    )


@JS
def test_unvoting_undoes_the_votes_follow_and_keeps_a_chosen_one(
    site, new_context, checks, javascript
):
    page, checks = _browser(new_context, checks, javascript)
    sign_in(page, site.new_customer("Vic Voter"))
    page.goto("/")
    card = page.locator("article.idea-card:has(button.vote__button[aria-pressed=false])").first
    card.locator(".idea-card__title a").click()
    page.wait_for_load_state("load")

    def press(button) -> None:
        if javascript:
            button.click()
        else:
            _submit(page, button)

    # A vote follows the idea; taking it back stops following it.
    press(_vote_button(page))
    expect(_vote_button(page)).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(_follow_button(page)).to_have_text("Following ✓")
    press(_vote_button(page))
    expect(_vote_button(page)).to_have_attribute("aria-pressed", "false")
    page.reload()
    expect(_follow_button(page)).to_have_text("Follow")
    checks.check(page, f"unvoted, not following ({'with' if javascript else 'no'} JS)")

    # A follow the person chose stays when their vote goes.
    _submit(page, _follow_button(page))
    expect(_follow_button(page)).to_have_text("Following ✓")
    press(_vote_button(page))
    expect(_vote_button(page)).to_have_attribute("aria-pressed", "true")
    press(_vote_button(page))
    expect(_vote_button(page)).to_have_attribute("aria-pressed", "false")
    page.reload()
    expect(_follow_button(page)).to_have_text("Following ✓")
    checks.check(page, f"unvoted, still following ({'with' if javascript else 'no'} JS)")


# --- Points 16 and 17: limits people never meet, and the words they read -----------------------


def test_an_office_signs_up_four_people_and_a_newcomer_replies_at_once(site, new_context, checks):
    office = uuid.uuid4().hex[:6]
    addresses = [f"person{n}.{office}@office.example" for n in range(1, 5)]
    for n, address in enumerate(addresses, start=1):
        page = new_context().new_page()  # one office, one address: the same IP for all four
        page.goto("/sign-up")
        page.get_by_label("Email address").fill(address)
        page.get_by_label("Display name").fill(f"Office Person {n}")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("I have read the community guidelines").check()
        _submit(page, page.get_by_role("button", name="Create account"))
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    checks.check(page, "the fourth sign-up from one address")

    # The newest confirms; the link used a second time says so rather than asking again.
    # The first sign-in, by the link, is a welcome, not a welcome back.
    link = _verification_link(site, addresses[-1])
    page.goto(link)
    _submit(page, page.get_by_role("button", name="Confirm and sign in"))
    expect(page.locator(".flashes")).to_contain_text("Welcome")
    expect(page.locator(".flashes")).not_to_contain_text("Welcome back")
    page.goto(link)
    expect(page.locator("main")).not_to_contain_text("One last step")
    checks.check(page, "a used confirmation link")

    # A comment, then a reply four seconds later: both posted.
    page.goto("/")
    page.locator("article.idea-card .idea-card__title a").first.click()
    page.wait_for_load_state("load")
    page.locator("form[action$='/comments']:not(:has([name=parent_id])) textarea").fill(
        "We would use this every month-end."
    )
    _submit(page, page.get_by_role("button", name="Post comment"))
    match = re.search(r"#comment-(\d+)$", page.url)
    assert match, page.url
    time.sleep(4)
    page.locator(f"details:has(#reply-{match.group(1)}) summary").click()
    page.locator(f"#reply-{match.group(1)}").fill("And at year-end, for the auditors.")
    _submit(
        page,
        page.locator(f"details:has(#reply-{match.group(1)})").get_by_role(
            "button", name="Post reply"
        ),
    )
    assert re.search(r"#comment-\d+$", page.url), page.url
    expect(page.locator("main")).not_to_contain_text("Too many")
    expect(page.locator("#conversation")).to_contain_text("for the auditors")
    checks.check(page, "a newcomer's reply, seconds after their comment")


def test_the_sign_up_page_sums_up_the_guidelines_the_admin_set(site, new_context, checks):
    admin = new_context().new_page()
    sign_in(admin, site.people["admin"])
    admin.goto("/admin/settings")
    guidelines = admin.get_by_role("textbox", name="Community guidelines")
    before = guidelines.input_value()
    rule = f"Name the customer you heard it from ({uuid.uuid4().hex[:4]})"
    try:
        guidelines.fill(f"- **{rule}.** It helps us ask them.\n- Be kind to each other.\n")
        _submit(admin, admin.get_by_role("button", name="Save guidelines"))
        expect(admin.locator(".flashes")).to_be_visible()
        checks.check(admin, "admin: guidelines saved")

        visitor = new_context().new_page()
        visitor.goto("/sign-up")
        expect(visitor.locator(".guidelines-summary")).to_contain_text(rule)
        checks.check(visitor, "sign-up with the admin's guidelines")
    finally:  # the other journeys read the demo's guidelines
        admin.goto("/admin/settings")
        admin.get_by_role("textbox", name="Community guidelines").fill(before)
        _submit(admin, admin.get_by_role("button", name="Save guidelines"))
