"""API keys in a browser at 375 px: made, copied and revoked with and without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, PageChecks
from tests.browser.test_pages import OVERFLOW, sign_in

pytestmark = pytest.mark.slow

PHONE = {"width": 375, "height": 812}
TOKEN = re.compile(r"portal_[A-Za-z0-9_-]{43}")


def make_and_revoke(page, name: str) -> str:
    page.goto("/account")
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Write", exact=True).check()
    page.get_by_role("button", name="Make the key").click()
    expect(page.get_by_text("this is the only time it is shown")).to_be_visible()
    token = page.locator("#new-token").input_value()
    assert TOKEN.fullmatch(token)
    page.goto("/account/api-keys")
    assert token not in page.content()
    card = page.locator(".api-key-list > li", has_text=name)
    expect(card).to_contain_text("never")
    card.get_by_text("Revoke…").click()
    card.get_by_role("button", name=f"Revoke “{name}”").click()
    expect(page.locator(".flashes")).to_contain_text(f"The key “{name}” is revoked")
    return token


def test_a_key_is_made_and_revoked_on_a_phone(page, site, tmp_path):
    page.set_viewport_size(PHONE)
    sign_in(page, site.new_customer("Kim Keys"))

    make_and_revoke(page, "Phone script")

    # The page as it looked with a new key on it: nothing scrolls sideways, axe is content.
    page.goto("/account/api-keys")
    page.get_by_label("Name", exact=True).fill("A much longer name for a key " * 2)
    page.get_by_role("button", name="Make the key").click()
    assert page.evaluate(OVERFLOW) == []
    PageChecks(tmp_path).check(page, "api-keys-375")


def test_a_key_is_made_and_revoked_without_javascript(browser, site):
    context = browser.new_context(base_url=site.url, viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/sign-in")
        page.get_by_label("Email address").fill(site.new_customer("Noa No-Script"))
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        make_and_revoke(page, "No script")
    finally:
        context.close()
