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

from tests.browser.conftest import PASSWORD, SCREENSHOTS

pytestmark = pytest.mark.slow

WIDTHS = (1280, 375)


def sign_in(page: Page, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
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
