"""Single sign-on in a browser: through the OpenID provider's own page, at 1280 and 375 px."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import PageChecks, Site, serve_demo_site
from tests.browser.test_pages import OVERFLOW
from tests.servers import oidc_provider

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def provider_url() -> Iterator[str]:
    with oidc_provider() as url:
        yield url


@pytest.fixture(scope="module")
def sso_site(tmp_path_factory, provider_url) -> Iterator[Site]:
    providers = [
        {
            "slug": "mock",
            "name": "Mock ID",
            "discovery_url": f"{provider_url}/.well-known/openid-configuration",
            "client_id": "portal",
            "client_secret": "portal-secret",
        }
    ]
    with serve_demo_site(
        tmp_path_factory.mktemp("browser-sso"),
        "sso",
        FORM_MIN_SECONDS="0",
        OIDC_PROVIDERS=json.dumps(providers),
    ) as served:
        yield served


@pytest.mark.parametrize("width", [1280, 375])
def test_signing_in_through_the_provider(browser, sso_site, provider_url, tmp_path, width):
    sub = "browser-" + secrets.token_hex(4)
    email = f"{sub}@sso-journey.example"
    requests.put(
        f"{provider_url}/users/{sub}",
        json={"email": email, "email_verified": True, "name": "Sam Single"},
        timeout=5,
    ).raise_for_status()
    context = browser.new_context(base_url=sso_site.url, viewport={"width": width, "height": 900})
    page = context.new_page()
    checks = PageChecks(tmp_path)
    try:
        page.goto("/sign-in?next=/roadmap")
        button = page.get_by_role("button", name="Sign in with Mock ID")
        expect(button).to_be_visible()
        assert page.evaluate(OVERFLOW) == []
        checks.check(page, f"sign-in-with-sso-{width}")
        button.click()
        # The provider's own page: type the subject and authorise.
        page.locator("input[name=sub]").fill(sub)
        page.get_by_role("button", name="Authorize").click()
        expect(page.locator(".flashes")).to_contain_text("Welcome, Sam Single")
        assert page.url.endswith("/roadmap")
        page.goto("/account/sign-in-methods")
        expect(page.get_by_text("Mock ID as " + email)).to_be_visible()
        assert page.evaluate(OVERFLOW) == []
        checks.check(page, f"sign-in-methods-{width}")
        checks.validate_html()
    finally:
        context.close()
