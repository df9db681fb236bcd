"""The three journeys of issue 7, walked in Chromium against the real app under gunicorn.

1. A visitor signs up, confirms the address from the email, shares an idea (seeing similar ideas
   first), votes on another, comments, follows a third and finds it all on "My ideas": with
   JavaScript, without it, and with the keyboard alone.
2. A product manager works the triage queue, merges a duplicate, moves an idea with a note and
   marks an official response; the customer sees the notifications and says whether the outcome
   met the need.
3. A customer reports a comment; an admin hides it and suspends its author, whose next request
   is signed out.

Every page a journey shows goes through axe-core as it is shown, and through the Nu HTML checker
at the end of the test.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import PASSWORD, known_code

pytestmark = pytest.mark.slow

# Demo data (portal/demo.py) the journeys lean on.
EXCEL_IDEA = "Export reports to Excel with formatting"
VOTED_IDEA = "Dark mode for the dashboard"
FOLLOWED_IDEA = "Single sign-on with Azure AD"
WEBHOOK_IDEA = "Webhook when an invoice is paid"
REPORTED_IDEA = "Two-factor authentication with hardware keys"
AUTHOR_OF_DUPLICATE = "lena@freelance.example"
TROLL = ("george@initech.example", "George Papadopoulos")
REPORTER = "hana@initech.example"

EMAIL_WAIT_SECONDS = 15


# --- Hands: the same journey done with the mouse or with the keyboard alone ----------------------


class Mouse:
    """Pointer and form filling, as most people do it."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def press(self, target: Locator) -> None:
        target.click()

    def type(self, target: Locator, text: str) -> None:
        target.press_sequentially(text, delay=15)  # key by key, so scripts see every input

    def fill(self, target: Locator, text: str) -> None:
        target.fill(text)

    def tick(self, target: Locator) -> None:
        target.check()

    def choose(self, target: Locator, label: str) -> None:
        target.select_option(label=label)


class Keyboard:
    """Only page.keyboard: Tab and Shift+Tab to move, Enter and Space to act, and typing.

    Each control is reached by tabbing (never by focusing it from a script), and must show where
    the focus is when it gets there.
    """

    def __init__(self, page: Page) -> None:
        self.page = page

    def focus(self, target: Locator, *, limit: int = 150) -> None:
        handle = target.element_handle()
        for _ in range(limit):
            where = handle.evaluate(
                """el => {
                    const active = document.activeElement;
                    if (el === active) return "here";
                    if (!active || active === document.body) return "Tab";
                    // The target lies after the focused element: forwards; else backwards.
                    return active.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING
                        ? "Tab" : "Shift+Tab";
                }"""
            )
            if where == "here":
                break
            self.page.keyboard.press(where)
        else:
            pytest.fail(f"Tab never reached {target}")
        shown = handle.evaluate(
            """el => {
                const style = getComputedStyle(el);
                const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
                return el.matches(":focus-visible") && (outline || style.boxShadow !== "none");
            }"""
        )
        assert shown, f"no visible focus on {handle.evaluate('el => el.outerHTML')[:200]}"

    def press(self, target: Locator) -> None:
        self.focus(target)
        kind = target.evaluate("el => el.tagName === 'BUTTON' ? 'button' : 'other'")
        # Buttons answer both keys; use Space on them, as people do, and Enter on links.
        self.page.keyboard.press("Space" if kind == "button" else "Enter")

    def type(self, target: Locator, text: str) -> None:
        self.focus(target)
        self.page.keyboard.type(text, delay=15)

    def fill(self, target: Locator, text: str) -> None:
        self.focus(target)
        self.page.keyboard.press("Control+a")
        self.page.keyboard.type(text)

    def tick(self, target: Locator) -> None:
        self.focus(target)
        self.page.keyboard.press("Space")
        expect(target).to_be_checked()

    def choose(self, target: Locator, label: str) -> None:
        self.focus(target)
        self.page.keyboard.type(label)  # a closed list jumps to the option typed
        expect(target.locator("option:checked")).to_have_text(label)


