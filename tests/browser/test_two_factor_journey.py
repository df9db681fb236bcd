"""Two-factor sign-in in a browser, at 1280 and 375 px: set up from the account page with the
secret typed from the page (as from a phone's app), then signing in with a code."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, PageChecks
from tests.browser.test_pages import OVERFLOW, sign_in

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("width", [1280, 375])
def test_setting_up_two_factor_and_signing_in_with_a_code(page, site, checks: PageChecks, width):
    page.set_viewport_size({"width": width, "height": 900})
    email = site.new_customer(f"Tess Totp {width}")
    sign_in(page, email)

    page.goto("/account")
    page.get_by_role("link", name="Two-factor sign-in").click()
    expect(page.get_by_role("heading", name="Set it up")).to_be_visible()
    expect(page.locator(".two-factor-qr svg")).to_be_visible()
    assert page.evaluate(OVERFLOW) == []
    checks.check(page, f"two-factor setup {width}")
    secret = page.locator("#two-factor-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)

    page.get_by_label("Code from your app").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.locator(".field__error")).to_contain_text("That code is not right")
    checks.check(page, f"two-factor setup wrong code {width}")

    page.get_by_label("Code from your app").fill(totp.now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    assert page.evaluate(OVERFLOW) == []
    checks.check(page, f"recovery codes {width}")
    page.get_by_role("link", name="I have saved them: continue").click()
    expect(page.get_by_role("heading", name="It is on")).to_be_visible()
    checks.check(page, f"two-factor on {width}")

    page.context.clear_cookies()  # signed out
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Type your sign-in code")).to_be_visible()
    assert page.evaluate(OVERFLOW) == []
    checks.check(page, f"two-factor sign-in {width}")
    # The code of the next step: the current one was used to turn it on.
    page.get_by_label("Code", exact=True).fill(totp.at(int(time.time()) + 30))
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".flashes")).to_contain_text("Welcome back")
