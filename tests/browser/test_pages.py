"""Every main page, as each role sees it, at phone and desktop widths; and the design system.

Each page is loaded at 375 px and 1280 px: it must not scroll sideways, axe-core must find no
WCAG 2.2 AA violation, the Nu HTML checker no error, and a full-page screenshot is saved into
build/screenshots/<role>-<page>-<width>.png for people to look at. The last tests check the
design system's basics: the dark theme, focus styles, the favicon, empty states, flash messages,
inline form errors, and a JavaScript action that shows it is working.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, SCREENSHOTS, PageChecks, pass_two_factor

pytestmark = pytest.mark.slow

WIDTHS = (375, 1280)

# Elements that stick out of the viewport, for a readable failure; empty when nothing does.
OVERFLOW = """() => {
  const root = document.scrollingElement;
  if (root.scrollWidth <= window.innerWidth) return [];
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.right > window.innerWidth + 0.5 && box.width > 0) {
      const classes = typeof el.className === 'string' ? el.className.trim() : '';
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
        (classes ? '.' + classes.split(/\\s+/).join('.') : '') + ' right=' + Math.round(box.right));
    }
  }
  return ['scrollWidth ' + root.scrollWidth + ' > ' + window.innerWidth, ...wide.slice(0, 8)];
}"""


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    """The conftest's checks, shared by the module: the Nu HTML checker (Java) starts only once,
    after the last test, on every page saved here; its errors show as that test's teardown error.
    """
    checker = PageChecks(tmp_path_factory.mktemp("pages-html"))
    yield checker
    checker.validate_html()


def sign_in(page, email: str) -> None:
    """Through the sign-in form, as a person would."""
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    pass_two_factor(page, email)
    expect(page.locator(".flashes")).to_contain_text("Welcome")


def first_idea_path(page) -> str:
    page.goto("/")
    return page.locator(".idea-card__title a").first.get_attribute("href")


def tour(page, checks, role: str, pages: list[tuple[str, str]]) -> None:
    """Each page at both widths: no sideways scroll, axe, a screenshot (the HTML checker runs
    once for the module). Problems are gathered over the tour, so one run lists every failure.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for name, path in pages:
        page.set_viewport_size({"width": WIDTHS[0], "height": 800})
        response = page.goto(path)
        assert response is not None and response.ok, f"{role} {name}: {path} answered {response}"
        shown = urlsplit(page.url).path
        assert shown == urlsplit(path).path, f"{role} {name}: {path} sent to {shown}"
        assert page.locator("link[rel=icon]").count() == 1, f"{role} {name}: no favicon link"
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            label = f"{role}-{name}-{width}"
            overflow = page.evaluate(OVERFLOW)
            if overflow:
                problems.append(f"{label} scrolls sideways: " + "; ".join(overflow))
            try:
                checks.check(page, label)
            except AssertionError as exc:
                problems.append(str(exc))
            page.screenshot(path=str(SCREENSHOTS / f"{label}.png"), full_page=True)
    assert not problems, "\n".join(problems)
    for name, _path in pages:
        for width in WIDTHS:
            assert (SCREENSHOTS / f"{role}-{name}-{width}.png").stat().st_size > 1000


# --- Every main page, per role ---------------------------------------------------------------


def test_anonymous_pages(page, checks):
    idea = first_idea_path(page)
    page.goto("/shipped")
    release = page.locator(".changelog .release__title a").first.get_attribute("href")
    tour(
        page,
        checks,
        "anonymous",
        [
            ("home", "/"),
            ("idea", idea),
            ("search-results", "/search?q=report"),
            ("search-none", "/search?q=zyxwvutsrq"),
            ("roadmap", "/roadmap"),
            ("roadmap-by-timeframe", "/roadmap?by=timeframe"),
            ("shipped", "/shipped"),
            ("release", release),
            ("guidelines", "/guidelines"),
            ("api-reference", "/api"),
            ("sign-in", "/sign-in"),
            ("sign-up", "/sign-up"),
            ("forgot-password", "/password/forgot"),
        ],
    )
    page.goto("/search?q=report")
    assert page.locator(".search-results > li").count() >= 1
    page.goto("/search?q=zyxwvutsrq")
    expect(page.locator(".empty")).to_contain_text("Nothing matches")


