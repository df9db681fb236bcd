"""Issue 16, value-weighted priorities, in Chromium: a product manager reads the formula, sees the
customer value behind each idea, and sets impact and effort in the table, with JavaScript (saved
as it changes, no reload) and without it (each row's Save, back to the same filtered page), on a
desk and on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_journeys import ScriptlessChecks
from tests.browser.test_touch_forms import sign_in

pytestmark = pytest.mark.slow

PM = "priya.pm@portal.example"
SIZES = {"desk": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 800}}
VIEW = "/team/priority?sort=value"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"pm-scoring-{name}.png"), full_page=True)


def row_with_value(page: Page):
    """The first row of the view ordered by customer value: an idea demo customers back."""
    row = page.locator(".priority-table tbody tr").first
    expect(row.locator("td[data-value]")).not_to_have_text("—")
    return row


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_pm_sets_impact_and_effort_in_the_priority_table(new_context, checks, size, javascript):
    page = new_context(viewport=SIZES[size], java_script_enabled=javascript).new_page()
    if not javascript:
        checks = ScriptlessChecks(checks, new_context(viewport=SIZES[size]).new_page())
    sign_in(page, PM)
    page.goto(VIEW)
    expect(page.get_by_role("heading", name="How the score is worked out")).to_be_visible()
    expect(page.locator(".formula__line")).to_contain_text("score =")
    expect(page.locator(".formula__line")).to_contain_text("yearly value in 10,000s")
    checks.check(page, f"priority ({size}, {'js' if javascript else 'no js'})")

    row = row_with_value(page)
    title = row.locator("th a").inner_text()
    impact = row.get_by_label(re.compile(r"^Impact"))
    effort = row.get_by_label(re.compile(r"^Effort"))
    # A value different from the one shown, so the change is real whichever test ran first.
    new_impact = "5" if impact.input_value() != "5" else "4"
    new_effort = "1" if effort.input_value() != "1" else "2"
    score_before = row.locator("[data-score]").inner_text()

    if javascript:
        page.evaluate("window.notReloaded = true")
        expect(row.get_by_role("button", name=re.compile("^Save"))).to_be_hidden()
        impact.select_option(new_impact)
        effort.select_option(new_effort)
        status = page.locator("[data-priority-status]")
        expect(status).to_have_text(re.compile(r"^Saved\. .* now scores [0-9.]+\.$"))
        expect(row.locator("[data-score]")).not_to_have_text(score_before)
        assert page.evaluate("window.notReloaded === true"), "the page reloaded"
        expect(page).to_have_url(re.compile(re.escape(VIEW) + "$"))
        page.reload()
    else:
        impact.select_option(new_impact)
        effort.select_option(new_effort)
        row.get_by_role("button", name=re.compile("^Save")).click()
        expect(page).to_have_url(re.compile(re.escape(VIEW) + r"#idea-\d+$"))
        expect(page.locator(".flash--success")).to_have_text(f"Estimates saved for {title}.")

    saved = page.locator(".priority-table tbody tr", has=page.get_by_role("link", name=title))
    expect(saved.get_by_label(re.compile(r"^Impact"))).to_have_value(new_impact)
    expect(saved.get_by_label(re.compile(r"^Effort"))).to_have_value(new_effort)
    checks.check(page, f"priority after saving ({size}, {'js' if javascript else 'no js'})")
    screenshot(page, f"{size}-{'js' if javascript else 'no-js'}")


def test_pm_changes_the_formula_and_the_page_says_it(new_context, checks):
    page = new_context(viewport=SIZES["desk"]).new_page()
    sign_in(page, PM)
    page.goto("/team/priority")
    page.get_by_role("link", name="Change the weights").click()
    checks.check(page, "priority formula")
    page.get_by_label("Age").fill("lots")
    page.get_by_role("button", name="Save the formula").click()
    expect(page.locator(".field__error")).to_contain_text("Give age a weight from 0 to 100")
    expect(page.get_by_label("Age")).to_have_value("lots")
    checks.check(page, "priority formula refused")
    page.get_by_label("Age").fill("0.5")
    page.get_by_role("button", name="Save the formula").click()
    expect(page.locator(".flash--success")).to_contain_text("The priority formula is saved")
    expect(page.locator(".formula__line")).to_contain_text("0.5 \u00d7 months open")
    page.get_by_role("link", name="Change the weights").click()
    page.get_by_label("Age").fill("0")
    page.get_by_role("button", name="Save the formula").click()
    expect(page.locator(".formula__line")).not_to_contain_text("months open")


@pytest.mark.parametrize("size", sorted(SIZES))
def test_admin_imports_values_after_a_preview_and_edits_one(new_context, checks, size):
    page = new_context(viewport=SIZES[size]).new_page()
    sign_in(page, "admin@portal.example")
    page.goto("/admin/settings/organisations")
    expect(page.get_by_role("cell", name="Enterprise").first).to_be_visible()
    page.get_by_role("link", name="Import plans and values from CSV").click()
    checks.check(page, f"import ({size})")
    page.get_by_label("CSV file").set_input_files(
        files=[{
            "name": "customers.csv",
            "mimeType": "text/csv",
            "buffer": b"name,plan,arr,renewal\nInitech Software,Business,9000,2027-05-31\n"
                      b"Nobody Ltd,,lots,\n",
        }]
    )  # fmt: skip
    page.get_by_role("button", name="Show what would change").click()
    expect(page.locator("p.lead[role=status]")).to_contain_text("1 to update")
    expect(page.get_by_role("cell", name=re.compile("Left out: Write the amount"))).to_be_visible()
    checks.check(page, f"import preview ({size})")
    screenshot(page, f"import-preview-{size}")
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".flash--success")).to_have_text(
        "Imported: 1 updated, 0 created, 1 left out."
    )

    page.get_by_role("link", name="Initech Software").click()
    expect(page.get_by_text("Worth 9,000 a year (750 a month)")).to_be_visible()
    page.get_by_label("Value", exact=True).fill("1,000")
    page.get_by_label("Monthly (MRR)").check()
    page.get_by_label("Renewal date").fill("2027-06-30")
    page.get_by_role("button", name="Save plan, value and renewal").click()
    expect(page.get_by_text("Worth 12,000 a year (1,000 a month)")).to_be_visible()
    checks.check(page, f"organisation ({size})")
    screenshot(page, f"organisation-{size}")
