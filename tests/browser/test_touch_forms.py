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

from tests.browser.conftest import PASSWORD, pass_two_factor
from tests.browser.test_journeys import ScriptlessChecks

pytestmark = pytest.mark.slow


def sign_in(page: Page, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    pass_two_factor(page, email)
    expect(page).not_to_have_url(re.compile(r"/sign-in"))


def first_idea_path(page: Page) -> str:
    page.goto("/")
    return page.locator(".idea-card__title a").first.get_attribute("href")


def customer(n: int) -> str:
    """The nth customer of the demo data: each test its own, so that none meets the limits
    (comments a minute) or the votes another test left."""
    from portal.demo import PEOPLE
    from tests.browser.test_journeys import REPORTER, TROLL

    # Not the journeys' troll (suspended there) nor their reporter, whatever ran first.
    taken = {TROLL[0], REPORTER}
    emails = [
        email
        for email, _name, role in PEOPLE
        if getattr(role, "value", role) == "customer" and email not in taken
    ]
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


# --- 10. Every count on the page follows a vote made with JavaScript ------------------------------

LIVE = """() => Object.fromEntries([...document.querySelectorAll('[data-live][data-idea]')].map(
  el => [el.dataset.live + ':' + el.dataset.idea, el.hidden ? '' : el.textContent.trim()]))"""
BUTTONS = """() => Object.fromEntries([...document.querySelectorAll('.vote[data-idea]')].map(
  el => [el.dataset.idea, el.querySelector('.vote__count').textContent.trim() + ' ' +
         el.querySelector('.vote__button').getAttribute('aria-pressed')]))"""


def vote_in_place(page: Page, vote) -> None:
    """Press a vote button with JavaScript: it turns, its count moves, the page stays."""
    button = vote.locator(".vote__button")
    was_voted = button.get_attribute("aria-pressed") == "true"
    before = int(button.locator(".vote__count").inner_text())
    page.evaluate("window.stillTheSamePage = true")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "false" if was_voted else "true")
    expect(button.locator(".vote__count")).to_have_text(
        str(before - 1 if was_voted else before + 1)
    )
    assert page.evaluate("window.stillTheSamePage === true"), "the vote reloaded the page"


def assert_page_shows_what_a_reload_shows(page: Page) -> None:
    live, buttons = page.evaluate(LIVE), page.evaluate(BUTTONS)
    page.reload()
    assert page.evaluate(LIVE) == live
    assert page.evaluate(BUTTONS) == buttons


def test_every_count_on_the_page_follows_a_vote(new_context, checks, site):
    page, checks = open_page(new_context, checks, javascript=True, person=customer(5))
    idea = first_idea_path(page)
    idea_id = idea.rsplit("/", 1)[1]

    # The idea's page: the button and "Supported by N people from M organisations".
    page.goto(idea)
    supporters = page.locator(f"[data-live='supporters'][data-idea='{idea_id}']")
    vote_in_place(page, page.locator(f".vote[data-idea='{idea_id}']"))
    count = page.locator(f".vote[data-idea='{idea_id}'] .vote__count").inner_text()
    expect(supporters).to_contain_text(f"Supported by {count} ")
    assert_page_shows_what_a_reload_shows(page)

    # The list: the button, the organisations, "You voted".
    page.goto("/")
    card = page.locator(f"#idea-{idea_id}")
    you_voted = card.locator("[data-live='you-voted']")
    voted = card.locator(".vote__button").get_attribute("aria-pressed") == "true"
    vote_in_place(page, card.locator(".vote"))
    expect(you_voted).to_be_hidden() if voted else expect(you_voted).to_have_text("You voted")
    assert_page_shows_what_a_reload_shows(page)
    checks.check(page, "list after a vote")


# --- 14. Voting from search results, the roadmap and similar ideas --------------------------------


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_vote_from_search_results_and_the_roadmap(new_context, checks, site, javascript):
    page, checks = open_page(
        new_context, checks, javascript=javascript, person=customer(6 if javascript else 7)
    )
    page.goto("/")
    title = page.locator(".idea-card__title a").first.inner_text()
    for where, url, items in (
        ("search", f"/search?q={title}", ".search-results > li"),
        ("roadmap", "/roadmap", ".roadmap__item"),
    ):
        page.goto(url)
        item = page.locator(items).filter(has=page.locator("form.vote")).first
        item_id = item.get_attribute("id")
        vote = item.locator(".vote")
        if javascript:
            vote_in_place(page, vote)
        else:
            button = vote.locator(".vote__button")
            was_voted = button.get_attribute("aria-pressed") == "true"
            button.click()
            expect(page).to_have_url(re.compile(rf"{re.escape(url.split('?')[0])}.*#{item_id}$"))
            pressed = page.locator(f"#{item_id} .vote__button")
            expect(pressed).to_have_attribute("aria-pressed", "false" if was_voted else "true")
        checks.check(page, f"{where} after a vote ({'js' if javascript else 'no js'})")


