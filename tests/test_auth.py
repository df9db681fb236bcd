"""Accounts as a visitor and an attacker see them: sign-up, sign-in, sessions, cookies, audit.

SECURITY.md items 5, 6, 7, 9, 10, 11, 12 and 24 (for accounts); passwords and resets are in
test_passwords.py.
"""

from __future__ import annotations

import itertools
import re
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, User, UserSession
from portal.models.types import utcnow
from portal.services import accounts
from portal.services.accounts import SIGN_IN_FAILED

from .conftest import DEFAULT_PASSWORD
from .helpers import link_in, pass_two_factor
from .helpers import page_text as text_of

NEW_PASSWORD = "a fresh and rather long passphrase"
SESSION_COOKIE = "portal_session"
REMEMBER_COOKIE = "portal_remember"

_ips = itertools.count(1)


def fresh_ip() -> str:
    """A client address of its own, so per-IP limits of one step never touch another."""
    n = next(_ips)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


@pytest.fixture
def app_config(app_config, request):
    """The shared configuration, plus whatever a test passes with indirect parametrisation."""
    return {**app_config, **getattr(request, "param", {})}


# Helpers: what a browser does -----------------------------------------------------------


def sign_up(
    client,
    email,
    *,
    display_name="Jo Tester",
    password=DEFAULT_PASSWORD,
    accept=True,
    ip=None,
    **kwargs,
):
    data = {"email": email, "display_name": display_name, "password": password}
    if accept:
        data["accept_guidelines"] = "y"
    return client.post(
        "/sign-up", data=data, environ_base={"REMOTE_ADDR": ip or fresh_ip()}, **kwargs
    )


def sign_in(client, email, password=DEFAULT_PASSWORD, *, remember=False, next_=None, ip=None):
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    if next_ is not None:
        data["next"] = next_
    return client.post("/sign-in", data=data, environ_base={"REMOTE_ADDR": ip or fresh_ip()})


def is_signed_in(client) -> bool:
    response = client.get("/account")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    return False


