"""Issue 17 in Chromium: an admin makes a private board for one organisation; a customer of
another organisation finds nothing of it anywhere, while that organisation's people see it and
vote. Then widening it (with the review before saving), inviting a newcomer by email, and a
product manager moving an idea into and out of a private board. With JavaScript and without, at
1280 and 375 px; README pictures go to docs/screenshots/boards/.

One served site for the module, of its own: these journeys change who sees what, which the
other browser journeys must not meet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, PageChecks, Site, pass_two_factor, serve_demo_site
from tests.browser.test_journeys import ScriptlessChecks
from tests.browser.test_pages import OVERFLOW
from tests.browser.test_touch_mail import _link_in_email
from tests.servers import ROOT

pytestmark = pytest.mark.slow

OUT = ROOT / "docs" / "screenshots" / "boards"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
ADMIN = "admin@portal.example"
PM = "priya.pm@portal.example"
ORGANISATION = "Globex Logistics"
# Per run (with and without JavaScript): an insider of the organisation and an outsider, so the
# runs do not meet each other's votes and notifications.
INSIDER = {True: "dmitri@globex.example", False: "emma@globex.example"}
OUTSIDER = {True: "george@initech.example", False: "hana@initech.example"}
JS = [True, False]
JS_IDS = ["with-js", "without-js"]


@pytest.fixture(scope="module")
def boards_site(tmp_path_factory) -> Iterator[Site]:
    with serve_demo_site(
        tmp_path_factory.mktemp("boards-journeys"), "boards-journeys", FORM_MIN_SECONDS="0"
    ) as served:
        yield served


@pytest.fixture(scope="module")
def page_checks(tmp_path_factory) -> Iterator[PageChecks]:
    """axe on each page as it is shown; the HTML checker once for the module (a Java start
    per test would cost more than the journeys)."""
    checker = PageChecks(tmp_path_factory.mktemp("boards-journeys-pages"))
    yield checker
    checker.validate_html()


class _Labelled:
    """The checks, with each page's label naming the run, so no page hides another's."""

    def __init__(self, checks, run: str) -> None:
        self.checks = checks
        self.run = run

    def check(self, page: Page, label: str) -> None:
        self.checks.check(page, f"{self.run}: {label}")


class Person:
    """One browser context, signed in (or not) as someone."""

    def __init__(self, browser: Browser, site: Site, *, javascript: bool = True) -> None:
        self.context = browser.new_context(
            base_url=site.url,
            viewport=DESKTOP,
            java_script_enabled=javascript,
            color_scheme="light",
            reduced_motion="reduce",
        )
        self.page = self.context.new_page()

    def sign_in(self, email: str, password: str = PASSWORD) -> Page:
        page = self.page
        page.goto("/sign-in")
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        pass_two_factor(page, email)
        expect(page.locator(".flashes")).to_contain_text("Welcome")
        return page


def _checks(browser: Browser, site: Site, checks: PageChecks, javascript: bool):
    if javascript:
        return _Labelled(checks, "with JS")
    # axe cannot run with scripts off (it hangs): a copy of each page is checked instead.
    return _Labelled(ScriptlessChecks(checks, Person(browser, site).page), "without JS")


def _shoot(page: Page, name: str, *, phone_too: bool = True, full_page: bool = True) -> None:
    """README pictures at 1280 and 375 px, each proven free of sideways scroll."""
    OUT.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    sizes = [(DESKTOP, "1280"), (PHONE, "375")] if phone_too else [(DESKTOP, "1280")]
    for size, width in sizes:
        page.set_viewport_size(size)
        overflow = page.evaluate(OVERFLOW)
        assert not overflow, f"{name} at {width} px scrolls sideways: " + "; ".join(overflow)
        page.screenshot(
            path=str(OUT / f"{name}-{width}.png"), full_page=full_page, animations="disabled"
        )
    page.set_viewport_size(DESKTOP)


def _no_sideways_scroll(page: Page, label: str) -> None:
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        overflow = page.evaluate(OVERFLOW)
        assert not overflow, f"{label} at {size['width']} px scrolls sideways: " + "; ".join(
            overflow
        )


# Made-up place names nothing in the demo contains, one a run, for searching; fixed, so the
# README pictures come out the same each time (the module's site is its own, fresh each run).
WORDS = {
    ("invisible", True): "Kestrelwick",
    ("invisible", False): "Marrowby",
    ("widening", True): "Fennacombe",
    ("widening", False): "Quillhaven",
    ("move", True): "Brackenmoor",
    ("move", False): "Tollerdown",
}


def _word(journey: str, javascript: bool) -> str:
    return WORDS[(journey, javascript)]


def _click(page: Page, target) -> None:
    """Press what loads a page, and wait until it has loaded (styles too: axe measures)."""
    with page.expect_navigation(wait_until="load"):
        target.click()


# --- Steps -----------------------------------------------------------------------------------


def _create_private_board(page: Page, checks, name: str, *, shoot: bool = False) -> str:
    """Through /admin/boards/new: private, for ORGANISATION. Returns the board's path."""
    page.goto("/admin/boards")
    checks.check(page, f"admin boards list, before {name}")
    if shoot:
        _shoot(page, "admin-boards-list")
    page.get_by_role("link", name="Add a board").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New board")
    _no_sideways_scroll(page, "new board form")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Description").fill(
        f"Early freight features for **{ORGANISATION}** before anyone else sees them."
    )
    page.get_by_label(re.compile("^Private:")).check()
    page.get_by_label(ORGANISATION).check()
    checks.check(page, f"new board form, filled in for {name}")
    if shoot:
        _shoot(page, "board-form")
    page.get_by_role("button", name="Create board").click()
    expect(page.locator(".flashes")).to_contain_text(name)
    row = page.locator("tr", has_text=name)
    expect(row).to_contain_text("Private")
    href = row.get_by_role("link", name=name, exact=True).get_attribute("href")
    assert href
    page.goto(href)
    slug = page.get_by_label("Address").input_value()
    assert slug
    return f"/boards/{slug}"


