"""An admin shapes the pipeline in Chromium, at desktop and phone widths.

They add a stage and, on the same form, let an existing stage's ideas move into it; then they try
to add a stage with no way out, and are refused with the stage named and everything they typed
kept. The audit log tells it back as sentences. Every page goes through axe-core and the Nu HTML
checker, and screenshots are saved into build/screenshots/admin-pipeline-*.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, SCREENSHOTS, pass_two_factor
from tests.browser.test_journeys import ScriptlessChecks

pytestmark = pytest.mark.slow

WIDTHS = (1280, 375)


def sign_in(page: Page, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    pass_two_factor(page, email)
    expect(page).not_to_have_url(re.compile(r"/sign-in"))


def shot(page: Page, name: str, width: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-pipeline-{name}-{width}.png"), full_page=True)


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_admin_adds_a_stage_with_moves_into_it_and_is_refused_a_trap(
    site, new_context, checks, width
):
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    sign_in(page, site.people["admin"])
    name = f"In beta {width}"

    page.goto("/admin/stages/new")
    sources = page.get_by_role("group", name="Also allow moves into this stage from")
    expect(sources).to_be_visible()
    checks.check(page, f"new stage form at {width}")
    page.get_by_label("Name").fill(name)
    page.get_by_label("What it means for customers").fill(
        "You can try it now in the beta programme and tell us how it works for you."
    )
    page.get_by_label("Response commitment in days").fill("14")
    page.get_by_label("Position in the pipeline").fill("35")
    sources.get_by_label("Planned", exact=True).check()
    no_sideways_scroll(page)
    shot(page, "new-stage", width)
    page.get_by_role("button", name="Save stage").click()

    expect(page.locator(".flashes")).to_contain_text("Stage saved.")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    expect(row).to_contain_text("14 days")
    planned = page.get_by_role("row").filter(
        has=page.get_by_role("link", name="Planned", exact=True)
    )
    expect(planned).to_contain_text(name)  # Planned's ideas may now move into the new stage
    expect(page.get_by_text(f"No idea can ever reach “{name}”")).to_have_count(0)
    checks.check(page, f"stages after adding at {width}")
    no_sideways_scroll(page)
    shot(page, "stages", width)

    # A stage with no way out: refused, named, and nothing typed is lost.
    trap = f"Limbo {width}"
    page.goto("/admin/stages/new")
    page.get_by_label("Name").fill(trap)
    page.get_by_label("What it means for customers").fill("Waiting for a decision.")
    page.get_by_label("Position in the pipeline").fill("36")
    targets = page.get_by_role("group", name="Ideas in this stage may move to")
    for box in targets.get_by_role("checkbox").all():
        box.uncheck()
    page.get_by_role("button", name="Save stage").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(f"Ideas in “{trap}” could never close: allow a move from it to")
    expect(page.get_by_label("Name")).to_have_value(trap)
    expect(page.get_by_label("What it means for customers")).to_have_value(
        "Waiting for a decision."
    )
    checks.check(page, f"refused trap at {width}")
    no_sideways_scroll(page)
    shot(page, "refused-trap", width)

    page.goto("/admin/audit?action=stage.created")
    expect(page.get_by_role("cell", name=re.compile(f"added stage “{name}”: open"))).to_be_visible()
    checks.check(page, f"audit log at {width}")
    shot(page, "audit", width)

    # Leave the shared demo pipeline as it was for the other browser tests.
    page.goto("/admin/stages")
    page.get_by_role("button", name=f"Retire {name}").click()
    expect(page.locator(".flashes")).to_contain_text(f"{name} is retired")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_bulk_move_names_the_ideas_that_would_stay_before_anything_moves(
    site, new_context, checks, width
):
    """Nothing is moved here: the demo's queue stays as the other browser tests expect it."""
    pm = site.people["product_manager"]

    # With JavaScript: the menu offers only the stages every ticked idea may move to.
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    sign_in(page, pm)
    page.goto("/team/triage")
    awaiting = page.locator('section[aria-labelledby="awaiting-title"] input[name="idea_ids"]')
    overdue = page.locator('section[aria-labelledby="overdue-title"] input[name="idea_ids"]')
    awaiting.first.check()
    overdue.first.check()
    expect(page.locator("#bulk-status")).to_contain_text("2 ticked")
    new_option = page.locator("#bulk-stage option", has_text="New")
    expect(new_option).to_be_disabled()  # the idea awaiting its first answer is in New already
    checks.check(page, f"triage with two ticked at {width}")

    # Without JavaScript: the server names the idea that would stay, and why.
    plain = new_context(viewport={"width": width, "height": 900}, java_script_enabled=False)
    page = plain.new_page()
    # axe needs scripts: the page is checked as a copy in a context that runs them.
    scriptless = ScriptlessChecks(checks, new_context().new_page())
    sign_in(page, pm)
    page.goto("/team/triage")
    page.locator('section[aria-labelledby="awaiting-title"] input[name="idea_ids"]').first.check()
    page.locator('section[aria-labelledby="overdue-title"] input[name="idea_ids"]').first.check()
    page.locator("#bulk-stage").select_option(label="New")
    page.get_by_label("Note to everyone following them").fill(
        "We are looking at these again with fresh eyes this week."
    )
    page.get_by_role("button", name="Move ticked ideas").click()

    expect(page.get_by_role("heading", name="Nothing has moved yet")).to_be_visible()
    expect(
        page.get_by_role("heading", name=re.compile("1 of the 2 ideas you ticked"))
    ).to_be_visible()
    expect(page.locator(".bulk-staying")).to_contain_text("it is in New already")
    expect(
        page.get_by_role("button", name=re.compile("Move 1 to New, leave the other 1"))
    ).to_be_visible()
    expect(page.get_by_label("To a stage every one of them may move to")).not_to_contain_text("New")
    scriptless.check(page, f"bulk move review at {width}")
    no_sideways_scroll(page)
    shot(page, "bulk-move-review", width)
