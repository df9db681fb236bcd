"""Issue 16, everyday speed, as a product manager in Chromium: a saved triage filter, then the
"next idea" flow through it, by keyboard with JavaScript and by links and buttons without, on a
wide screen (1280 px) and a phone (375 px)."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_journeys import ScriptlessChecks
from tests.browser.test_touch_forms import sign_in

pytestmark = pytest.mark.slow

PM = "priya.pm@portal.example"
VARIANTS = [
    pytest.param(True, 1280, id="js-1280"),
    pytest.param(True, 375, id="js-375"),
    pytest.param(False, 1280, id="no-js-1280"),
    pytest.param(False, 375, id="no-js-375"),
]


def at(page: Page, text: str) -> None:
    """The bar says where the idea stands, and the page's scripts are ready for keys."""
    expect(page.locator(".triage-bar__where strong")).to_have_text(text)
    page.wait_for_load_state("load")


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"triage-{name}.png"), full_page=False)


@pytest.mark.parametrize(("javascript", "width"), VARIANTS)
def test_a_saved_filter_then_the_next_idea_flow(new_context, checks, site, javascript, width):
    viewport = {"width": width, "height": 900}
    page = new_context(java_script_enabled=javascript, viewport=viewport).new_page()
    if not javascript:
        checks = ScriptlessChecks(checks, new_context(viewport=viewport).new_page())
    variant = f"{'js' if javascript else 'no-js'}-{width}"
    sign_in(page, PM)

    # A view of every open idea nobody owns yet: auto-applied with JavaScript, Show without.
    page.goto("/team/triage")
    page.get_by_role("navigation", name="Triage views").get_by_role(
        "link", name=re.compile(r"^All open ideas")
    ).click()
    expect(page).to_have_url(re.compile(r"show=all"))
    page.wait_for_load_state("load")
    owner = page.get_by_label("Owner")
    owner.focus()  # as a keyboard user changing it would be
    owner.select_option("unassigned")
    if javascript:
        expect(page.get_by_role("button", name="Show")).to_be_hidden()
        expect(page).to_have_url(re.compile(r"owner=unassigned"))
        expect(owner).to_be_focused()
    else:
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"show=all&.*owner=unassigned"))
    checks.check(page, f"triage filtered ({variant})")

    # Saved under a name, shared with the team: a tab with its count. The same filters are the
    # built-in "Unassigned" tab too, which stays the one current tab.
    name = f"Nobody's yet {uuid.uuid4().hex[:6]}"
    page.locator(".save-filter summary").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Share it with the team").check()
    page.get_by_role("button", name="Save filters").click()
    tab = page.get_by_role("navigation", name="Triage views").get_by_role(
        "link", name=re.compile(re.escape(name))
    )
    expect(tab).to_be_visible()
    tabs = page.get_by_role("navigation", name="Triage views")
    expect(tabs.locator('[aria-current="page"]')).to_have_count(1)
    count = int(tab.locator(".count").inner_text())
    assert count >= 2, "the demo has several unassigned open ideas"
    shot(page, f"saved-filter-{variant}")
    checks.check(page, f"saved filter ({variant})")

    # The first idea, in triage mode.
    page.get_by_role("link", name="Open the first idea").click()
    at(page, f"1 of {count}")
    first_title = page.locator("#idea-title").inner_text()
    shot(page, f"mode-{variant}")
    checks.check(page, f"triage mode ({variant})")

    if javascript:
        page.keyboard.press("j")
        at(page, f"2 of {count}")
        page.keyboard.press("k")
        at(page, f"1 of {count}")
        page.keyboard.press("?")
        expect(page.locator("#triage-keys dl")).to_be_visible()
        # Typing in a field never fires a shortcut: "n" goes to the note, where j is a letter.
        page.keyboard.press("n")
        note = page.locator("#internal_note")
        expect(note).to_be_focused()
        page.keyboard.type("just a jotted note")
        at(page, f"1 of {count}")
        expect(note).to_have_value("just a jotted note")
        note.fill("")
        page.locator("#idea-title").click()  # out of the field: shortcuts work again
        page.keyboard.press("a")
    else:
        bar = page.get_by_role("navigation", name="Triage")
        bar.get_by_role("link", name="Next →").click()
        at(page, f"2 of {count}")
        page.get_by_role("navigation", name="Triage").get_by_role("link", name="← Previous").click()
        at(page, f"1 of {count}")
        page.locator("#triage-keys summary").click()
        expect(page.locator("#triage-keys dl")).to_be_visible()
        page.get_by_role("button", name="Assign to me").click()

    # Assigned: it leaves the "nobody's" view, and the next idea takes its place.
    expect(page.get_by_text("Assigned to you: customers see you as their contact")).to_be_visible()
    at(page, "No longer in this view")
    expect(page.locator("#idea-title")).to_have_text(first_title)
    checks.check(page, f"assigned in triage mode ({variant})")
    if javascript:
        page.keyboard.press("j")
    else:
        page.get_by_role("navigation", name="Triage").get_by_role("link", name="Next →").click()
    at(page, f"1 of {count - 1}")
    assert page.locator("#idea-title").inner_text() != first_title

    # The saved filter is there to rename, share or delete, on a page of its own.
    page.goto("/team/triage/filters")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    shot(page, f"saved-filters-{variant}")
    checks.check(page, f"saved filters page ({variant})")