def test_customer_pages(page, checks, site):
    idea = first_idea_path(page)
    sign_in(page, site.people["customer"])
    tour(
        page,
        checks,
        "customer",
        [
            ("my-ideas", "/my-ideas"),
            ("notifications", "/notifications"),
            ("account", "/account"),
            ("email-settings", "/account/email"),
            ("my-data", "/account/my-data"),
            ("delete-account", "/account/delete"),
            ("new-idea", "/ideas/new"),
            ("report", f"{idea}/report"),
        ],
    )


def test_product_manager_pages(page, checks, site):
    idea = first_idea_path(page)
    sign_in(page, site.people["product_manager"])
    tour(
        page,
        checks,
        "product_manager",
        [
            ("triage", "/team/triage"),
            ("priority", "/team/priority"),
            ("dashboard", "/team/dashboard"),
            ("idea-team-panel", idea),
            ("organisations", "/organisations"),
            ("releases", "/team/releases"),
            ("release-new", "/team/releases/new"),
        ],
    )
    page.goto(idea)
    expect(page.locator(".team-panel")).to_be_visible()


def test_admin_pages(page, checks, site):
    sign_in(page, site.people["admin"])
    page.goto("/admin/users")
    person = page.locator("main a[href^='/admin/users/']").first.get_attribute("href")
    assert re.fullmatch(r"/admin/users/\d+", person), person
    tour(
        page,
        checks,
        "admin",
        [
            ("people", "/admin/users"),
            ("person", person),
            ("moderation", "/admin/moderation"),
            ("settings", "/admin/settings"),
            ("categories", "/admin/settings/categories"),
            ("organisations", "/admin/settings/organisations"),
            ("stages", "/admin/stages"),
            ("roadmap-settings", "/admin/settings/roadmap"),
            ("outbox", "/admin/outbox"),
            ("audit-log", "/admin/audit"),
        ],
    )


def test_admin_webhook_pages(page, checks, site):
    """An admin adds a webhook with the forms alone, then each webhook page is toured."""
    sign_in(page, site.people["admin"])
    page.goto("/admin/webhooks")
    page.get_by_label("Hosts allowed on the local network").fill("127.0.0.1")
    page.get_by_role("button", name="Save hosts").click()
    expect(page.locator(".flashes")).to_contain_text("saved")
    page.goto("/admin/webhooks/new")
    page.get_by_label("Address (URL)").fill("http://127.0.0.1:9/a-rather-long-path/for/the/hook")
    page.get_by_label("Description").fill("Product channel")
    page.get_by_label("Slack incoming webhook").check()
    for box in page.locator("input[name=events]").all():
        box.uncheck()
    page.locator("input[name=events][value='outcome.answered']").check()
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator(".flashes")).to_contain_text("Webhook added")
    endpoint = urlsplit(page.url).path
    assert re.fullmatch(r"/admin/webhooks/\d+", endpoint), endpoint
    tour(
        page,
        checks,
        "admin",
        [
            ("webhooks", "/admin/webhooks"),
            ("webhook-new", "/admin/webhooks/new"),
            ("webhook", endpoint),
        ],
    )


# --- The design system -----------------------------------------------------------------------


