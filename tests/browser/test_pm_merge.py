"""Issue 16, merging: a product manager finds the idea to keep by searching (never typing a
number), confirms with both ideas side by side, sees the duplicate in the kept idea's
timeline, and unmerges it; with JavaScript (live results) and without, at 1280 and 375 px.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_journeys import ScriptlessChecks
from tests.browser.test_pages import sign_in

pytestmark = pytest.mark.slow

DUPLICATE = "Email the weekly summary to managers automatically"  # fresh, in the demo data
KEPT = "Scheduled email of the weekly summary"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 800}
MERGE_NOTE = "The weekly summary email shipped already: your votes count there now."
UNMERGE_NOTE = "Choosing who gets the summary is a need of its own; it stands alone again."


def _shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"merge-{name}.png"), full_page=True)


def _open_idea(page: Page, title: str) -> None:
    page.goto("/search?q=" + title.replace(" ", "+"))
    page.get_by_role("link", name=title, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_pm_merges_by_searching_sees_the_timeline_and_unmerges(
    site, new_context, checks, javascript
):
    label = "js" if javascript else "nojs"
    page = new_context(java_script_enabled=javascript).new_page()
    if not javascript:  # axe cannot run there (it hung): a copy of each page is checked
        checks = ScriptlessChecks(checks, new_context().new_page())
    page.set_viewport_size(DESKTOP)
    sign_in(page, site.people["product_manager"])
    _open_idea(page, DUPLICATE)
    duplicate_path = page.url

    # The team panel: search for the idea to keep.
    page.get_by_label("Find the idea to keep").fill("weekly summary")
    page.get_by_role("button", name="Find the idea to keep").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Which idea should")
    # The original is suggested up front, with why.
    suggested = page.locator("#suggested-title ~ ol .merge-candidate", has_text=KEPT)
    expect(suggested).to_contain_text("Similar words")
    results = page.locator("#merge-results")
    expect(results).to_contain_text("“weekly summary”")
    checks.check(page, f"merge choose ({label})")

    if javascript:
        # Live results while typing, no button press; the address follows the search.
        box = page.get_by_label("Search titles and text")
        box.fill("")
        box.press_sequentially("scheduled", delay=20)
        expect(results).to_contain_text("matches “scheduled”")
        expect(page).to_have_url(re.compile(r"q=scheduled"))
    else:
        page.get_by_label("Search titles and text").fill("scheduled")
        page.locator("form[data-merge-search]").get_by_role("button", name="Search").click()
        expect(results).to_contain_text("matches “scheduled”")
    _shoot(page, f"choose-{label}-1280")

    chosen = results.locator(".merge-candidate", has_text=KEPT)
    chosen.get_by_role("link", name="Merge into this one").click()

    # The confirm step: both ideas, and what will move.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Merge this duplicate into “{KEPT}”?"
    )
    moves = page.locator(".merge-moves")
    expect(moves).to_contain_text("2 votes move to")  # Julia's (the author) and Lena's
    expect(moves).to_contain_text("(1 person voted for both and counts once)")
    checks.check(page, f"merge confirm ({label})")
    _shoot(page, f"confirm-{label}-1280")
    page.set_viewport_size(PHONE)
    _shoot(page, f"confirm-{label}-375")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size(DESKTOP)

    # A note too short is refused, with what was typed kept.
    page.get_by_label("Note to everyone following this duplicate").fill("dupe")
    page.get_by_role("button", name="Merge and notify followers").click()
    expect(page.locator(".field__error")).to_contain_text("at least 20 characters")
    note = page.get_by_label("Note to everyone following this duplicate")
    expect(note).to_have_value("dupe")
    note.fill(MERGE_NOTE)
    page.get_by_role("button", name="Merge and notify followers").click()

    # The kept idea: its timeline lists the duplicate, with its text behind a summary.
    expect(page.get_by_role("heading", level=1)).to_have_text(KEPT)
    expect(page.locator(".flashes")).to_contain_text("Merged.")
    entry = page.locator(".timeline__merge", has_text=DUPLICATE).last
    expect(entry).to_contain_text("2 votes and its followers moved here")
    text = entry.locator("details")
    expect(text.locator(".user-content")).to_be_hidden()
    text.locator("summary").click()
    expect(text).to_contain_text("Every Monday I export the summary and email it")
    checks.check(page, f"kept idea ({label})")
    timeline = page.locator("section[aria-labelledby=timeline-title]")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size, name in ((DESKTOP, "1280"), (PHONE, "375")):
        page.set_viewport_size(size)
        timeline.screenshot(path=str(SCREENSHOTS / f"merge-timeline-{label}-{name}.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size(DESKTOP)

    # The duplicate says where it went and how many votes moved; never "0 votes".
    page.goto(duplicate_path)
    expect(page.locator(".flash--info")).to_contain_text(f"merged into “{KEPT}”")
    expect(page.locator(".flash--info")).to_contain_text("Its 2 votes and its followers moved")
    expect(page.locator("main")).not_to_contain_text("0 votes")

    # Unmerge, from the duplicate's team panel.
    page.get_by_role("link", name="Unmerge…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Unmerge")
    checks.check(page, f"unmerge ({label})")
    page.get_by_label("Note to everyone following this idea").fill(UNMERGE_NOTE)
    page.get_by_role("button", name="Unmerge and notify followers").click()
    expect(page.locator(".flashes")).to_contain_text("Unmerged.")
    expect(page.get_by_role("heading", level=1)).to_have_text(DUPLICATE)
    expect(page.locator(".vote__count").first).to_have_text("3")
    expect(page.locator(".flash--info")).to_have_count(0)
    checks.check(page, f"unmerged duplicate ({label})")