def _post_idea(page: Page, checks, board_path: str, title: str) -> str:
    """Post through "Share an idea" on the board's page; returns the idea's path."""
    page.goto(board_path)
    page.get_by_role("link", name="Share an idea").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Share an idea")
    page.get_by_label("Title").fill(title)
    page.get_by_label("What problem does it solve for you?").fill(
        "Our dispatchers retype every manifest by hand at the end of each shift."
    )
    page.get_by_label("Category").select_option(label="Integrations")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Post idea").click()
    if page.get_by_role("button", name="Post anyway").count():
        with page.expect_navigation(wait_until="load"):
            page.get_by_role("button", name="Post anyway").click()
    assert not page.locator(".form-errors").count(), page.locator("main").inner_text()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    checks.check(page, f"the new idea “{title}”")
    return re.sub(r"^https?://[^/]+", "", page.url).split("#")[0]


def _type_title(page: Page, title: str, *, javascript: bool) -> None:
    """Type a new idea's title; with scripts on, wait for the suggestions they fetch."""
    box = page.get_by_label("Title")
    if not javascript:
        box.fill(title)
        return
    with page.expect_response(lambda r: "/ideas/similar" in r.url):
        box.fill(title)


def _finds_nothing(page: Page, checks, *, board_path: str, idea_path: str, word: str, title: str,
                   board_name: str, javascript: bool, shoot: bool = False) -> None:  # fmt: skip
    """Everywhere an outsider could learn of the board or its idea: nothing."""
    page.goto("/")
    tabs = page.get_by_role("navigation", name="Boards")
    expect(tabs).not_to_contain_text(board_name)
    expect(page.locator("main")).not_to_contain_text(word)
    checks.check(page, "outsider: home")
    if shoot:
        _shoot(page, "home-board-tabs-outsider", phone_too=False, full_page=False)

    for path in (board_path, idea_path):
        response = page.goto(path)
        assert response is not None and response.status == 404, f"{path}: {response}"
        expect(page.locator("main")).not_to_contain_text(word)
        expect(page.locator("main")).not_to_contain_text(board_name)
    checks.check(page, "outsider: the 404 for the idea")
    if shoot:
        _shoot(page, "outsider-404")

    page.goto(f"/search?q={word}")  # the page repeats the word searched for, and no more
    expect(page.locator(".idea-card")).to_have_count(0)
    expect(page.get_by_role("link", name=title)).to_have_count(0)
    checks.check(page, "outsider: search for the word")
    page.goto(f"/search?q={word}&board={board_path.rsplit('/', 1)[1]}")
    expect(page.locator("body")).not_to_contain_text(board_name)
    expect(page.get_by_role("link", name=title)).to_have_count(0)

    # Similar ideas while typing a new one: the script's suggestions, and the fragment it asks for.
    page.goto("/ideas/new")
    _type_title(page, title, javascript=javascript)
    expect(page.locator("#similar-ideas")).not_to_contain_text(word)
    fragment = page.context.request.get(f"/ideas/similar?title={title}").text()
    assert word not in fragment and title not in fragment
    board_choice = page.locator("select[name=board]")
    if board_choice.count():
        expect(board_choice).not_to_contain_text(board_name)

    for path in ("/roadmap", "/shipped", "/notifications", "/my-ideas"):
        response = page.goto(path)
        assert response is not None and response.ok, f"{path}: {response}"
        expect(page.locator("body")).not_to_contain_text(word)
        expect(page.locator("body")).not_to_contain_text(board_name)
    slug = board_path.rsplit("/", 1)[1]
    for path in (f"/roadmap?board={slug}", f"/shipped?board={slug}"):  # named, yet nothing
        page.goto(path)
        expect(page.locator("body")).not_to_contain_text(word)
        expect(page.locator("body")).not_to_contain_text(board_name)
    for path in ("/feeds/ideas.atom", "/feeds/shipped.atom", f"{board_path}/feed.atom"):
        answer = page.context.request.get(path)
        assert answer.ok or path.startswith(board_path), f"{path}: {answer.status}"
        assert word not in answer.text() and board_name not in answer.text(), path
        if path.startswith(board_path):
            assert answer.status == 404, f"{path}: {answer.status}"


