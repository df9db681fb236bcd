"""Issue 15, points 1, 4 and 7 in Chromium: a reply's email reaches the person replied to, and
its link opens that reply on the address the portal is served on, with and without JavaScript.

The browser tests' gunicorn (tests/browser/conftest.py) runs on a free port, never 5000; email
is written to instance/mail/outbox/. Links that follow the served port with no PORTAL_BASE_URL
at all, under gunicorn and `flask run`, are proven in tests/test_mail_delivery.py.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD
from tests.browser.test_journeys import ScriptlessChecks

EMAIL_WAIT_SECONDS = 15
# A pair of demo people for each run, so the runs do not meet the per-person comment limits.
PEOPLE = {
    True: ("chloe@northwind.example", "farah@globex.example"),
    False: ("dmitri@globex.example", "emma@globex.example"),
}


def _signed_in(new_context, email: str, *, javascript: bool = True) -> Page:
    """A browser signed in as a demo person (the form posted by the context's own client)."""
    context = new_context(java_script_enabled=javascript)
    form = context.request.get("/sign-in").text()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token, "no CSRF token on the sign-in page"
    answer = context.request.post(
        "/sign-in", form={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.ok, f"{email} could not sign in"
    return context.new_page()


def _link_in_email(site, address: str, pattern: str) -> str:
    """The first link matching pattern in an email to address, sent by a background thread."""
    deadline = time.monotonic() + EMAIL_WAIT_SECONDS
    while time.monotonic() < deadline:
        for message in site.emails_to(address):
            body = message.get_body(preferencelist=("plain",)).get_content()
            match = re.search(pattern, body)
            if match:
                return match.group(1)
        time.sleep(0.2)
    pytest.fail(f"no email to {address} matching {pattern!r} within {EMAIL_WAIT_SECONDS} s")


def _comment_id(page: Page) -> int:
    match = re.search(r"#comment-(\d+)$", page.url)
    assert match, f"not sent to the comment: {page.url}"
    return int(match.group(1))


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_reply_email_opens_the_reply_on_the_port_the_portal_is_served_on(
    site, new_context, checks, javascript
):
    author_email, replier_email = PEOPLE[javascript]
    if not javascript:  # axe cannot run there: a copy of each page is checked
        checks = ScriptlessChecks(checks, new_context().new_page())
    author = _signed_in(new_context, author_email, javascript=javascript)
    author.goto("/")
    idea_path = author.eval_on_selector_all(
        "a[href^='/ideas/']",
        "links => links.map(a => a.getAttribute('href')).find(h => /^\\/ideas\\/\\d+$/.test(h))",
    )
    assert idea_path, "no idea on the home page"

    author.goto(idea_path)
    author.locator("form[action$='/comments']:not(:has([name=parent_id])) textarea").fill(
        "Does this cover the quarterly reports as well?"
    )
    with author.expect_navigation(wait_until="load"):
        author.get_by_role("button", name="Post comment").click()
    comment_id = _comment_id(author)

    replier = _signed_in(new_context, replier_email, javascript=javascript)
    replier.goto(idea_path)
    replier.locator(f"details:has(#reply-{comment_id}) summary").click()
    replier.locator(f"#reply-{comment_id}").fill("Yes, we export those every quarter too.")
    with replier.expect_navigation(wait_until="load"):
        replier.locator(f"details:has(#reply-{comment_id})").get_by_role(
            "button", name="Post reply"
        ).click()
    reply_id = _comment_id(replier)

    link = _link_in_email(site, author_email, r"Read it in the conversation: (\S+)")
    assert link == f"{site.url}{idea_path}#comment-{reply_id}"
    assert not link.startswith("http://127.0.0.1:5000/")

    opened = author.context.new_page()  # the link opened from the mail client, in a new tab
    opened.goto(link)
    expect(opened.locator(f"#comment-{reply_id}")).to_be_in_viewport()
    expect(opened.locator(f"#comment-{reply_id}")).to_contain_text("every quarter too")
    checks.check(opened, f"the reply opened from its email ({'with' if javascript else 'no'} JS)")
