"""A private portal: visitors reach only the ways in, and sign-up by invitation or domain."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Invite, User
from portal.services.audit_log import describe
from portal.services.settings import set_setting

from .conftest import DEFAULT_PASSWORD, sign_in_client
from .helpers import link_in, page_text


def words(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def make_private(*, sign_up: str = "anyone", domains: str = "") -> None:
    set_setting("private_portal", "on", actor=None)
    set_setting("sign_up", sign_up, actor=None)
    set_setting("sign_up_domains", domains, actor=None)
    db.session.commit()


def sign_up(client, email: str, name: str = "Jo Newcomer"):
    return client.post(
        "/sign-up",
        data={
            "email": email,
            "display_name": name,
            "password": DEFAULT_PASSWORD,
            "accept_guidelines": "y",
        },
    )


@pytest.fixture
def idea(make_idea):
    return make_idea("Export reports to Excel")


# Every kind of page a visitor could open, and what a private portal answers.
SIGN_IN_FIRST = [
    "/",
    "/ideas/{idea}",
    "/search?q=export",
    "/roadmap",
    "/shipped",
    "/ideas/new",
    "/admin/users",
    "/team/triage",
    "/account",
    "/notifications",
    "/boards/ideas",
]
NOT_FOUND = [
    "/feeds/ideas.atom",
    "/feeds/shipped.atom",
    "/ideas/{idea}/feed.atom",
    "/boards/ideas/feed.atom",
    "/no-such-page",
]
OPEN = [
    "/sign-in",
    "/sign-up",
    "/sign-up/check-email",
    "/password/forgot",
    "/confirm/resend",
    "/guidelines",
    "/healthz",
    "/stage-colours.css",
    "/static/css/portal.css",
]


def test_a_public_portal_lets_visitors_in(client, idea):
    assert client.get("/").status_code == 200
    assert client.get(f"/ideas/{idea.id}").status_code == 200
    assert client.get("/feeds/ideas.atom").status_code == 200


@pytest.mark.parametrize("path", SIGN_IN_FIRST)
def test_visitors_are_sent_to_sign_in_and_back(client, idea, path):
    make_private()
    path = path.format(idea=idea.id)
    response = client.get(path)
    assert response.status_code == 302, path
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    assert parse_qs(location.query)["next"] == [path]


@pytest.mark.parametrize("path", NOT_FOUND)
def test_feeds_and_unknown_addresses_are_missing_for_visitors(client, idea, path):
    make_private()
    response = client.get(path.format(idea=idea.id))
    assert response.status_code == 404
    assert "Export reports" not in page_text(response)


@pytest.mark.parametrize("path", OPEN)
def test_the_ways_in_stay_open(client, path):
    make_private()
    response = client.get(path)
    response.close()  # a static file is streamed from disk
    assert response.status_code == 200, path


def test_reset_confirmation_and_invitation_links_stay_open(client):
    make_private()
    assert client.get("/password/reset/not-a-real-token").status_code == 400
    assert client.get("/confirm/not-a-real-token").status_code == 400
    assert client.get("/invites/not-a-real-token").status_code == 404


def test_email_links_that_need_no_sign_in_stay_open(client, idea, make_user):
    """One-click unsubscribe and the outcome answer work from the email, signed in or not."""
    from portal.mail.preferences import ALL, unsubscribe_token

    make_private()
    person = make_user()
    response = client.get(f"/account/email/unsubscribe/{unsubscribe_token(person, ALL)}")
    assert response.status_code == 200
    assert client.get("/account/email/outcome/not-a-real-token").status_code == 400


def test_posts_by_visitors_are_turned_back_too(client, idea):
    make_private()
    response = client.post(f"/ideas/{idea.id}/vote")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"


def test_json_callers_get_401(client, idea):
    make_private()
    response = client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "authentication required"}


def test_signed_in_people_see_everything_as_before(client, login_as, idea):
    make_private()
    login_as("customer")
    assert client.get("/").status_code == 200
    assert client.get(f"/ideas/{idea.id}").status_code == 200
    assert client.get("/feeds/ideas.atom").status_code == 200


def test_the_sign_in_page_says_it_is_private_and_how_to_get_in(client):
    make_private(sign_up="invited", domains="acme.example")
    text = words(client.get("/sign-in"))
    assert "This portal is private" in text
    assert "open the invitation link you were emailed" in text
    assert "acme.example" in text


def test_a_public_sign_in_page_says_nothing_of_it(client):
    assert "This portal is private" not in words(client.get("/sign-in"))


# --- Who may create an account ----------------------------------------------------------------


def test_sign_up_by_invitation_refuses_others_and_keeps_what_was_typed(client, outbox):
    make_private(sign_up="invited")
    response = sign_up(client, "stranger@example.com", name="Sam Stranger")
    assert response.status_code == 200
    text = page_text(response)
    assert "open by invitation only, and we have no invitation for this address" in text
    assert 'value="stranger@example.com"' in text
    assert 'value="Sam Stranger"' in text
    assert db.session.scalar(select(User).where(User.email == "stranger@example.com")) is None
    assert outbox.messages() == []


def test_an_address_at_an_allowed_domain_may_sign_up(client, outbox):
    make_private(sign_up="invited", domains="acme.example partner.example")
    response = sign_up(client, "jo@partner.example")
    assert response.status_code == 303
    assert db.session.scalar(select(User).where(User.email == "jo@partner.example")) is not None


def test_an_invited_address_may_sign_up(app, make_user, outbox):
    make_private(sign_up="invited")
    admin_browser = app.test_client()
    sign_in_client(admin_browser, make_user("admin"))
    admin_browser.post("/admin/invites", data={"emails": "jo@customer.example"})
    # Signing up in another browser than the one the link was opened in: the address counts.
    assert sign_up(app.test_client(), "JO@customer.example").status_code == 303


def test_the_invitation_link_opened_in_this_browser_lets_any_address_sign_up(
    app, make_user, outbox
):
    make_private(sign_up="invited")
    admin_browser = app.test_client()
    sign_in_client(admin_browser, make_user("admin", display_name="Ada Admin"))
    admin_browser.post("/admin/invites", data={"emails": "jo@customer.example"})
    link = link_in(outbox.to("jo@customer.example")[0], "/invites/")
    visitor = app.test_client()
    page = visitor.get(urlsplit(link).path)
    assert page.status_code == 200
    assert "Ada Admin invited you to" in words(page)
    # Jo signs up with her personal address, in the browser that opened the link.
    assert sign_up(visitor, "jo.personal@example.com").status_code == 303
    # Another browser, without the link, may not.
    assert sign_up(app.test_client(), "someone.else@example.com").status_code == 200


def test_a_portal_invitation_lets_a_signed_in_person_in(app, make_user, outbox):
    make_private(sign_up="invited")
    admin_browser = app.test_client()
    sign_in_client(admin_browser, make_user("admin", display_name="Ada Admin"))
    admin_browser.post("/admin/invites", data={"emails": "jo@customer.example"})
    path = urlsplit(link_in(outbox.to("jo@customer.example")[0], "/invites/")).path
    jo = make_user(email="jo@customer.example", display_name="Jo Customer")
    browser = app.test_client()
    sign_in_client(browser, jo)
    response = browser.post(path)
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/"
    assert db.session.scalar(select(Invite)).used_by_id == jo.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invite.sent"))
    assert describe(event) == "Ada Admin invited jo@customer.example to the portal."


def test_anyone_may_sign_up_when_the_portal_says_so(client, outbox):
    make_private(sign_up="anyone")
    assert sign_up(client, "anyone@example.com").status_code == 303


# --- The admins' settings ---------------------------------------------------------------------


def test_admins_make_the_portal_private_and_the_log_says_so(client, login_as, idea):
    visitor = client.application.test_client()
    assert "Export reports" in page_text(visitor.get("/"))  # a page now in the cache
    login_as("admin", display_name="Ada Admin")
    response = client.post(
        "/admin/settings/access",
        data={"private": "y", "sign_up": "invited", "sign_up_domains": "@Acme.example\nbeta.io"},
    )
    assert response.status_code == 303
    page = client.get("/admin/settings/access")
    assert re.search(r'<input[^>]*checked[^>]*id="private"', page.get_data(as_text=True))
    assert "acme.example\nbeta.io" in page_text(page)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "settings.changed"))
    assert "private-portal setting" in describe(event)
    assert "beta.io" in describe(event)
    assert visitor.get("/").status_code == 302  # the cached copy is not served


def test_a_bad_domain_is_refused_with_what_was_typed(client, login_as):
    login_as("admin")
    response = client.post(
        "/admin/settings/access",
        data={"sign_up": "invited", "sign_up_domains": "acme.example\nnot a domain!"},
    )
    assert response.status_code == 400
    text = page_text(response)
    assert "These are not email domains" in text
    assert "not a domain!" in text