def client_with_cookies(app, **cookies):
    """A new browser holding only the given cookies (copied from another one, say)."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def cookie_value(client, name) -> str:
    cookie = client.get_cookie(name)
    assert cookie is not None, f"no {name} cookie"
    return cookie.value


def confirmation_link(outbox, email) -> str:
    messages = [m for m in outbox.to(email) if "Confirm your email" in m["Subject"]]
    assert messages, f"no confirmation email to {email}"
    return link_in(messages[-1], "/confirm/")


def path_of(url: str) -> str:
    return urlsplit(url).path


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def find_user(email) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.lower()))


def input_tag(text: str, name: str) -> str:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', text)
    assert match, f"no {name} input on the page"
    return match.group(0)


def csrf_token_in(response) -> str:
    return re.search(r'value="([^"]+)"', input_tag(response.text, "csrf_token")).group(1)


# Sign-up ------------------------------------------------------------------------------


def test_sign_up_redirects_to_check_email_and_creates_an_unconfirmed_account(client, outbox):
    response = sign_up(client, "New.Person@Example.COM", display_name="New Person")

    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == "/sign-up/check-email"
    page = client.get("/sign-up/check-email")
    assert "Check your email" in page.text
    assert "New.Person@Example.COM" in page.text

    user = find_user("new.person@example.com")
    assert user is not None
    assert user.display_name == "New Person"
    assert user.email_verified_at is None
    assert user.guidelines_accepted_at is not None
    assert user.role == "customer"
    assert not is_signed_in(client), "signing up must not sign in before the address is confirmed"
    assert len(outbox.to("new.person@example.com")) == 1


def test_sign_up_without_accepting_guidelines_is_refused_and_keeps_what_was_typed(client, outbox):
    response = sign_up(
        client,
        "careful@example.com",
        display_name="Careful Cat",
        password="hunter22 secret",
        accept=False,
    )

    assert response.status_code == 200
    text = text_of(response)
    assert "Please read and accept the community guidelines" in text
    assert 'value="careful@example.com"' in text
    assert 'value="Careful Cat"' in text
    assert "hunter22 secret" not in text
    assert user_count() == 0
    assert outbox.messages() == []


def test_sign_up_shows_each_limit_and_never_cuts_what_is_pasted(client, outbox):
    """A maxlength attribute cuts pasted text without a word: the limit is shown instead."""
    page = client.get("/sign-up").get_data(as_text=True)
    name_input = re.search(r"<input[^>]*id=\"display_name\"[^>]*>", page)
    assert name_input, page
    assert "maxlength" not in name_input.group(0)
    assert 'data-limit="60"' in name_input.group(0)
    assert "Up to 60 characters." in page

    response = sign_up(client, "long@example.com", display_name="Long " * 20)
    assert "between 2 and 60 characters" in text_of(response)
    assert "Long Long Long" in text_of(response)  # all of it kept, to shorten
    assert user_count() == 0


@pytest.mark.parametrize(
    ("email", "display_name", "password", "message"),
    [
        ("not-an-email", "Valid Name", DEFAULT_PASSWORD, "Enter a valid email address"),
        ("", "Valid Name", DEFAULT_PASSWORD, "Enter your email address."),
        ("ok@example.com", "J", DEFAULT_PASSWORD, "between 2 and 60 characters"),
        ("ok@example.com", "x" * 61, DEFAULT_PASSWORD, "between 2 and 60 characters"),
        ("ok@example.com", "   ", DEFAULT_PASSWORD, "Enter a display name of at least 2"),
        ("ok@example.com", "Valid Name", "Zq7#kLp", "Use at least 8 characters."),
        ("ok@example.com", "Valid Name", "", "Choose a password."),
    ],
)
def test_sign_up_errors_are_shown_and_what_was_typed_stays_except_the_password(
    client, outbox, email, display_name, password, message
):
    response = sign_up(client, email, display_name=display_name, password=password)

    assert response.status_code == 200
    text = text_of(response)
    assert message in text
    assert 'aria-invalid="true"' in text
    if email:
        assert f'value="{email}"' in text
    if display_name.strip():
        assert f'value="{display_name}"' in text
    if password:
        assert password not in text
    assert " checked" in input_tag(text, "accept_guidelines")
    assert 'value=""' in input_tag(text, "password")
    assert user_count() == 0
    assert outbox.messages() == []


def test_confirmation_link_uses_base_url_whatever_the_host_header(client, outbox):
    sign_up(client, "hosty@example.com", base_url="http://evil.example")

    link = confirmation_link(outbox, "hosty@example.com")
    assert link.startswith("http://portal.test/confirm/")
    assert "evil.example" not in outbox.to("hosty@example.com")[0].as_string()


def test_opening_the_confirmation_link_changes_nothing_until_the_button_is_pressed(client, outbox):
    sign_up(client, "clicker@example.com", display_name="Clicker")
    path = path_of(confirmation_link(outbox, "clicker@example.com"))
    events_before = db.session.scalar(select(func.count()).select_from(AuditEvent))

    page = client.get(path)

    assert page.status_code == 200
    assert "Confirm and sign in" in page.text
    assert find_user("clicker@example.com").email_verified_at is None
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events_before
    assert not is_signed_in(client)

    response = client.post(path)

    assert response.status_code == 302
    assert find_user("clicker@example.com").email_verified_at is not None
    assert is_signed_in(client)
    assert "Clicker" in client.get("/").text


def test_confirmed_account_signs_in_with_its_password(client, app, outbox):
    sign_up(client, "later@example.com")
    client.post(path_of(confirmation_link(outbox, "later@example.com")))

    other = app.test_client()
    response = sign_in(other, "later@example.com")
    assert response.status_code == 302
    assert is_signed_in(other)


def test_expired_confirmation_link_shows_a_clear_error(client, outbox, monkeypatch):
    issued = datetime.now(UTC)
    clock = {"now": issued}
    monkeypatch.setattr(accounts, "utcnow", lambda: clock["now"])
    sign_up(client, "slow@example.com")
    path = path_of(confirmation_link(outbox, "slow@example.com"))
    clock["now"] = issued + timedelta(days=3, seconds=60)

    response = client.post(path)

    assert response.status_code == 400
    assert "This confirmation link is invalid or has expired." in text_of(response)
    assert "new confirmation link" in text_of(response)
    assert find_user("slow@example.com").email_verified_at is None
    assert not is_signed_in(client)


def test_confirmation_link_still_works_two_days_later(client, outbox, monkeypatch):
    issued = datetime.now(UTC)
    clock = {"now": issued}
    monkeypatch.setattr(accounts, "utcnow", lambda: clock["now"])
    sign_up(client, "weekend@example.com")
    path = path_of(confirmation_link(outbox, "weekend@example.com"))
    clock["now"] = issued + timedelta(days=2)

    assert client.post(path).status_code == 302
    assert find_user("weekend@example.com").email_verified_at is not None


def test_forged_and_old_format_confirmation_links_are_refused(client, app, outbox, make_user):
    sign_up(client, "target@example.com")
    token = path_of(confirmation_link(outbox, "target@example.com")).rsplit("/", 1)[1]
    user = find_user("target@example.com")
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    # A link in the signed format sent before links became single-use, with the real secret:
    # it stops working and says so.
    old_format = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="portal.verify-email").dumps(
        {"u": user.id, "e": user.email}
    )

    for forged in (flipped, old_format, secrets.token_urlsafe(32), "nonsense"):
        response = client.post(f"/confirm/{forged}")
        assert response.status_code == 400, forged
        assert "This confirmation link is invalid or has expired." in text_of(response)
        assert "new confirmation link" in text_of(response)
        assert client.get(f"/confirm/{forged}").status_code == 400

    assert find_user("target@example.com").email_verified_at is None
    assert not is_signed_in(client)


# A confirmation link works once ------------------------------------------------------------


def confirmation_links(outbox, email) -> list[str]:
    return [
        path_of(link_in(m, "/confirm/"))
        for m in outbox.to(email)
        if "Confirm your email" in m["Subject"]
    ]


def assert_already_confirmed_page(response) -> None:
    assert response.status_code == 200
    assert "This address is already confirmed. Sign in to continue." in text_of(response)
    assert 'href="/sign-in"' in response.text
    assert "Confirm and sign in" not in response.text


def test_used_confirmation_link_signs_nobody_in_the_second_time(app, client, outbox):
    sign_up(client, "twice@example.com")
    path = path_of(confirmation_link(outbox, "twice@example.com"))
    assert client.post(path).status_code == 302
    assert is_signed_in(client)
    sessions_after_first_use = db.session.scalar(select(func.count()).select_from(UserSession))

    for method in ("get", "post"):
        other = app.test_client()
        response = getattr(other, method)(path)
        assert_already_confirmed_page(response)
        assert not is_signed_in(other)
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == (
        sessions_after_first_use
    )


def test_used_confirmation_link_opened_while_signed_in_does_not_ask_to_sign_in(client, outbox):
    sign_up(client, "signedin@example.com")
    path = path_of(confirmation_link(outbox, "signedin@example.com"))
    assert client.post(path).status_code == 302
    response = client.get(path)
    text = text_of(response)
    assert "This address is already confirmed, and you are signed in." in text
    assert "Sign in to continue" not in text
    assert "One last step" not in text


def test_a_live_link_to_an_address_confirmed_since_says_so(app, client, outbox):
    sign_up(client, "since@example.com")
    path = path_of(confirmation_link(outbox, "since@example.com"))
    user = find_user("since@example.com")
    user.email_verified_at = utcnow()  # confirmed another way while the link still lives
    db.session.commit()
    response = app.test_client().get(path)
    assert_already_confirmed_page(response)
    assert "One last step" not in text_of(response)


def test_first_sign_in_says_welcome_and_later_ones_welcome_back(client, make_user):
    make_user(email="first@example.com", display_name="Fay First")
    data = {"email": "first@example.com", "password": DEFAULT_PASSWORD}
    first = client.post("/sign-in", data=data, follow_redirects=True)
    assert "Welcome, Fay First." in text_of(first)
    assert "Welcome back" not in text_of(first)
    client.post("/sign-out")
    again = client.post("/sign-in", data=data, follow_redirects=True)
    assert "Welcome back, Fay First." in text_of(again)


def test_superseded_confirmation_link_is_refused(app, client, outbox):
    sign_up(client, "again@example.com")
    app.test_client().post(
        "/confirm/resend",
        data={"email": "again@example.com"},
        environ_base={"REMOTE_ADDR": fresh_ip()},
    )
    older, newer = confirmation_links(outbox, "again@example.com")
    assert older != newer

    browser = app.test_client()
    response = browser.post(older)
    assert response.status_code == 400
    assert "Only the newest link we sent works." in text_of(response)
    assert not is_signed_in(browser)
    assert find_user("again@example.com").email_verified_at is None

    assert browser.post(newer).status_code == 302
    assert is_signed_in(browser)


def test_confirmation_link_stops_working_after_a_password_change(app, client, outbox):
    sign_up(client, "changer@example.com")
    path = path_of(confirmation_link(outbox, "changer@example.com"))
    assert sign_in(client, "changer@example.com").status_code == 302  # unconfirmed may sign in
    response = client.post(
        "/account/password",
        data={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code in (302, 303)

    stranger = app.test_client()
    response = stranger.post(path)
    assert response.status_code == 400
    assert not is_signed_in(stranger)
    assert find_user("changer@example.com").email_verified_at is None


def test_confirmation_link_stops_working_after_a_password_reset(app, client, outbox):
    sign_up(client, "resetter@example.com")
    path = path_of(confirmation_link(outbox, "resetter@example.com"))
    app.test_client().post(
        "/password/forgot",
        data={"email": "resetter@example.com"},
        environ_base={"REMOTE_ADDR": fresh_ip()},
    )
    [reset] = [m for m in outbox.to("resetter@example.com") if "Reset" in m["Subject"]]
    assert (
        app.test_client()
        .post(path_of(link_in(reset, "/password/reset/")), data={"password": NEW_PASSWORD})
        .status_code
        == 302
    )

    stranger = app.test_client()
    assert stranger.post(path).status_code == 400
    assert not is_signed_in(stranger)


def test_confirmation_link_reused_after_sign_out_signs_nobody_in(client, outbox):
    sign_up(client, "leaver@example.com")
    path = path_of(confirmation_link(outbox, "leaver@example.com"))
    assert client.post(path).status_code == 302
    assert is_signed_in(client)
    client.post("/sign-out")
    assert not is_signed_in(client)

    assert_already_confirmed_page(client.post(path))
    assert not is_signed_in(client)


def test_resend_confirmation_sends_a_working_link_and_reveals_nothing(app, outbox, make_user):
    make_user(email="unconfirmed@example.com", verified=False)
    make_user(email="confirmed@example.com")
    pages = {}
    for email in ("unconfirmed@example.com", "confirmed@example.com", "nobody@example.com"):
        browser = app.test_client()
        response = browser.post(
            "/confirm/resend", data={"email": email}, environ_base={"REMOTE_ADDR": fresh_ip()}
        )
        assert response.status_code == 303
        assert path_of(response.headers["Location"]) == "/sign-in"
        pages[email] = browser.get("/sign-in").text

    assert pages["unconfirmed@example.com"] == pages["confirmed@example.com"]
    assert pages["unconfirmed@example.com"] == pages["nobody@example.com"]
    assert "If an unconfirmed account uses that address" in pages["nobody@example.com"]
    assert outbox.to("confirmed@example.com") == []
    assert outbox.to("nobody@example.com") == []

    browser = app.test_client()
    assert (
        browser.post(path_of(confirmation_link(outbox, "unconfirmed@example.com"))).status_code
        == 302
    )
    assert is_signed_in(browser)
    assert find_user("unconfirmed@example.com").email_verified_at is not None


def test_sign_up_joins_the_organisation_of_a_registered_email_domain(client, make_organisation):
    acme = make_organisation("Acme Ltd", domains=("acme.example",))

    sign_up(client, "Jo@ACME.example")
    sign_up(client, "mo@notacme.example")
    sign_up(client, "bo@acme.example.evil.com")

    assert find_user("jo@acme.example").organisation_id == acme.id
    assert find_user("mo@notacme.example").organisation_id is None
    assert find_user("bo@acme.example.evil.com").organisation_id is None


# No account enumeration (item 6) --------------------------------------------------------


def test_signing_up_with_a_taken_address_looks_the_same_and_warns_the_owner(app, make_user, outbox):
    owner = make_user(email="owner@example.com", display_name="Original Owner")
    original_hash = owner.password_hash
    users_before = user_count()

    results = {}
    for email in ("owner@example.com", "stranger@example.com"):
        browser = app.test_client()
        response = sign_up(browser, email, display_name="Someone Else")
        follow = browser.get(response.headers["Location"])
        results[email] = (
            response.status_code,
            response.headers["Location"],
            follow.status_code,
            follow.text.replace(email, "EMAIL"),
        )

    assert results["owner@example.com"] == results["stranger@example.com"]
    assert user_count() == users_before + 1
    owner = find_user("owner@example.com")
    assert owner.display_name == "Original Owner"
    assert owner.password_hash == original_hash
    notes = outbox.to("owner@example.com")
    assert len(notes) == 1
    assert "tried to sign up" in notes[0]["Subject"]
    assert "/confirm/" not in notes[0].as_string()
    assert len(outbox.to("stranger@example.com")) == 1


def test_signing_up_with_a_taken_address_in_other_case_creates_nothing(app, make_user, outbox):
    make_user(email="mixed@example.com")

    response = sign_up(app.test_client(), "MIXED@Example.com")

    assert response.status_code == 303
    assert user_count() == 1
    assert len(outbox.to("mixed@example.com")) == 1


def _comparable(response, email):
    # Values that depend on the clock or on the email's length; their presence still counts.
    volatile = {"Date", "Content-Length", "Retry-After", "X-RateLimit-Reset", "X-Request-ID"}
    headers = sorted((k, "..." if k in volatile else v) for k, v in response.headers.items())
    return response.status_code, headers, response.text.replace(email, "EMAIL")


def test_failed_sign_in_looks_the_same_for_every_cause(app, make_user):
    make_user(email="known@example.com")
    make_user(email="unconfirmed@example.com", verified=False)
    make_user(email="banned@example.com", suspended_reason="Posting spam links")
    attempts = {
        "unknown email": ("nobody@example.com", DEFAULT_PASSWORD),
        "wrong password": ("known@example.com", "not the right password"),
        "unconfirmed, wrong password": ("unconfirmed@example.com", "not the right password"),
        "suspended, wrong password": ("banned@example.com", "not the right password"),
    }

    seen = {}
    for cause, (email, password) in attempts.items():
        browser = app.test_client()
        response = sign_in(browser, email, password, ip=fresh_ip())
        assert SIGN_IN_FAILED in text_of(response), cause
        assert "Posting spam links" not in text_of(response)
        assert not is_signed_in(browser)
        seen[cause] = _comparable(response, email)

    first = seen["unknown email"]
    for cause, observed in seen.items():
        assert observed == first, cause


def test_forgot_password_answers_the_same_for_known_and_unknown_addresses(app, make_user):
    make_user(email="known@example.com")

    seen = {}
    for email in ("known@example.com", "unknown@example.com"):
        browser = app.test_client()
        response = browser.post(
            "/password/forgot", data={"email": email}, environ_base={"REMOTE_ADDR": fresh_ip()}
        )
        follow = browser.get(response.headers["Location"])
        seen[email] = (
            response.status_code,
            response.headers["Location"],
            follow.status_code,
            follow.text,
        )

    assert seen["known@example.com"] == seen["unknown@example.com"]
    assert seen["known@example.com"][0] == 303
    assert "If an account uses that address" in seen["unknown@example.com"][3]


# Throttling (item 5) ------------------------------------------------------------------


def test_seventh_failed_sign_in_from_one_ip_in_a_minute_gets_429(client):
    for attempt in range(6):
        response = sign_in(client, "victim@example.com", f"guess number {attempt}", ip="10.9.9.9")
        assert response.status_code == 200, attempt

    response = sign_in(client, "victim@example.com", "guess number 7", ip="10.9.9.9")

    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60
    text = text_of(response)
    assert "Too many sign-in attempts" in text
    assert 'value="victim@example.com"' in text
    assert "guess number 7" not in text

    elsewhere = sign_in(client, "victim@example.com", "guess from elsewhere", ip="10.9.9.10")
    assert elsewhere.status_code == 200


def test_throttled_ip_cannot_sign_in_even_with_the_right_password(app, make_user):
    make_user(email="real@example.com")
    browser = app.test_client()
    for attempt in range(6):
        sign_in(browser, f"guess{attempt}@example.com", "wrong password", ip="10.8.8.8")

    response = sign_in(browser, "real@example.com", DEFAULT_PASSWORD, ip="10.8.8.8")

    assert response.status_code == 429
    assert not is_signed_in(browser)


def test_successful_sign_ins_do_not_count_towards_the_limit(app, make_user):
    user = make_user(email="regular@example.com")
    for _ in range(6):
        browser = app.test_client()
        assert sign_in(browser, user.email, ip="10.7.7.7").status_code == 302

    for attempt in range(6):
        response = sign_in(app.test_client(), user.email, f"typo {attempt}", ip="10.7.7.7")
        assert response.status_code == 200, attempt
    assert sign_in(app.test_client(), user.email, "typo 7", ip="10.7.7.7").status_code == 429


def test_per_account_limit_holds_across_many_ips(app, make_user):
    make_user(email="target@example.com")
    make_user(email="bystander@example.com")
    spellings = itertools.cycle(["target@example.com", "TARGET@example.com", " target@Example.com"])
    for attempt in range(10):
        response = sign_in(app.test_client(), next(spellings), f"spray {attempt}", ip=fresh_ip())
        assert response.status_code == 200, attempt

    response = sign_in(app.test_client(), "target@example.com", "spray 11", ip=fresh_ip())
    assert response.status_code == 429
    assert "Retry-After" in response.headers

    right_password = sign_in(app.test_client(), "target@example.com", ip=fresh_ip())
    assert right_password.status_code == 429
    bystander = app.test_client()
    assert sign_in(bystander, "bystander@example.com", ip=fresh_ip()).status_code == 302


# Default and demo accounts (item 7) ---------------------------------------------------


def test_fresh_database_has_no_accounts_and_no_default_credentials_work(client):
    client.get("/")
    client.get("/sign-in")
    assert user_count() == 0

    for email, password in [
        ("admin@portal.example", "admin"),
        ("admin@portal.example", "password"),
        ("admin@example.com", "admin"),
        ("admin@localhost", "changeme"),
    ]:
        response = sign_in(client, email, password)
        assert SIGN_IN_FAILED in text_of(response)
    assert user_count() == 0
    assert not is_signed_in(client)


def test_demo_password_is_generated_per_instance_and_printed(
    app, runner, tmp_path, app_config, monkeypatch
):
    db.session.commit()
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output

    generated = (tmp_path / "instance" / "demo-password").read_text().strip()
    assert len(generated) >= 16
    assert f"password for all: {generated}" in result.output
    assert "admin@portal.example" in result.output
    browser = app.test_client()
    # The demo admin sets two-factor up on their first sign-in, as every admin must.
    response = sign_in(browser, "admin@portal.example", generated)
    assert response.headers["Location"] == "/sign-in/two-factor"
    assert "Set up two-factor sign-in" in text_of(browser.get("/sign-in/two-factor"))
    assert not is_signed_in(browser)
    done = pass_two_factor(browser, response, "admin@portal.example")  # scans, types a code
    assert "Your recovery codes" in text_of(done)
    assert is_signed_in(browser)

    from portal.demo import demo_password

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "another-instance"))
    other_app = create_app(app_config)
    try:
        with other_app.app_context():
            assert demo_password() != generated
            assert demo_password() == demo_password()
    finally:
        with other_app.app_context():
            db.engine.dispose()


def test_demo_password_comes_from_configuration_when_set(app, runner, tmp_path):
    app.config["DEMO_PASSWORD"] = "violet lantern over the river"
    db.session.commit()

    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code == 0, result.output
    assert "password for all: violet lantern over the river" in result.output
    assert not (tmp_path / "instance" / "demo-password").exists()
    assert (
        sign_in(
            app.test_client(), "priya.pm@portal.example", "violet lantern over the river"
        ).status_code
        == 302
    )


def test_demo_password_can_be_set_by_portal_environment_variable(app_config, tmp_path, monkeypatch):
    from portal.demo import demo_password

    monkeypatch.setenv("PORTAL_DEMO_PASSWORD", "granite kettle humming softly")
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "env-instance"))
    other_app = create_app(app_config)
    try:
        with other_app.app_context():
            assert demo_password() == "granite kettle humming softly"
    finally:
        with other_app.app_context():
            db.engine.dispose()


# Cookies (item 9) ---------------------------------------------------------------------


def test_session_and_remember_cookies_are_httponly_lax_and_remember_lasts_30_days(
    client, make_user
):
    user = make_user()
    before = datetime.now(UTC)
    response = sign_in(client, user.email, remember=True)
    assert response.status_code == 302

    for name in (SESSION_COOKIE, REMEMBER_COOKIE):
        cookie = client.get_cookie(name)
        assert cookie is not None, name
        assert cookie.http_only, name
        assert cookie.same_site == "Lax", name
        assert not cookie.secure, f"{name} is Secure although BASE_URL is http"

    expires = client.get_cookie(REMEMBER_COOKIE).expires
    assert expires is not None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    assert before + timedelta(days=30) - timedelta(minutes=5) <= expires
    assert expires <= datetime.now(UTC) + timedelta(days=30, minutes=5)


@pytest.mark.parametrize("app_config", [{"BASE_URL": "https://portal.test"}], indirect=True)
def test_cookies_are_secure_when_the_site_is_https(client, make_user):
    user = make_user()
    response = client.post(
        "/sign-in",
        data={"email": user.email, "password": DEFAULT_PASSWORD, "remember": "y"},
        base_url="https://localhost",
    )
    assert response.status_code == 302
    set_cookies = response.headers.getlist("Set-Cookie")
    for name in (SESSION_COOKIE, REMEMBER_COOKIE):
        header = next(h for h in set_cookies if h.startswith(f"{name}="))
        attributes = {part.strip().lower() for part in header.split(";")}
        assert "secure" in attributes, header
        assert "httponly" in attributes, header
        assert "samesite=lax" in attributes, header


def set_cookies(response) -> dict[str, str]:
    """The cookies a response sets (or clears), by name."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_a_signed_in_session_is_written_only_when_it_changes(client, make_user, stages):
    user = make_user()
    sign_in(client, user.email, ip="127.0.0.1")
    client.get("/")  # shows the welcome (a flash): the session changes once more

    first, second = client.get("/"), client.get("/")

    assert "Sign out" in first.text
    assert set_cookies(first) == {}
    assert set_cookies(second) == {}
    assert second.headers["X-Cache"] == "hit"  # the page kept for this session is used