def test_vote_for_a_similar_idea_while_typing_a_new_one(new_context, checks, site):
    page, checks = open_page(new_context, checks, javascript=True, person=customer(8))
    page.goto("/")
    existing = page.locator(".idea-card__title a").first.inner_text()
    page.goto("/ideas/new")
    page.get_by_label("Title").press_sequentially(existing, delay=10)
    suggestion = page.locator("#similar-ideas .similar__item").filter(has_text=existing)
    expect(suggestion).to_be_visible()
    page.get_by_label("What problem does it solve for you?").fill("Kept while I vote")

    vote_in_place(page, suggestion.locator(".vote"))

    assert page.url.endswith("/ideas/new")
    expect(page.get_by_label("Title")).to_have_value(existing)
    expect(page.get_by_label("What problem does it solve for you?")).to_have_value(
        "Kept while I vote"
    )
    checks.check(page, "similar ideas with vote buttons")


def test_vote_for_a_similar_idea_in_the_confirm_step_without_javascript(new_context, checks, site):
    page, checks = open_page(new_context, checks, javascript=False, person=customer(9))
    page.goto("/")
    existing = page.locator(".idea-card__title a").first.inner_text()
    page.goto("/ideas/new")
    page.get_by_label("Title").fill(existing)
    page.get_by_label("What problem does it solve for you?").fill("The same need")
    if page.get_by_label("Category").count():
        page.get_by_label("Category").select_option(index=1)
    page.get_by_role("button", name="Post idea").click()
    step = page.locator(".similar--confirm")
    expect(step).to_contain_text("Is it one of these?")
    checks.check(page, "confirm step with vote buttons")
    item = step.locator(".similar__item").filter(has_text=existing).first
    button = item.locator(".vote__button")
    was_voted = button.get_attribute("aria-pressed") == "true"
    button.click()
    expect(page).to_have_url(re.compile(r"/ideas/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(existing)
    expect(page.locator("main .vote__button").first).to_have_attribute(
        "aria-pressed", "false" if was_voted else "true"
    )


# --- 13. Filters apply at once with JavaScript; Show stays without -----------------------------


def card_titles(page: Page) -> list[str]:
    return page.locator(".idea-card__title").all_inner_texts()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_list_filters_apply_at_once_with_javascript(new_context, checks, site, javascript):
    page, checks = open_page(
        new_context, checks, javascript=javascript, person=customer(10 if javascript else 0)
    )
    page.goto("/")
    show = page.get_by_role("button", name="Show")
    sort = page.get_by_label("Sort by")
    if not javascript:
        expect(show).to_be_visible()
        sort.select_option("new")
        show.click()
        expect(page).to_have_url(re.compile(r"[?&]sort=new"))
        expect(page.get_by_label("Sort by")).to_have_value("new")
        checks.check(page, "list filtered without javascript")
        return

    expect(show).to_be_hidden()
    page.evaluate("window.stillTheSamePage = true")
    stage = page.locator("select#stage")
    stage.select_option("all")
    expect(page).to_have_url(re.compile(r"[?&]stage=all"))
    every_stage = card_titles(page)
    stage.focus()  # as a keyboard user would be, changing it
    stage.select_option("closed")
    expect(page).to_have_url(re.compile(r"[?&]stage=closed"))
    expect(page.locator("#idea-results")).not_to_have_attribute("aria-busy", "true")
    closed = card_titles(page)
    assert closed != every_stage
    expect(stage).to_be_focused()  # no page load took the focus away
    n = len(closed)
    expect(
        page.get_by_role("status")
        .filter(has_text="shown")
        .or_(page.get_by_role("status").filter(has_text="No ideas match"))
    ).to_have_text(
        f"{n} idea{'' if n == 1 else 's'} shown" if n else "No ideas match these filters"
    )
    assert page.evaluate("window.stillTheSamePage === true"), "the filter reloaded the page"
    page.reload()  # the address holds the filters
    expect(stage).to_have_value("closed")
    assert card_titles(page) == closed
    checks.check(page, "list filtered with javascript")
