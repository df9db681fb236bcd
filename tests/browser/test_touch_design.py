"""The design of issue 15: the phone header and its menu, touch targets, the idea page's side
column, stage colours, the button component (chosen answers, centred link-buttons) and the
typographic scale of what people write. At 375 and 1280 px, with and without JavaScript."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_journeys import ScriptlessChecks
from tests.browser.test_pages import sign_in

pytestmark = pytest.mark.slow

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
FINGER = 44  # px: the smallest comfortable touch target

# The visible boxes of the elements matched by a selector: [text, width, height].
BOXES = """selector => [...document.querySelectorAll(selector)]
  .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
  .map(el => { const r = el.getBoundingClientRect(), text = el.innerText || el.value || '';
               return [text.trim().slice(0, 40), r.width, r.height]; })"""

# How far the text sits from the top and from the bottom of its button.
TEXT_GAPS = """el => {
  const box = el.getBoundingClientRect(), range = document.createRange();
  range.selectNodeContents(el);
  const text = range.getBoundingClientRect();
  return [text.top - box.top, box.bottom - text.bottom];
}"""


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"design-{name}.png"), full_page=False)


def first_idea_path(page) -> str:
    page.goto("/")
    return page.locator(".idea-card__title a").first.get_attribute("href")


def idea_in_stage(page, stage: str) -> str:
    page.goto(f"/?stage={stage}")
    return page.locator(".idea-card__title a").first.get_attribute("href")


# --- The phone header and its menu -----------------------------------------------------------


def test_phone_header_is_compact_and_the_first_idea_is_on_the_first_screen(new_context, checks):
    page = new_context(viewport=PHONE).new_page()
    page.goto("/")
    header = page.locator(".site-header").bounding_box()
    assert header["height"] <= 72, header
    first = page.locator(".idea-card").first.bounding_box()
    assert first["y"] + 40 < PHONE["height"], f"the first idea starts at y = {first['y']}"
    expect(page.get_by_role("link", name="Roadmap")).to_be_hidden()
    checks.check(page, "phone home")
    shot(page, "phone-home-375")


@pytest.mark.parametrize("javascript", [False, True], ids=["without-js", "with-js"])
def test_phone_menu_opens_and_leads_to_what_shipped(new_context, checks, javascript):
    page = new_context(viewport=PHONE, java_script_enabled=javascript).new_page()
    if not javascript:  # axe cannot run there: a copy of each page is checked
        checks = ScriptlessChecks(checks, new_context(viewport=PHONE).new_page())
    page.goto("/")
    toggle = page.locator(".site-menu > summary")
    expect(toggle).to_have_text("Menu")
    toggle.click()
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Ideas", "Roadmap", "What shipped"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    account = page.get_by_role("navigation", name="Account")
    expect(account.get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_role("searchbox", name="Search ideas")).to_be_visible()
    checks.check(page, f"phone menu open {'with' if javascript else 'without'} JavaScript")
    if javascript:
        shot(page, "phone-menu-open-375")
        page.keyboard.press("Escape")
        expect(nav.get_by_role("link", name="Roadmap")).to_be_hidden()
        expect(toggle).to_be_focused()
        toggle.click()
        page.mouse.click(180, PHONE["height"] - 10)  # a click outside closes it too
        expect(nav.get_by_role("link", name="Roadmap")).to_be_hidden()
        toggle.click()
    nav.get_by_role("link", name="What shipped").click()
    expect(page).to_have_url(re.compile(r"/shipped$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("What shipped")


def test_desktop_shows_the_navigation_without_a_menu_button(page):
    page.set_viewport_size(DESKTOP)
    page.goto("/roadmap")
    expect(page.locator(".site-menu > summary")).to_be_hidden()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="What shipped")).to_be_visible()
    expect(nav.get_by_role("link", name="Roadmap")).to_have_attribute("aria-current", "page")
    assert page.locator(".site-header").bounding_box()["height"] <= 72


@pytest.mark.parametrize("who", ["admin", "customer"])
def test_signed_in_desktop_header_has_two_even_rows(new_context, site, checks, who):
    """Brand, search and the account above; the places below, the team's grouped at the right.

    Nothing wraps onto a ragged line at 1280 px, however many pages a person's role opens.
    """
    page = new_context(viewport=DESKTOP).new_page()
    sign_in(page, site.people[who])
    page.goto("/roadmap")
    places = page.get_by_role("navigation", name="Main").get_by_role("link")
    account = page.get_by_role("navigation", name="Account")
    names = places.all_inner_texts()
    assert names[:5] == ["Ideas", "Roadmap", "What shipped", "Guidelines", "My ideas"], names
    team = page.get_by_role("list", name="Team")
    if who == "admin":
        expect(team.get_by_role("link")).to_have_text(
            ["Triage", "Dashboard", "Releases", "Organisations", "Admin"]
        )
    else:
        expect(team).to_have_count(0)
    rows = {round(link.bounding_box()["y"]) for link in places.all()}
    assert len(rows) == 1, f"the places sit on {len(rows)} lines: {rows}"
    search = page.get_by_role("searchbox", name="Search ideas").bounding_box()
    sign_out = account.get_by_role("button", name="Sign out").bounding_box()
    first = places.first.bounding_box()
    assert abs(sign_out["y"] + sign_out["height"] / 2 - search["y"] - search["height"] / 2) < 4
    assert first["y"] > search["y"] + search["height"], "the places are the second row"
    assert page.locator(".site-header").bounding_box()["height"] <= 120
    checks.check(page, f"{who} desktop header")


def test_touch_targets_are_at_least_44_px(new_context, site):
    page = new_context(viewport=PHONE).new_page()
    sign_in(page, site.people["admin"])
    page.goto(first_idea_path(page))
    small = [box for box in page.evaluate(BOXES, ".button, .vote__button") if box[2] < FINGER]
    assert not small, f"buttons under {FINGER} px: {small}"
    page.locator(".site-menu > summary").click()
    targets = page.evaluate(BOXES, ".site-menu > summary, .site-nav a, .site-nav button")
    assert len(targets) >= 8, targets
    small = [box for box in targets if box[2] < FINGER]
    assert not small, f"menu items under {FINGER} px: {small}"


# --- The idea page -----------------------------------------------------------------------------


def test_idea_page_has_a_side_column_on_desktop_stacked_on_phones(new_context, checks):
    page = new_context(viewport=DESKTOP).new_page()
    path = first_idea_path(page)
    page.goto(path)
    side = page.get_by_role("complementary", name="About this idea")
    for heading in ("What “", "Supporters", "Follow and share"):
        expect(side.get_by_role("heading", name=heading).first).to_be_visible()
    expect(side.locator(".avatar").first).to_be_visible()
    main, aside = page.locator(".idea-main").bounding_box(), side.bounding_box()
    assert aside["x"] >= main["x"] + main["width"], (main, aside)
    assert abs(aside["y"] - main["y"]) < 2, "the side column starts beside the idea"
    expect(side.get_by_role("button", name="Copy link")).to_be_visible()
    checks.check(page, "idea with side column 1280")
    shot(page, "idea-side-column-1280")

    page.set_viewport_size(PHONE)
    main, aside = page.locator(".idea-main").bounding_box(), side.bounding_box()
    assert abs(aside["width"] - main["width"]) < 2 and abs(aside["x"] - main["x"]) < 2
    assert aside["y"] + aside["height"] <= main["y"], "on phones the column comes first, stacked"
    checks.check(page, "idea stacked 375")

    plain = new_context(viewport=DESKTOP, java_script_enabled=False).new_page()
    plain.goto(path)
    link = plain.get_by_label("Link to this idea")
    expect(link).to_be_visible()
    assert link.input_value().endswith(path)
    expect(plain.get_by_role("button", name="Copy link")).to_be_hidden()


def test_a_shipped_idea_says_what_shipped_beside_it(page, checks):
    page.set_viewport_size(DESKTOP)
    page.goto(idea_in_stage(page, "shipped"))
    shipped = page.get_by_role("region", name="What shipped")
    expect(shipped).to_be_visible()
    expect(shipped.get_by_role("link", name="Everything that shipped")).to_be_visible()
    checks.check(page, "shipped idea")


# --- Stage colours -----------------------------------------------------------------------------


def _edit_stage(page, name: str) -> None:
    page.goto("/admin/stages")
    page.get_by_role("link", name=name, exact=True).click()


def test_admin_sets_a_stage_colour_shown_on_badges_and_the_roadmap(page, site, checks):
    page.set_viewport_size(DESKTOP)
    sign_in(page, site.people["admin"])
    _edit_stage(page, "Under review")
    colour = page.get_by_label("Badge colour")
    before = colour.input_value()
    try:
        colour.fill("#808080")
        page.get_by_role("button", name="Save stage").click()
        expect(page.locator(".field__error")).to_contain_text("hard to read")
        expect(page.get_by_label("Badge colour")).to_have_value("#808080")
        checks.check(page, "stage colour refused")

        page.get_by_label("Badge colour").fill("#a7f3d0")
        page.get_by_role("button", name="Save stage").click()
        expect(page.locator(".flashes")).to_contain_text("Stage saved.")

        page.goto("/roadmap")
        column = page.locator("section.roadmap__column", has_text="Under review").first
        expect(column).to_have_css("border-top-color", "rgb(167, 243, 208)")
        page.goto("/?stage=under_review")
        badge = page.locator(".badge--stage").first
        expect(badge).to_have_css("background-color", "rgb(167, 243, 208)")
        expect(badge).to_have_css("color", "rgb(27, 31, 36)")
        page.goto("/team/dashboard")
        expect(page.locator(".badge--stage", has_text="Under review").first).to_have_css(
            "background-color", "rgb(167, 243, 208)"
        )
        checks.check(page, "dashboard with stage colours")
    finally:
        _edit_stage(page, "Under review")
        page.get_by_label("Badge colour").fill(before)
        page.get_by_role("button", name="Save stage").click()


# --- The button component ------------------------------------------------------------------------


def test_chosen_outcome_answer_looks_chosen(page, site, checks):
    page.set_viewport_size(DESKTOP)
    sign_in(page, site.people["admin"])
    page.goto(idea_in_stage(page, "shipped"))
    follow = page.get_by_role("button", name="Follow", exact=True)
    if follow.count():
        follow.click()
    outcome = page.get_by_role("region", name="Did this meet your need?")
    outcome.get_by_role("button", name="Partly").click()
    outcome = page.get_by_role("region", name="Did this meet your need?")
    chosen = outcome.get_by_role("button", name="Partly")
    expect(chosen).to_have_attribute("aria-pressed", "true")
    background = "el => getComputedStyle(el).backgroundColor"
    others = [outcome.get_by_role("button", name=n) for n in ("Yes", "No")]
    for other in others:
        expect(other).to_have_attribute("aria-pressed", "false")
        assert other.evaluate(background) != chosen.evaluate(background)
        assert other.evaluate(background) == others[0].evaluate(background)
    checks.check(page, "outcome answered")
    shot(page, "outcome-chosen-1280")


def test_link_buttons_centre_their_text(page, site):
    page.set_viewport_size(DESKTOP)
    sign_in(page, site.people["admin"])
    page.goto(first_idea_path(page))
    names = ["Atom feed of updates", "Report", "Hide…", "Sign out"]
    for name in names:
        button = page.get_by_role("link", name=name).or_(page.get_by_role("button", name=name))
        top, bottom = button.first.evaluate(TEXT_GAPS)
        assert abs(top - bottom) <= 2, f"{name}: {top:.1f} px above its text, {bottom:.1f} below"


def test_user_content_has_its_own_scale(page, site, checks):
    page.set_viewport_size(PHONE)
    sign_in(page, site.people["customer"])
    page.goto("/ideas/new")
    page.get_by_label("Title").fill(f"Quarterly figures side by side {uuid.uuid4().hex[:6]}")
    page.get_by_label("What problem does it solve for you?").fill(
        "# Why this matters\n\nWe compare quarters by hand.\n\n"
        "| Quarter | Revenue | Margin |\n| --- | ---: | ---: |\n"
        "| Q1 | 1,200 | 12% |\n| Q2 | 1,450 | 14% |\n\n> Our CFO asks every month.\n"
    )
    page.get_by_label("Category").select_option(index=1)
    page.get_by_role("button", name="Post idea").click()
    post_anyway = page.get_by_role("button", name="Post anyway")
    if post_anyway.count():
        post_anyway.click()
    heading = page.locator(".user-content h1")
    expect(heading).to_have_text("Why this matters")
    size = "el => parseFloat(getComputedStyle(el).fontSize)"
    assert heading.evaluate(size) < page.locator("h1#idea-title").evaluate(size)
    assert heading.evaluate(size) < page.get_by_role("heading", name="The problem").evaluate(size)
    cell = page.locator(".user-content td").first
    expect(cell).to_have_css("border-top-style", "solid")
    expect(page.locator(".user-content table")).to_have_css("overflow-x", "auto")
    checks.check(page, "user content 375")
    shot(page, "user-content-375")