@pytest.mark.parametrize("how", ["signed out elsewhere", "suspended", "expired"])
def test_a_browser_holding_an_ended_sign_in_forgets_it_once(app, client, make_user, stages, how):
    user = make_user()
    sign_in(client, user.email, remember=True, ip="127.0.0.1")
    client.get("/")
    if how == "signed out elsewhere":
        db.session.execute(UserSession.__table__.delete())
    elif how == "suspended":
        user.suspended_at, user.suspension_reason = utcnow(), "Spam"
    else:
        db.session.execute(
            UserSession.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1))
        )
    db.session.commit()

    forgetting = client.get("/")
    client.get("/")  # Flask-Login marks a session without a sign-in as not fresh, once
    later = [client.get("/") for _ in range(3)]

    # The remember-me cookie is cleared and the session keeps no key of the ended sign-in ...
    cleared = set_cookies(forgetting)
    assert set(cleared) == {SESSION_COOKIE, REMEMBER_COOKIE}
    assert "Expires=Thu, 01 Jan 1970" in cleared[REMEMBER_COOKIE]
    assert client.get_cookie(REMEMBER_COOKIE) is None
    # ... so later answers set no cookie, and the visitors' shared page is kept and used.
    assert [set_cookies(response) for response in later] == [{}, {}, {}]
    assert "Sign in" in later[-1].text and user.display_name not in later[-1].text
    assert [response.headers.get("X-Cache") for response in later] == ["miss", "hit", "hit"]


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}], indirect=True)
def test_new_tokens_sign_in_flashes_and_sign_out_still_write_the_session(app, make_user, stages):
    user = make_user()
    browser = app.test_client()

    form = browser.get("/sign-in")
    signed_in = browser.post(
        "/sign-in",
        data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": csrf_token_in(form)},
    )
    welcome, home = browser.get("/"), browser.get("/")
    signed_out = browser.post("/sign-out", data={"csrf_token": csrf_token_in(home)})

    assert SESSION_COOKIE in set_cookies(form)  # the form's new CSRF token
    assert SESSION_COOKIE in set_cookies(signed_in)
    assert "Welcome" in welcome.text and SESSION_COOKIE in set_cookies(welcome)  # flash shown
    assert set_cookies(home) == {}
    assert SESSION_COOKIE in set_cookies(signed_out)
    assert not is_signed_in(browser)