def _sees_it_and_votes(page: Page, checks, *, board_path: str, title: str, board_name: str,
                       javascript: bool, shoot: bool = False) -> None:  # fmt: skip
    page.goto("/")
    tabs = page.get_by_role("navigation", name="Boards")
    tab = tabs.get_by_role("link", name=re.compile(re.escape(board_name)))
    expect(tab).to_contain_text("Private")
    checks.check(page, "insider: home with the board's tab")
    if shoot:
        _shoot(page, "home-board-tabs", full_page=False)
    _click(page, tab)
    expect(page.get_by_role("heading", level=1)).to_have_text(board_name)
    expect(page.locator(".board-audience")).to_be_visible()
    if shoot:
        _shoot(page, "board-page")
    else:
        _no_sideways_scroll(page, "the board page")
    checks.check(page, "insider: the board page")
    page.get_by_role("link", name=title, exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    vote = page.locator("form.vote button")
    expect(vote).to_have_attribute("aria-pressed", "false")
    vote.click()
    expect(vote).to_have_attribute("aria-pressed", "true")
    expect(vote.locator(".vote__count")).to_have_text("2")  # the PM's own and this one
    checks.check(page, "insider: voted on the private idea")


# --- Journeys --------------------------------------------------------------------------------


@pytest.mark.parametrize("javascript", JS, ids=JS_IDS)
def test_a_private_board_for_one_organisation_is_invisible_to_another(
    browser, boards_site, page_checks, javascript
):
    site = boards_site
    checks = _checks(browser, site, page_checks, javascript)
    shoot = javascript
    word = _word("invisible", javascript)
    board_name = f"Globex {word} beta"
    title = f"Print {word} manifests from the dispatch screen"

    admin = Person(browser, site, javascript=javascript).sign_in(ADMIN)
    board_path = _create_private_board(admin, checks, board_name, shoot=shoot)
    pm = Person(browser, site, javascript=javascript).sign_in(PM)
    idea_path = _post_idea(pm, checks, board_path, title)

    outsider = Person(browser, site, javascript=javascript).sign_in(OUTSIDER[javascript])
    _finds_nothing(outsider, checks, board_path=board_path, idea_path=idea_path, word=word,
                   title=title, board_name=board_name, javascript=javascript,
                   shoot=shoot)  # fmt: skip
    visitor = Person(browser, site, javascript=javascript).page  # not signed in at all
    response = visitor.goto(idea_path)
    assert response is not None and response.status == 404

    insider = Person(browser, site, javascript=javascript).sign_in(INSIDER[javascript])
    _sees_it_and_votes(insider, checks, board_path=board_path, title=title,
                       board_name=board_name, javascript=javascript, shoot=shoot)  # fmt: skip
    # The same searches that found nothing for the outsider find it for the insider.
    insider.goto(f"/search?q={word}")
    expect(insider.get_by_role("link", name=title)).to_be_visible()
    if javascript:
        insider.goto("/ideas/new")
        _type_title(insider, title, javascript=True)
        expect(insider.locator("#similar-ideas").get_by_role("link", name=title)).to_be_visible()


@pytest.mark.parametrize("javascript", JS, ids=JS_IDS)
def test_widening_a_board_is_reviewed_first_and_can_be_changed_back(
    browser, boards_site, page_checks, javascript
):
    site = boards_site
    checks = _checks(browser, site, page_checks, javascript)
    word = _word("widening", javascript)
    board_name = f"{word} depot pilots"
    title = f"Label {word} pallets at the depot door"
    admin = Person(browser, site, javascript=javascript).sign_in(ADMIN)
    board_path = _create_private_board(admin, checks, board_name)
    idea_path = _post_idea(admin, checks, board_path, title)  # the team may post anywhere
    outsider = Person(browser, site, javascript=javascript).sign_in(OUTSIDER[javascript])
    response = outsider.goto(idea_path)
    assert response is not None and response.status == 404

    def edit_to_signed_in() -> None:
        admin.goto("/admin/boards")
        _click(admin, admin.get_by_role("link", name=board_name, exact=True))
        expect(admin.get_by_role("heading", level=1)).to_have_text(board_name)
        admin.get_by_label(re.compile("^Signed-in people only")).check()
        _click(admin, admin.get_by_role("button", name="Save board"))
        expect(admin.get_by_role("heading", level=1)).to_have_text(
            f"Who will newly see {board_name} and its 1 idea"
        )
        expect(admin.locator(".board-review")).to_contain_text("account")

    # The review, then "Change it back": the form again, still private, nothing saved.
    edit_to_signed_in()
    checks.check(admin, "the review before widening")
    if javascript:
        _shoot(admin, "widening-review")
    _click(admin, admin.get_by_role("button", name="Change it back"))
    expect(admin.get_by_label(re.compile("^Private:"))).to_be_checked()
    checks.check(admin, "the form again after changing it back")
    admin.goto("/admin/boards")
    expect(admin.locator("tr", has_text=board_name)).to_contain_text("Private")
    response = outsider.goto(idea_path)
    assert response is not None and response.status == 404

    # Confirmed: anyone signed in finds it now, the outsider included; a visitor still not.
    edit_to_signed_in()
    _click(admin, admin.get_by_role("button", name="Save and let them in"))
    expect(admin.locator(".flashes")).to_contain_text(board_name)
    admin.goto("/admin/boards")
    expect(admin.locator("tr", has_text=board_name)).to_contain_text("Signed-in people")
    outsider.goto(f"/search?q={word}")
    _click(outsider, outsider.get_by_role("link", name=title, exact=True).first)
    expect(outsider.get_by_role("heading", level=1)).to_have_text(title)
    checks.check(outsider, "outsider: the idea once the board is widened")
    visitor = Person(browser, site, javascript=javascript).page
    response = visitor.goto(idea_path)
    assert response is not None and response.status == 404


BETA = "Beta programme"  # the demo's private board, for Northwind Traders


@pytest.mark.parametrize("javascript", JS, ids=JS_IDS)
def test_an_invited_newcomer_signs_up_and_is_on_the_board_at_once(
    browser, boards_site, page_checks, javascript
):
    site = boards_site
    checks = _checks(browser, site, page_checks, javascript)
    address = f"ines.{'js' if javascript else 'plain'}@outside.example"
    name = "Ines Invited"

    admin = Person(browser, site, javascript=javascript).sign_in(ADMIN)
    admin.goto("/admin/boards")
    _click(admin, admin.get_by_role("link", name=f"People of {BETA}"))
    expect(admin.get_by_role("heading", level=1)).to_have_text(f"Who sees “{BETA}”")
    admin.get_by_label("Email addresses").fill(address)
    _click(admin, admin.get_by_role("button", name="Send invitations"))
    expect(admin.locator(".flashes")).to_contain_text(address)
    expect(admin.get_by_role("region", name="Invitations waiting for an answer")).to_contain_text(
        address
    )
    checks.check(admin, "the board's people page with an invitation waiting")
    if javascript:
        _shoot(admin, "board-people")
    else:
        _no_sideways_scroll(admin, "the board's people page")

    link = _link_in_email(site, address, r"(https?://\S+/invites/\S+)")
    newcomer = Person(browser, site, javascript=javascript).page
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", level=1)).to_have_text(f"Join “{BETA}”")
    checks.check(newcomer, "the invitation, not signed in")
    _click(newcomer, newcomer.get_by_role("link", name="Create an account"))
    newcomer.get_by_label("Email address").fill(address)
    newcomer.get_by_label("Display name").fill(name)
    newcomer.get_by_label("Password", exact=True).fill(PASSWORD)
    newcomer.get_by_label("I have read the community guidelines").check()
    _click(newcomer, newcomer.get_by_role("button", name="Create account"))
    # Signed up with the invited address: the link proved it, so no email to confirm first;
    # straight onto the board, a member.
    expect(newcomer.get_by_role("heading", level=1)).to_have_text(BETA)
    expect(newcomer.locator(".flashes")).to_contain_text(f"Welcome to “{BETA}”, {name}.")
    checks.check(newcomer, "the newcomer on the board they joined")
    newcomer.goto("/")
    tab = newcomer.get_by_role("navigation", name="Boards").get_by_role(
        "link", name=re.compile(BETA)
    )
    _click(newcomer, tab)
    expect(newcomer.get_by_role("heading", level=1)).to_have_text(BETA)
    # Single use: the link does not work a second time.
    newcomer.goto(link)
    expect(newcomer.get_by_role("button", name=f"Join “{BETA}”")).to_have_count(0)


@pytest.mark.parametrize("javascript", JS, ids=JS_IDS)
def test_a_pm_moves_an_idea_into_a_private_board_and_back_with_a_review(
    browser, boards_site, page_checks, javascript
):
    site = boards_site
    checks = _checks(browser, site, page_checks, javascript)
    word = _word("move", javascript)
    title = f"Bulk {word} rebooking after a storm"
    pm = Person(browser, site, javascript=javascript).sign_in(PM)
    idea_path = _post_idea(pm, checks, "/boards/ideas", title)
    outsider = Person(browser, site, javascript=javascript).sign_in(INSIDER[javascript])
    response = outsider.goto(idea_path)  # a Globex person: outside the beta, inside Ideas
    assert response is not None and response.ok

    def move_to(board: str) -> None:
        pm.goto(idea_path)
        _click(pm, pm.get_by_role("link", name="Move to another board…"))
        expect(pm.get_by_role("heading", level=1)).to_contain_text("to another board")
        pm.get_by_label("Move to the board").select_option(label=board)
        _click(pm, pm.get_by_role("button", name="Move it"))

    # Into the private board: fewer people see it, so no review; it is gone for the outsider.
    move_to(BETA)
    expect(pm.get_by_role("heading", level=1)).to_have_text(title)
    checks.check(pm, "the idea moved into the private board")
    response = outsider.goto(idea_path)
    assert response is not None and response.status == 404
    outsider.goto(f"/search?q={word}")
    expect(outsider.get_by_role("link", name=title)).to_have_count(0)

    # Back out to the public board: the review first; "Go back" moves nothing.
    move_to("Ideas")
    expect(pm.get_by_role("heading", level=1)).to_have_text(
        "Nothing has moved yet: more people would see this idea"
    )
    checks.check(pm, "the move review")
    if javascript:
        _shoot(pm, "move-review")
    else:
        _no_sideways_scroll(pm, "the move review")
    _click(pm, pm.get_by_role("button", name="Go back"))
    response = outsider.goto(idea_path)
    assert response is not None and response.status == 404
    move_to("Ideas")
    _click(pm, pm.get_by_role("button", name="Move it"))
    expect(pm.get_by_role("heading", level=1)).to_have_text(title)
    response = outsider.goto(idea_path)
    assert response is not None and response.ok