def _luminance(css_colour: str) -> float:
    red, green, blue = (int(part) for part in re.findall(r"\d+", css_colour)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def test_dark_theme_follows_the_system_and_keeps_contrast(new_context, site, checks):
    light = new_context(color_scheme="light").new_page()
    light.goto("/")
    dark = new_context(color_scheme="dark").new_page()
    dark.goto("/")
    background = "getComputedStyle(document.body).backgroundColor"
    text = "getComputedStyle(document.body).color"
    assert _luminance(light.evaluate(background)) > 0.8
    assert _luminance(dark.evaluate(background)) < 0.2
    assert _luminance(dark.evaluate(text)) > 0.8
    idea = dark.locator(".idea-card__title a").first.get_attribute("href")
    for name, path in [("home", "/"), ("idea", idea), ("roadmap", "/roadmap")]:
        dark.goto(path)
        checks.check(dark, f"dark {name}")
    # The error colours too: an empty sign-in form, then a signed-in team page with badges.
    dark.goto("/sign-in")
    dark.get_by_role("button", name="Sign in").click()
    expect(dark.locator(".field__error").first).to_be_visible()
    checks.check(dark, "dark sign-in errors")
    sign_in(dark, site.people["product_manager"])
    checks.check(dark, "dark flash")
    for name, path in [("triage", "/team/triage"), ("idea with team panel", idea)]:
        dark.goto(path)
        checks.check(dark, f"dark {name}")


def test_keyboard_focus_is_always_visible(page):
    page.goto("/")
    skip = page.get_by_role("link", name="Skip to main content")
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0, "the skip link stays off screen when focused"
    seen = set()
    for _ in range(12):
        focused = page.evaluate(
            """() => {
              const el = document.activeElement, style = getComputedStyle(el);
              return {tag: el.tagName, text: (el.innerText || el.value || el.name || '').trim(),
                      visible: el.matches(':focus-visible'), outline: style.outlineStyle,
                      width: parseFloat(style.outlineWidth)};
            }"""
        )
        seen.add(focused["tag"])
        assert focused["visible"], focused
        assert focused["outline"] != "none" and focused["width"] >= 2, focused
        page.keyboard.press("Tab")
    assert {"A", "INPUT", "BUTTON"} <= seen, seen


def test_favicon_is_served(page):
    page.goto("/guidelines")
    href = page.locator("link[rel=icon]").get_attribute("href")
    response = page.request.get(href)
    assert response.ok
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in response.body()


def test_new_customer_sees_what_to_do_next_and_a_welcome(page, checks, site):
    sign_in(page, site.new_customer())
    flash = page.locator(".flashes")
    expect(flash).to_have_attribute("role", "status")
    expect(flash.locator(".flash--success")).to_have_text("Welcome, Nadia New.")
    checks.check(page, "flash after sign-in")
    page.reload()
    expect(page.locator(".flashes")).to_have_count(0)  # shown once

    page.goto("/my-ideas")
    empties = page.locator("main .empty")
    expect(empties).to_have_count(3)
    for index in range(3):
        empty = empties.nth(index)
        expect(empty.get_by_role("link", name="Browse ideas")).to_have_attribute("href", "/")
        expect(empty.get_by_role("link", name="share one")).to_have_attribute("href", "/ideas/new")
    checks.check(page, "empty my ideas")

    page.goto("/notifications")
    empty = page.locator("main .empty")
    expect(empty).to_contain_text("Follow ideas")
    expect(empty.get_by_role("link")).to_have_attribute("href", "/")
    expect(page.get_by_role("button", name="Mark all as read")).to_have_count(0)
    checks.check(page, "empty notifications")


def test_empty_new_idea_form_shows_errors_next_to_the_fields(page, checks, site):
    sign_in(page, site.people["customer"])
    page.goto("/ideas/new")
    page.get_by_role("button", name="Post idea").click()
    summary = page.locator(".form-errors")
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_contain_text("Please correct the problems marked below")
    for label in ("Title", "Problem"):
        field = page.locator(".field").filter(has=page.get_by_label(label, exact=False)).first
        control = field.locator(".field__input")
        expect(control).to_have_attribute("aria-invalid", "true")
        error = field.locator(".field__error")
        expect(error).to_be_visible()
        assert error.get_attribute("id") in control.get_attribute("aria-describedby").split()
    assert page.url.endswith("/ideas/new")  # nothing posted
    checks.check(page, "new idea errors")


def test_vote_button_shows_it_is_working_while_the_request_is_in_flight(page, site):
    sign_in(page, site.people["customer"])
    page.goto("/")
    action = page.locator("form.vote").first.get_attribute("action")
    button = page.locator(f"form.vote[action='{action}'] button")
    was_voted = button.get_attribute("aria-pressed") == "true"
    before = int(button.locator(".vote__count").inner_text())
    page.evaluate("window.stillTheSamePage = true")

    held = []  # the vote requests, kept waiting until the checks below are done
    page.route(f"**{action}", lambda route: held.append(route))
    try:
        button.click()
        expect(button).to_have_attribute("aria-busy", "true")
        expect(button).to_have_class(re.compile(r"\bis-working\b"))
        assert float(button.evaluate("b => getComputedStyle(b).opacity")) < 1
        assert len(held) == 1
        assert held[0].request.resource_type == "fetch"
        assert held[0].request.headers["accept"] == "application/json"
        button.click()  # a second press while the first is in flight is ignored
        page.wait_for_timeout(100)
        assert len(held) == 1
    finally:
        while held:  # never leave a request hanging, or closing the page waits for it
            held.pop().continue_()
    expect(button).not_to_have_attribute("aria-busy", "true")
    expect(button).to_have_attribute("aria-pressed", "false" if was_voted else "true")
    after = before - 1 if was_voted else before + 1
    expect(button.locator(".vote__count")).to_have_text(str(after))
    assert "is-working" not in (button.get_attribute("class") or "")
    assert page.evaluate("window.stillTheSamePage === true"), "the vote reloaded the page"