# Session fixation, sign-out replay, suspension (items 10-12) ----------------------------


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}], indirect=True)
def test_cookie_captured_before_sign_in_is_not_signed_in_afterwards(app, make_user):
    user = make_user()
    attacker = app.test_client()
    attacker.get("/sign-in")
    captured = cookie_value(attacker, SESSION_COOKIE)

    victim = client_with_cookies(app, **{SESSION_COOKIE: captured})
    token = csrf_token_in(victim.get("/sign-in"))
    response = victim.post(
        "/sign-in",
        data={"email": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert is_signed_in(victim)
    assert cookie_value(victim, SESSION_COOKIE) != captured

    assert not is_signed_in(attacker)
    assert not is_signed_in(client_with_cookies(app, **{SESSION_COOKIE: captured}))


def test_replayed_cookies_after_sign_out_are_not_signed_in(app, make_user):
    user = make_user()
    browser = app.test_client()
    sign_in(browser, user.email, remember=True)
    assert is_signed_in(browser)
    old_session = cookie_value(browser, SESSION_COOKIE)
    old_remember = cookie_value(browser, REMEMBER_COOKIE)

    response = browser.post("/sign-out")
    assert response.status_code == 302
    assert not is_signed_in(browser)
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0

    assert not is_signed_in(client_with_cookies(app, **{SESSION_COOKIE: old_session}))
    assert not is_signed_in(client_with_cookies(app, **{REMEMBER_COOKIE: old_remember}))
    assert not is_signed_in(
        client_with_cookies(app, **{SESSION_COOKIE: old_session, REMEMBER_COOKIE: old_remember})
    )


def test_sign_out_ends_only_that_browser(app, make_user):
    user = make_user()
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, user.email)
    sign_in(phone, user.email)

    laptop.post("/sign-out")

    assert not is_signed_in(laptop)
    assert is_signed_in(phone)


def test_sign_out_needs_a_post(app, make_user):
    user = make_user()
    browser = app.test_client()
    sign_in(browser, user.email)

    assert browser.get("/sign-out").status_code == 405
    assert is_signed_in(browser)


def test_suspended_user_is_signed_out_at_once_and_told_why_on_sign_in(
    client, app, login_as, make_user
):
    login_as("admin")
    member = make_user(email="member@example.com")
    browser = app.test_client()
    sign_in(browser, member.email, remember=True)
    remember = cookie_value(browser, REMEMBER_COOKIE)
    assert is_signed_in(browser)

    response = client.post(
        f"/admin/users/{member.id}/suspend", data={"reason": "Repeated spam in comments"}
    )
    assert response.status_code == 303

    assert not is_signed_in(browser)
    assert not is_signed_in(client_with_cookies(app, **{REMEMBER_COOKIE: remember}))
    home = browser.get("/")
    assert "Sign in" in home.text
    assert member.display_name not in home.text

    refused = sign_in(browser, member.email)
    assert refused.status_code == 200
    assert "suspended" in text_of(refused)
    assert "Repeated spam in comments" in text_of(refused)
    assert not is_signed_in(browser)


# Where sign-in returns to -------------------------------------------------------------


def test_sign_in_returns_to_the_page_that_asked_for_it(client, make_user):
    user = make_user()
    to_sign_in = client.get("/account")
    assert to_sign_in.status_code == 302
    page = client.get(to_sign_in.headers["Location"])
    assert 'value="/account"' in input_tag(page.text, "next")

    response = sign_in(client, user.email, next_="/account")

    assert response.status_code == 302
    assert response.headers["Location"] in ("/account", "http://localhost/account")


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "///evil.example",
        "https://evil.example/",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        " //evil.example",
    ],
)
def test_sign_in_ignores_next_pointing_elsewhere(client, make_user, target):
    user = make_user()
    response = sign_in(client, user.email, next_=target)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert location.scheme in ("", "http")
    assert location.path == "/"
    assert is_signed_in(client)