# --- Shared steps ---------------------------------------------------------------------------------


def _verification_link(site, address: str) -> str:
    """The confirmation link from the email, which arrives from a background thread."""
    deadline = time.monotonic() + EMAIL_WAIT_SECONDS
    while time.monotonic() < deadline:
        for message in site.emails_to(address):
            body = message.get_body(preferencelist=("plain",)).get_content()
            match = re.search(r"https?://\S+/confirm/\S+", body)
            if match:
                return match.group(0)
        time.sleep(0.2)
    pytest.fail(f"no confirmation email to {address} within {EMAIL_WAIT_SECONDS} s")


def _visit(page: Page, checks, target: Locator, label: str) -> None:
    """Click what loads a page, wait until it has loaded, and check it."""
    with page.expect_navigation(wait_until="load"):
        target.click()
    checks.check(page, label)


def _signed_in(new_context, email: str) -> Page:
    """A browser already signed in as one of the demo people, for journeys that start there.

    The sign-in form is posted by the context's own HTTP client, which shares the browser's
    cookies; signing in through the page itself is journey 1's business (and journey 3's end).
    """
    context = new_context()
    form = context.request.get("/sign-in").text()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token, "no CSRF token on the sign-in page"
    answer = context.request.post(
        "/sign-in", form={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    if urlsplit(answer.url).path == "/sign-in/two-factor":  # an admin: a code from their app
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', answer.text())
        assert token, "no CSRF token on the two-factor page"
        answer = context.request.post(
            "/sign-in/two-factor",
            form={"code": known_code(answer.url, email), "csrf_token": token.group(1)},
        )
    assert answer.ok and "Welcome" in answer.text(), f"{email} could not sign in"
    return context.new_page()


def _nav(page: Page, name: str | re.Pattern) -> Locator:
    """A link of the header's navigation: the places (Main) or the person's own (Account)."""
    return page.get_by_role("banner").get_by_role("link", name=name, exact=True)


def _flash(page: Page) -> Locator:
    return page.locator(".flashes")


def _idea_id(page: Page) -> int:
    match = re.search(r"/ideas/(\d+)", page.url)
    assert match, page.url
    return int(match.group(1))


class ScriptlessChecks:
    """The checks for a context with JavaScript off, where axe-core cannot run: its timers never
    fire there. Each page is checked as a copy, served under its own address to a page that
    runs scripts: the same markup, styles and URL.
    """

    def __init__(self, checks, mirror: Page) -> None:
        self.checks = checks
        self.mirror = mirror
        self.html = ""
        mirror.route("**/*", self._serve)

    def _serve(self, route) -> None:
        if route.request.resource_type == "document":
            route.fulfill(body=self.html, content_type="text/html; charset=utf-8")
        else:
            route.continue_()

    def check(self, page: Page, label: str) -> None:
        self.html = page.content()
        self.mirror.goto(page.url.split("#")[0])
        self.checks.check(self.mirror, label)


# --- Journey 1: a visitor becomes a customer -----------------------------------------------------


@dataclass
class Variant:
    name: str
    javascript: bool
    keyboard: bool


VARIANTS = [
    Variant("javascript", javascript=True, keyboard=False),
    Variant("no-javascript", javascript=False, keyboard=False),
    Variant("keyboard", javascript=True, keyboard=True),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_visitor_signs_up_shares_an_idea_votes_comments_follows_and_sees_it_all(
    site, new_context, checks, variant
):
    _visitor_journey(site, new_context, checks, variant)
    checks.validate_html()


def _visitor_journey(site, new_context, checks, variant: Variant) -> None:
    page = new_context(java_script_enabled=variant.javascript).new_page()
    if not variant.javascript:
        checks = ScriptlessChecks(checks, new_context().new_page())
    hands = Keyboard(page) if variant.keyboard else Mouse(page)
    email = f"visitor-{variant.name}@example.org"
    name = f"Visitor {variant.name.title()}"
    title = f"Excel export of the audit log for {variant.name} people"

    def act(target: Locator, label: str) -> None:
        """Press a link or button that loads a page, wait for it, and check it."""
        with page.expect_navigation(wait_until="load"):
            hands.press(target)
        checks.check(page, f"{variant.name}: {label}")

    # Sign up from the home page; the address is confirmed from the email's link.
    page.goto("/")
    checks.check(page, f"{variant.name}: home")
    act(_nav(page, "Sign up"), "sign-up")
    hands.fill(page.get_by_label("Email address"), email)
    hands.fill(page.get_by_label("Display name"), name)
    hands.fill(page.get_by_label("Password", exact=True), PASSWORD)
    hands.tick(page.get_by_label("I have read the community guidelines"))
    act(page.get_by_role("button", name="Create account"), "check your email")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.get_by_text(email)).to_be_visible()

    page.goto(_verification_link(site, email))  # as if opened from the mail program
    checks.check(page, f"{variant.name}: confirm email")
    act(page.get_by_role("button", name="Confirm and sign in"), "confirmed")
    expect(_flash(page)).to_contain_text(f"Your email address is confirmed. Welcome, {name}!")
    expect(_nav(page, "My ideas")).to_be_visible()

    # Share an idea: similar ideas are offered before anything is saved.
    act(page.get_by_role("link", name="Share an idea"), "share an idea")
    if variant.keyboard:
        # The first Tab shows the skip link, which jumps past the header to the content.
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to main content")
        expect(skip).to_be_focused()
        expect(skip).to_be_in_viewport()
        hands.press(skip)
        expect(page.locator("main")).to_be_focused()
    suggestions = page.locator("#similar-ideas")
    expect(suggestions).to_be_empty()
    title_box = page.get_by_label("Title")
    hands.type(title_box, title[:4])  # "Exce"
    if variant.javascript:
        # The suggestions region follows the title while it is typed.
        expect(suggestions.get_by_role("link", name=EXCEL_IDEA)).to_be_visible()
        checks.check(page, f"{variant.name}: similar ideas while typing")
    hands.type(title_box, title[4:])
    if variant.javascript:
        expect(suggestions.get_by_role("link", name=EXCEL_IDEA)).to_be_visible()
    else:
        expect(suggestions).to_be_empty()
    hands.fill(
        page.get_by_label("What problem does it solve for you?"),
        f"Auditors ask for the audit log as a spreadsheet every quarter ({variant.name}).",
    )
    hands.choose(page.get_by_label("Category"), "Reporting")
    act(page.get_by_role("button", name="Post idea"), "confirm similar ideas")
    confirm = page.get_by_role("region", name="Is it one of these?")
    if not variant.javascript:
        expect(confirm).to_be_visible()  # without scripts, this is where duplicates show
    if confirm.count():
        expect(confirm.get_by_role("link", name=EXCEL_IDEA)).to_be_visible()
        expect(title_box).to_have_value(title)  # nothing typed is lost
        act(page.get_by_role("button", name="Post anyway"), "my new idea")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(_flash(page)).to_contain_text("Your idea is posted")
    mine_id = _idea_id(page)

    # Vote on someone else's idea, and comment on it.
    act(_nav(page, "Ideas"), "ideas")
    act(page.get_by_role("link", name=VOTED_IDEA, exact=True), "idea to vote on")
    vote = page.locator("form.vote button")
    expect(vote).to_have_attribute("aria-pressed", "false")
    before = int(vote.locator(".vote__count").inner_text())
    if variant.javascript:
        page.evaluate("window.stillTheSamePage = true")
        hands.press(vote)  # updated in place, no page load
        expect(vote).to_have_attribute("aria-pressed", "true")
        assert page.evaluate("window.stillTheSamePage === true"), "the vote reloaded the page"
    else:
        act(vote, "voted")
    expect(vote).to_have_attribute("aria-pressed", "true")
    expect(vote.locator(".vote__count")).to_have_text(str(before + 1))
    expect(vote.locator(".vote__label")).to_contain_text("Voted")
    if variant.javascript:
        checks.check(page, f"{variant.name}: voted")

    comment = f"We need this for the night shift too ({variant.name})."
    hands.fill(page.get_by_label("Your comment"), comment)
    act(page.get_by_role("button", name="Post comment"), "commented")
    expect(_flash(page)).to_contain_text("Your comment is posted.")
    expect(page.locator("#conversation .comment", has_text=comment)).to_contain_text(name)

    # Find a third idea through the search box and follow it.
    hands.fill(page.get_by_role("searchbox", name="Search ideas"), "sign-on Azure")
    act(page.get_by_role("button", name="Search", exact=True), "search")
    act(page.get_by_role("link", name=FOLLOWED_IDEA), "idea to follow")
    act(page.get_by_role("button", name="Follow", exact=True), "followed")
    expect(_flash(page)).to_contain_text("You follow this idea")
    expect(page.get_by_role("button", name="Following")).to_have_attribute("aria-pressed", "true")

    # "My ideas" has all of it.
    act(_nav(page, "My ideas"), "my ideas")
    submitted = page.get_by_role("region", name="Ideas I submitted")
    voted = page.get_by_role("region", name="Ideas I voted for")
    following = page.get_by_role("region", name="Ideas I follow")
    expect(submitted.get_by_role("link")).to_have_text([title])
    expect(submitted.get_by_role("link")).to_have_attribute("href", f"/ideas/{mine_id}")
    expect(voted.get_by_role("link")).to_have_count(2)
    for voted_for in (title, VOTED_IDEA):
        expect(voted.get_by_role("link", name=voted_for, exact=True)).to_be_visible()
    for followed in (title, VOTED_IDEA, FOLLOWED_IDEA):
        expect(following.get_by_role("link", name=followed, exact=True)).to_be_visible()


# --- Journey 2: the product team answers, and the customer closes the loop -----------------------


def test_product_manager_triages_and_the_customer_says_whether_it_met_the_need(
    site, new_context, checks
):
    # A customer posts what turns out to be a duplicate of the webhook idea.
    customer = _signed_in(new_context, AUTHOR_OF_DUPLICATE)
    duplicate = "Tell my accounting tool when an invoice is paid"
    customer.goto("/ideas/new")
    checks.check(customer, "customer: share an idea")
    customer.get_by_label("Title").fill(duplicate)
    customer.get_by_label("What problem does it solve for you?").fill(
        "I copy every paid invoice into my books by hand at the end of the week."
    )
    customer.get_by_label("Category").select_option(label="Integrations")
    post = customer.get_by_role("button", name="Post idea")
    _visit(customer, checks, post, "customer: confirm similar ideas")
    expect(customer.get_by_role("region", name="Is it one of these?")).to_contain_text(WEBHOOK_IDEA)
    post_anyway = customer.get_by_role("button", name="Post anyway")
    _visit(customer, checks, post_anyway, "customer: duplicate posted")
    expect(customer.get_by_role("heading", level=1)).to_have_text(duplicate)

    # The product manager works the queue, where both ideas await a first answer.
    pm = _signed_in(new_context, site.people["product_manager"])
    pm.goto("/team/triage")
    checks.check(pm, "pm: triage")
    awaiting = pm.get_by_role("region", name=re.compile(r"^Awaiting a first answer"))
    webhook_link = awaiting.get_by_role("link", name=WEBHOOK_IDEA)
    found = re.search(r"/ideas/(\d+)", webhook_link.get_attribute("href"))
    assert found, webhook_link.get_attribute("href")
    webhook_id = int(found.group(1))

    # The duplicate is merged into the idea it repeats, found by searching its title...
    _visit(pm, checks, awaiting.get_by_role("link", name=duplicate), "pm: the duplicate")
    pm.get_by_label("Find the idea to keep").fill("webhook invoice")
    _visit(pm, checks, pm.get_by_role("button", name="Find the idea to keep"), "pm: merge search")
    candidate = pm.locator("#merge-results .merge-candidate", has_text=WEBHOOK_IDEA).first
    _visit(pm, checks, candidate.get_by_role("link", name="Merge into this one"), "pm: confirm")
    pm.get_by_label("Note to everyone following this duplicate").fill(
        "Same need as the webhook idea: your vote and follow moved there."
    )
    _visit(pm, checks, pm.get_by_role("button", name="Merge and notify followers"), "pm: merged")
    expect(_flash(pm)).to_contain_text("Merged.")
    expect(pm.get_by_role("heading", level=1)).to_have_text(WEBHOOK_IDEA)
    assert _idea_id(pm) == webhook_id

    # ...which is moved to Shipped with a note, and gets an official response.
    pm.get_by_label("Move to").select_option(label="Shipped")
    pm.get_by_label("Note to everyone following", exact=True).fill(
        "Shipped in 4.3: Settings → Webhooks → Invoice paid."
    )
    move = pm.get_by_role("button", name="Move and notify followers")
    _visit(pm, checks, move, "pm: moved to shipped")
    expect(_flash(pm)).to_contain_text("Moved.")
    expect(pm.locator(".idea .badge--stage").first).to_have_text("Shipped")

    answer = "The webhook signs each call; the docs show how to check the signature."
    pm.get_by_label("Your comment").fill(answer)
    _visit(pm, checks, pm.get_by_role("button", name="Post comment"), "pm: commented")
    expect(_flash(pm)).to_contain_text("Your comment is posted.")
    mark = pm.locator("#conversation .comment", has_text=answer).get_by_role(
        "button", name="Mark as official response"
    )
    _visit(pm, checks, mark, "pm: official response")
    expect(_flash(pm)).to_contain_text("Marked as the official response")
    official = pm.get_by_role("region", name=re.compile("^Official response from Priya"))
    expect(official).to_contain_text(answer)

    # Both have left the queue of ideas awaiting an answer.
    _visit(pm, checks, _nav(pm, "Triage"), "pm: triage after")
    awaiting = pm.get_by_role("region", name=re.compile(r"^Awaiting a first answer"))
    expect(awaiting.get_by_role("link", name=WEBHOOK_IDEA)).to_have_count(0)
    expect(awaiting.get_by_role("link", name=duplicate)).to_have_count(0)

    # The customer now follows the kept idea, hears of each step, and judges the outcome.
    customer.goto("/")
    checks.check(customer, "customer: home")
    notifications = _nav(customer, re.compile(r"^Notifications \d+ unread$"))
    _visit(customer, checks, notifications, "customer: notifications")
    items = customer.locator(".notification")
    expect(items.filter(has_text="was merged into another idea")).to_have_count(1)
    # Grouped by idea: the kept idea's news sits under its title.
    kept = customer.locator("section.notification-group").filter(
        has=customer.get_by_role("heading", name=WEBHOOK_IDEA)
    )
    kept_items = kept.locator(".notification")
    # Closing it is one message, not two: the outcome question (no separate stage change).
    expect(kept_items.filter(has_text="moved to a new stage")).to_have_count(0)
    expect(kept_items.filter(has_text="The team gave an official response")).to_have_count(1)
    question = kept_items.filter(has_text="Did the outcome meet your need?")
    tell_us = question.get_by_role("link", name="Tell us")
    _visit(customer, checks, tell_us, "customer: outcome question")
    outcome = customer.get_by_role("region", name="Did this meet your need?")
    outcome.get_by_label("Anything to add?").fill("Works with my bookkeeping tool.")
    _visit(customer, checks, outcome.get_by_role("button", name="Yes"), "customer: answered")
    expect(_flash(customer)).to_contain_text("Thank you. Your answer goes straight to the product")
    expect(outcome).to_contain_text("You answered Yes")

    # The team sees the verdict on the idea.
    pm.goto(f"/ideas/{webhook_id}")
    checks.check(pm, "pm: verdicts")
    expect(pm.locator(".verdicts")).to_contain_text("1 answer")
    expect(pm.locator(".verdicts")).to_contain_text("Works with my bookkeeping tool.")
    checks.validate_html()


# --- Journey 3: moderation ------------------------------------------------------------------------


def test_admin_hides_a_reported_comment_and_suspends_its_author_who_is_signed_out(
    site, new_context, checks
):
    troll_email, troll_name = TROLL
    abuse = "Whoever wants this is an idiot and should be fired."

    troll = _signed_in(new_context, troll_email)
    troll.goto("/search?q=hardware+keys")
    checks.check(troll, "troll: search")
    _visit(troll, checks, troll.get_by_role("link", name=REPORTED_IDEA), "troll: idea")
    idea_path = troll.url.removeprefix(site.url)
    troll.get_by_label("Your comment").fill(abuse)
    _visit(troll, checks, troll.get_by_role("button", name="Post comment"), "troll: commented")
    expect(_flash(troll)).to_contain_text("Your comment is posted.")

    # Another customer reports it.
    reporter = _signed_in(new_context, REPORTER)
    reporter.goto(idea_path)
    checks.check(reporter, "reporter: idea")
    report_link = reporter.locator(".comment", has_text=abuse).get_by_role("link", name="Report")
    _visit(reporter, checks, report_link, "reporter: report form")
    reporter.get_by_label("Abusive, harassing or hateful").check()
    reporter.get_by_label("Anything the moderators should know?").fill("Insults another customer.")
    send = reporter.get_by_role("button", name="Send the report")
    _visit(reporter, checks, send, "reporter: reported")
    expect(_flash(reporter)).to_contain_text("Thank you for telling us.")

    # The admin finds it in the moderation queue and hides it.
    admin = _signed_in(new_context, site.people["admin"])
    admin.goto("/admin/moderation")
    checks.check(admin, "admin: moderation")
    admin_nav = admin.get_by_role("navigation", name="Administration")
    report = admin.locator(".moderation-item", has_text=abuse)
    expect(report).to_contain_text("1 person reported this comment")
    expect(report).to_contain_text("Abusive, harassing or hateful")
    _visit(admin, checks, report.get_by_role("link", name="Hide…"), "admin: hide comment")
    expect(admin.get_by_label("Reason")).not_to_have_value("")  # prefilled from the report
    hide = admin.get_by_role("button", name="Hide the comment")
    _visit(admin, checks, hide, "admin: comment hidden")
    expect(_flash(admin)).to_contain_text("The comment is hidden")

    reporter.reload()
    checks.check(reporter, "reporter: idea without the comment")
    expect(reporter.get_by_text(abuse)).to_have_count(0)

    # ...and suspends the person who wrote it.
    _visit(admin, checks, admin_nav.get_by_role("link", name="People"), "admin: people")
    people_search = admin.get_by_role("search", name="Find people")
    people_search.get_by_label("Name or email").fill(troll_email)
    search = people_search.get_by_role("button", name="Search")
    _visit(admin, checks, search, "admin: people search")
    _visit(admin, checks, admin.get_by_role("link", name=troll_name), "admin: person")
    suspension = admin.get_by_role("region", name="Suspension")
    suspension.get_by_label("Reason").fill("Insulting other customers, after a warning.")
    _visit(admin, checks, suspension.get_by_role("button", name="Suspend"), "admin: suspended")
    expect(_flash(admin)).to_contain_text(f"{troll_name} is suspended and signed out everywhere.")
    expect(admin.get_by_role("region", name="About")).to_contain_text("Suspended")

    # The suspended person's very next request is signed out, and signing in again is refused.
    troll.reload()
    checks.check(troll, "troll: signed out")
    expect(_nav(troll, "Sign in")).to_be_visible()
    expect(troll.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(troll.get_by_text(abuse)).to_have_count(0)
    _visit(troll, checks, _nav(troll, "Sign in"), "troll: sign-in again")
    troll.get_by_label("Email address").fill(troll_email)
    troll.get_by_label("Password", exact=True).fill(PASSWORD)
    refused = troll.get_by_role("button", name="Sign in")
    _visit(troll, checks, refused, "troll: sign-in refused")
    expect(troll.get_by_role("alert")).to_contain_text("This account is suspended")
    expect(_nav(troll, "Sign in")).to_be_visible()
    checks.validate_html()