def test_signed_in_visit_to_sign_in_ignores_next_pointing_elsewhere(client, login_as):
    login_as()
    response = client.get("/sign-in?next=//evil.example")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).netloc in ("", "localhost")
    assert urlsplit(response.headers["Location"]).path == "/"


# The account page: display name -------------------------------------------------------


def test_display_name_change_is_saved_with_spaces_tidied(client, login_as):
    user = login_as(display_name="Old Name")

    response = client.post("/account/display-name", data={"display_name": "  New   Name "})

    assert response.status_code == 303
    assert db.session.get(User, user.id).display_name == "New Name"
    page = client.get("/account")
    assert "Your display name is changed." in page.text
    assert "New Name" in page.text


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("J", "between 2 and 60 characters"),
        ("y" * 61, "between 2 and 60 characters"),
        ("   ", "Enter a display name of at least 2 characters."),
        ("", "Enter a display name."),
    ],
)
def test_invalid_display_name_shows_the_error_and_keeps_the_typed_text(
    client, login_as, typed, message
):
    user = login_as(display_name="Kept Name")

    response = client.post("/account/display-name", data={"display_name": typed})

    assert response.status_code == 400
    text = text_of(response)
    assert message in text
    assert f'value="{typed}"' in text
    assert 'name="current_password"' in text, "the password form is still on the page"
    assert db.session.get(User, user.id).display_name == "Kept Name"


# Audit (item 24, accounts) ------------------------------------------------------------


def test_account_events_are_audited_without_passwords_or_tokens(app, make_user, outbox):
    user = make_user(email="audited@example.com")
    browser = app.test_client()
    wrong = "my wrong guess of a password"

    sign_in(browser, user.email, wrong, ip="10.1.2.3")
    sign_in(browser, user.email, ip="10.1.2.4")
    browser.post(
        "/account/password",
        data={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        environ_base={"REMOTE_ADDR": "10.1.2.5"},
    )
    browser.post("/sign-out", environ_base={"REMOTE_ADDR": "10.1.2.6"})
    browser.post("/password/forgot", data={"email": user.email})
    reset_link = link_in(outbox.to(user.email)[-1], "/password/reset/")
    token = reset_link.rsplit("/", 1)[1]
    final_password = "yet another passphrase of mine"
    assert browser.post(path_of(reset_link), data={"password": final_password}).status_code == 302

    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    by_action = {e.action: e for e in events}
    for action, ip in [
        ("sign_in.failed", "10.1.2.3"),
        ("sign_in.succeeded", "10.1.2.4"),
        ("account.password_changed", "10.1.2.5"),
        ("sign_out", "10.1.2.6"),
        ("account.password_reset_requested", "127.0.0.1"),
        ("account.password_reset", "127.0.0.1"),
    ]:
        assert action in by_action, f"no {action} audit row; have {sorted(by_action)}"
        event = by_action[action]
        assert event.ip == ip, action
        assert event.target_type == "users", action
        assert event.target_id == user.id, action
        assert event.created_at.tzinfo is not None, action
        assert abs(datetime.now(UTC) - event.created_at) < timedelta(minutes=5), action
    assert by_action["sign_in.succeeded"].actor_id == user.id
    assert by_action["sign_in.failed"].actor_id is None

    for event in events:
        recorded = repr((event.action, event.ip, event.target_type, event.target_id, event.detail))
        for secret in (wrong, DEFAULT_PASSWORD, NEW_PASSWORD, final_password, token):
            assert secret not in recorded, (event.action, "leaks a secret")


# Signing in to do something: vote, follow, comment (portal.intent) --------------------------


def votes_of(user_id: int, idea_id: int) -> int:
    from portal.models import Vote

    return db.session.scalar(
        select(func.count())
        .select_from(Vote)
        .where(Vote.user_id == user_id, Vote.idea_id == idea_id)
    )


def follows(user_id: int, idea_id: int) -> bool:
    from portal.models import Follow

    return (
        db.session.scalar(
            select(Follow.user_id).where(Follow.user_id == user_id, Follow.idea_id == idea_id)
        )
        is not None
    )


def sign_in_to(client, action: str, idea_id: int, email: str, password=DEFAULT_PASSWORD):
    """What a browser sends from the page /sign-in?intent=...&idea=... shows."""
    page = client.get(f"/sign-in?next=/ideas/{idea_id}&intent={action}&idea={idea_id}")
    assert page.status_code == 200
    assert f'name="intent" type="hidden" value="{action}"' in page.text
    return client.post(
        "/sign-in",
        data={
            "email": email,
            "password": password,
            "next": f"/ideas/{idea_id}",
            "intent": action,
            "idea": str(idea_id),
        },
        environ_base={"REMOTE_ADDR": fresh_ip()},
    )


def test_the_vote_link_says_what_sign_in_is_for_and_the_vote_is_cast(client, make_user, make_idea):
    idea = make_idea("Dark mode for the reports page")
    voter = make_user(email="voter@example.com")
    page = client.get(f"/ideas/{idea.id}").text
    assert f"intent=vote&amp;idea={idea.id}" in page  # the signed-out Vote button

    sign_in_page = client.get(f"/sign-in?next=/ideas/{idea.id}&intent=vote&idea={idea.id}")
    assert "Sign in to vote for “Dark mode for the reports page”" in text_of(sign_in_page)
    assert "Sign in and vote" in text_of(sign_in_page)
    assert votes_of(voter.id, idea.id) == 0  # showing the page does nothing

    response = sign_in_to(client, "vote", idea.id, "voter@example.com")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    assert votes_of(voter.id, idea.id) == 1 and follows(voter.id, idea.id)
    assert "Your vote for “Dark mode for the reports page” is counted" in text_of(
        client.get(f"/ideas/{idea.id}")
    )


def test_a_link_alone_casts_no_vote_without_the_sign_in_form_saying_so(
    client, make_user, make_idea
):
    # The address is only what the page offers: a plain sign-in afterwards does not vote.
    idea = make_idea()
    voter = make_user(email="plain@example.com")
    client.get(f"/sign-in?intent=vote&idea={idea.id}")
    assert sign_in(client, "plain@example.com").status_code == 302
    assert votes_of(voter.id, idea.id) == 0


def test_a_failed_sign_in_keeps_the_intent_for_the_next_try(client, make_user, make_idea):
    idea = make_idea("Bulk edit of contacts")
    voter = make_user(email="typo@example.com")
    failed = sign_in_to(client, "vote", idea.id, "typo@example.com", password="wrong one")
    assert "Sign in to vote for “Bulk edit of contacts”" in text_of(failed)
    assert f'name="idea" type="hidden" value="{idea.id}"' in failed.text
    assert sign_in_to(client, "vote", idea.id, "typo@example.com").status_code == 302
    assert votes_of(voter.id, idea.id) == 1


def test_signing_in_to_follow_follows_without_voting(client, make_user, make_idea):
    idea = make_idea("Calendar sync")
    person = make_user(email="follower@example.com")
    assert "intent=follow" in client.get(f"/ideas/{idea.id}").text
    response = sign_in_to(client, "follow", idea.id, "follower@example.com")
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    assert follows(person.id, idea.id) and votes_of(person.id, idea.id) == 0


@pytest.mark.parametrize("idea_id", ["999999", "abc", ""])
def test_an_intent_naming_no_idea_is_a_plain_sign_in(client, make_user, idea_id):
    make_user(email="nobody@example.com")
    page = client.get(f"/sign-in?intent=vote&idea={idea_id}")
    assert page.status_code == 200
    assert "Sign in to vote" not in text_of(page)


def test_a_comment_typed_before_signing_in_is_back_in_the_box(client, make_user, make_idea):
    idea = make_idea("Offline mode")
    make_user(email="commenter@example.com")
    page = client.get(f"/ideas/{idea.id}").text
    assert f'action="/ideas/{idea.id}/comments/draft"' in page  # a box for signed-out people

    kept = client.post(
        f"/ideas/{idea.id}/comments/draft", data={"body": "We work on trains all week."}
    )
    assert kept.status_code == 303
    assert "intent=comment" in kept.headers["Location"]
    assert "Sign in to post your comment on “Offline mode”" in text_of(
        client.get(kept.headers["Location"])
    )
    response = sign_in_to(client, "comment", idea.id, "commenter@example.com")

    assert response.headers["Location"] == f"/ideas/{idea.id}#conversation"
    idea_page = client.get(f"/ideas/{idea.id}")
    assert "We work on trains all week.</textarea>" in idea_page.text
    assert "Your comment is in the box below" in text_of(idea_page)
    from portal.models import Comment

    assert db.session.scalar(select(func.count()).select_from(Comment)) == 0  # not posted

    posted = client.post(f"/ideas/{idea.id}/comments", data={"body": "We work on trains."})
    assert posted.status_code == 303
    assert "We work on trains all week.</textarea>" not in client.get(f"/ideas/{idea.id}").text


def test_a_comment_sent_after_the_session_ended_is_kept(client, make_idea):
    idea = make_idea()
    response = client.post(f"/ideas/{idea.id}/comments", data={"body": "Typed for ages."})
    assert response.status_code == 303
    assert "intent=comment" in response.headers["Location"]
    with client.session_transaction() as sess:
        assert sess["comment_draft"] == {"idea": idea.id, "body": "Typed for ages."}


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
    ],
)
def test_another_site_cannot_put_words_in_the_comment_box(client, make_idea, headers):
    idea = make_idea()
    response = client.post(
        f"/ideas/{idea.id}/comments/draft", data={"body": "Buy pills"}, headers=headers
    )
    assert response.status_code == 403
    with client.session_transaction() as sess:
        assert "comment_draft" not in sess


def test_our_own_page_may_keep_a_draft(client, make_idea):
    idea = make_idea()
    response = client.post(
        f"/ideas/{idea.id}/comments/draft",
        data={"body": "Mine"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    )
    assert response.status_code == 303


def sign_up_to(client, action: str, idea_id: int, email: str):
    page = client.get(f"/sign-up?intent={action}&idea={idea_id}")
    assert page.status_code == 200
    return client.post(
        "/sign-up",
        data={
            "email": email,
            "display_name": "Jo Tester",
            "password": DEFAULT_PASSWORD,
            "accept_guidelines": "y",
            "intent": action,
            "idea": str(idea_id),
        },
        environ_base={"REMOTE_ADDR": fresh_ip()},
    )


def full_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_signing_up_to_vote_casts_the_vote_when_the_address_is_confirmed(client, outbox, make_idea):
    idea = make_idea("Two-factor sign-in")
    page = client.get(f"/sign-up?intent=vote&idea={idea.id}")
    assert "Create an account to vote for “Two-factor sign-in”" in text_of(page)

    response = sign_up_to(client, "vote", idea.id, "newvoter@example.com")
    assert response.headers["Location"] == "/sign-up/check-email"
    assert "with your vote counted" in text_of(client.get("/sign-up/check-email"))
    link = full_path(confirmation_link(outbox, "newvoter@example.com"))
    assert link.endswith(f"?next=/ideas/{idea.id}") or link.endswith(f"?next=%2Fideas%2F{idea.id}")

    confirmed = client.post(link)

    assert confirmed.headers["Location"] == f"/ideas/{idea.id}"
    user = find_user("newvoter@example.com")
    assert votes_of(user.id, idea.id) == 1 and follows(user.id, idea.id)


def test_a_confirmation_link_opened_in_another_browser_lands_on_the_idea(
    app, client, outbox, make_idea
):
    idea = make_idea()
    sign_up_to(client, "vote", idea.id, "twobrowsers@example.com")
    link = full_path(confirmation_link(outbox, "twobrowsers@example.com"))

    confirmed = app.test_client().post(link)

    assert confirmed.headers["Location"] == f"/ideas/{idea.id}"
    # Nobody pressed Vote in that browser: it only lands on the idea.
    assert votes_of(find_user("twobrowsers@example.com").id, idea.id) == 0


def test_a_comment_typed_before_signing_up_waits_for_the_confirmed_address(
    client, outbox, make_idea
):
    idea = make_idea("Export to CSV")
    client.post(f"/ideas/{idea.id}/comments/draft", data={"body": "CSV for our auditors."})
    sign_up_to(client, "comment", idea.id, "newcommenter@example.com")
    link = full_path(confirmation_link(outbox, "newcommenter@example.com"))

    confirmed = client.post(link)

    assert confirmed.headers["Location"] == f"/ideas/{idea.id}#conversation"
    assert "CSV for our auditors.</textarea>" in client.get(f"/ideas/{idea.id}").text
