"""Passwords: how they are stored, which are accepted, changing them and resetting them.

SECURITY.md items 1, 2, 3, 4 and 8.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import User, UserSession
from portal.services import accounts
from portal.services.accounts import SIGN_IN_FAILED
from portal.services.passwords import common_passwords, password_problem

from .conftest import DEFAULT_PASSWORD
from .helpers import link_in
from .helpers import page_text as text_of

NEW_PASSWORD = "a fresh and rather long passphrase"
SESSION_COOKIE = "portal_session"
REMEMBER_COOKIE = "portal_remember"
COMMON_MESSAGE = "one of the most common"
TOO_SHORT_MESSAGE = "Use at least 8 characters."

# 64 characters: spaces at both ends, doubled spaces inside, emoji and accents.
PASSPHRASE = " my 🐙 octopus  keeps the 🔑 under a rock, café ☕ at noon 🌊 okay! "
assert len(PASSPHRASE) == 64

_ips = itertools.count(1)


def fresh_ip() -> str:
    n = next(_ips)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


# Helpers: what a browser does -----------------------------------------------------------


def sign_up(client, email, password, *, display_name="Pat Example"):
    return client.post(
        "/sign-up",
        data={
            "email": email,
            "display_name": display_name,
            "password": password,
            "accept_guidelines": "y",
        },
        environ_base={"REMOTE_ADDR": fresh_ip()},
    )


def sign_in(client, email, password=DEFAULT_PASSWORD, *, remember=False):
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/sign-in", data=data, environ_base={"REMOTE_ADDR": fresh_ip()})


def can_sign_in(app, email, password) -> bool:
    browser = app.test_client()
    response = sign_in(browser, email, password)
    if response.status_code == 302:
        return True
    assert response.status_code == 200
    assert SIGN_IN_FAILED in text_of(response)
    return False


def is_signed_in(client) -> bool:
    response = client.get("/account")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    return False


def change_password(client, current, new):
    return client.post("/account/password", data={"current_password": current, "new_password": new})


def path_of(url: str) -> str:
    return urlsplit(url).path


def find_user(email) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.lower()))


def request_reset(app, email, **kwargs):
    browser = app.test_client()
    return browser.post(
        "/password/forgot",
        data={"email": email},
        environ_base={"REMOTE_ADDR": fresh_ip()},
        **kwargs,
    )


def reset_links(outbox, email) -> list[str]:
    return [
        link_in(m, "/password/reset/")
        for m in outbox.to(email)
        if "Reset your password" in m["Subject"]
    ]


def sign_up_and_confirm(app, outbox, email, password) -> None:
    browser = app.test_client()
    assert sign_up(browser, email, password).status_code == 303
    message = next(m for m in outbox.to(email) if "Confirm your email" in m["Subject"])
    assert browser.post(path_of(link_in(message, "/confirm/"))).status_code == 302


def argon2_parameters(password_hash: str) -> tuple[str, dict[str, int]]:
    """'$argon2id$v=19$m=19456,t=2,p=1$salt$hash' -> ('argon2id', {'m': 19456, ...})."""
    _, variant, _version, params, _salt, _digest = password_hash.split("$")
    return variant, {k: int(v) for k, v in (p.split("=") for p in params.split(","))}


# Storage (item 1) ---------------------------------------------------------------------


def assert_strong_argon2id(password_hash: str) -> None:
    variant, params = argon2_parameters(password_hash)
    assert variant == "argon2id"
    assert params["m"] >= 19_456
    assert params["t"] >= 2
    assert params["p"] == 1


def test_signed_up_password_is_stored_as_argon2id_with_owasp_parameters(client):
    sign_up(client, "stored@example.com", NEW_PASSWORD)

    stored = find_user("stored@example.com").password_hash
    assert NEW_PASSWORD not in stored
    assert_strong_argon2id(stored)


def test_same_password_gets_a_different_salt_for_each_account(app):
    sign_up(app.test_client(), "twin1@example.com", NEW_PASSWORD)
    sign_up(app.test_client(), "twin2@example.com", NEW_PASSWORD)

    first = find_user("twin1@example.com").password_hash
    second = find_user("twin2@example.com").password_hash
    assert first != second
    assert first.split("$")[4] != second.split("$")[4]


def test_changed_password_is_stored_as_strong_argon2id(client, login_as):
    user = login_as()
    assert change_password(client, DEFAULT_PASSWORD, NEW_PASSWORD).status_code == 303
    assert_strong_argon2id(db.session.get(User, user.id).password_hash)


def test_weaker_old_hash_is_upgraded_at_the_next_sign_in(app, make_user):
    user = make_user(email="legacy@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    user.password_hash = weak.hash(NEW_PASSWORD)
    db.session.commit()

    assert can_sign_in(app, "legacy@example.com", NEW_PASSWORD)

    upgraded = find_user("legacy@example.com").password_hash
    assert_strong_argon2id(upgraded)
    assert can_sign_in(app, "legacy@example.com", NEW_PASSWORD)


# What is accepted (items 2 and 3) -----------------------------------------------------


def test_seven_characters_are_refused_at_sign_up(client, outbox):
    response = sign_up(client, "short@example.com", "Zq7#kLp")

    assert response.status_code == 200
    assert TOO_SHORT_MESSAGE in text_of(response)
    assert find_user("short@example.com") is None
    assert outbox.messages() == []


def test_eight_characters_are_accepted_at_sign_up_and_sign_in(app, outbox):
    sign_up_and_confirm(app, outbox, "eight@example.com", "Zq7#kLpx")

    assert find_user("eight@example.com") is not None
    assert can_sign_in(app, "eight@example.com", "Zq7#kLpx")


def test_seven_characters_are_refused_and_eight_accepted_when_changing(client, login_as):
    user = login_as()

    refused = change_password(client, DEFAULT_PASSWORD, "Zq7#kLp")
    assert refused.status_code == 400
    assert TOO_SHORT_MESSAGE in text_of(refused)
    assert accounts.verify_password(db.session.get(User, user.id).password_hash, DEFAULT_PASSWORD)

    assert change_password(client, DEFAULT_PASSWORD, "Zq7#kLpx").status_code == 303
    assert accounts.verify_password(db.session.get(User, user.id).password_hash, "Zq7#kLpx")


def test_long_passphrase_with_spaces_and_emoji_signs_in_exactly_as_typed(app, outbox):
    sign_up_and_confirm(app, outbox, "phrase@example.com", PASSPHRASE)
    # Nine near misses: one more would reach the per-account limit of failed sign-ins.

    assert can_sign_in(app, "phrase@example.com", PASSPHRASE)
    for variant in [
        PASSPHRASE.strip(),
        PASSPHRASE.rstrip(),
        PASSPHRASE.lstrip(),
        " ".join(PASSPHRASE.split()),
        PASSPHRASE.upper(),
        PASSPHRASE.replace("🐙", ""),
        PASSPHRASE.replace("é", "e\u0301"),  # the same letter, decomposed
        PASSPHRASE[:-2] + "? ",
        PASSPHRASE[:63],
    ]:
        assert variant != PASSPHRASE
        assert not can_sign_in(app, "phrase@example.com", variant), repr(variant)


def test_long_password_is_not_truncated(app, make_user):
    long_password = "x" * 150 + " the part that matters"
    make_user(email="long@example.com", password=long_password)

    assert can_sign_in(app, "long@example.com", long_password)
    assert not can_sign_in(app, "long@example.com", "x" * 150 + " the part that differs")
    assert not can_sign_in(app, "long@example.com", long_password[:72])


@pytest.mark.parametrize("password", ["password1", "qwertyuiop", "Password1", "iloveyou"])
def test_common_password_is_refused_at_sign_up(client, outbox, password):
    response = sign_up(client, "common@example.com", password)

    assert response.status_code == 200
    assert COMMON_MESSAGE in text_of(response)
    assert find_user("common@example.com") is None
    assert outbox.messages() == []


@pytest.mark.parametrize("password", ["password1", "qwertyuiop"])
def test_common_password_is_refused_when_changing(client, login_as, password):
    user = login_as()

    response = change_password(client, DEFAULT_PASSWORD, password)

    assert response.status_code == 400
    assert COMMON_MESSAGE in text_of(response)
    assert accounts.verify_password(db.session.get(User, user.id).password_hash, DEFAULT_PASSWORD)


def test_bundled_list_has_at_least_ten_thousand_passwords_all_refused(app):
    listed = common_passwords()

    assert len(listed) >= 10_000
    long_enough = [p for p in listed if len(p) >= 8]
    assert long_enough
    accepted = [p for p in long_enough if password_problem(p) is None]
    assert accepted == []


@pytest.mark.parametrize(
    "password",
    [
        "only lowercase letters here",
        "83920175",
        "ALLCAPSNOSPACE",
        "!?*#!?*#",
        "ÄÖÜ ñ 中文 🙂🙂",
    ],
)
def test_no_composition_rules(app, outbox, password):
    assert password_problem(password) is None
    sign_up_and_confirm(app, outbox, "free@example.com", password)

    assert can_sign_in(app, "free@example.com", password)


def test_password_equal_to_the_email_address_is_refused(client):
    response = sign_up(client, "sameasmail@example.com", "sameasmail@example.com")
    assert response.status_code == 200
    assert "must not be your email address" in text_of(response)
    assert find_user("sameasmail@example.com") is None


# Changing the password (item 4) -------------------------------------------------------


def test_changing_the_password_needs_the_right_current_password(client, login_as):
    user = login_as()
    before = db.session.get(User, user.id).password_hash

    wrong = change_password(client, "not my password at all", NEW_PASSWORD)
    assert wrong.status_code == 400
    assert "Your current password is not right." in text_of(wrong)
    assert NEW_PASSWORD not in text_of(wrong)
    assert "not my password at all" not in text_of(wrong)

    missing = change_password(client, "", NEW_PASSWORD)
    assert missing.status_code == 400
    assert "Enter your current password." in text_of(missing)

    assert db.session.get(User, user.id).password_hash == before
    assert is_signed_in(client)


def test_changing_the_password_ends_other_sessions_and_remember_cookies(app, make_user):
    user = make_user(email="mover@example.com")
    here = app.test_client()
    sign_in(here, user.email, remember=True)
    laptop = app.test_client()
    sign_in(laptop, user.email)
    phone = app.test_client()
    sign_in(phone, user.email, remember=True)
    phone_remember_only = app.test_client()
    phone_remember_only.set_cookie(REMEMBER_COOKIE, phone.get_cookie(REMEMBER_COOKIE).value)
    here_remember_only = app.test_client()
    here_remember_only.set_cookie(REMEMBER_COOKIE, here.get_cookie(REMEMBER_COOKIE).value)
    for browser in (here, laptop, phone, phone_remember_only, here_remember_only):
        assert is_signed_in(browser)

    response = change_password(here, DEFAULT_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert "Your password is changed" in here.get("/account").text

    assert is_signed_in(here)
    assert is_signed_in(here_remember_only)
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not is_signed_in(phone_remember_only)
    remaining = db.session.scalar(
        select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)
    )
    assert remaining == 1

    assert not can_sign_in(app, user.email, DEFAULT_PASSWORD)
    assert can_sign_in(app, user.email, NEW_PASSWORD)


def test_changing_the_password_leaves_other_accounts_signed_in(app, make_user):
    mover = make_user()
    neighbour = make_user()
    mover_browser, neighbour_browser = app.test_client(), app.test_client()
    sign_in(mover_browser, mover.email)
    sign_in(neighbour_browser, neighbour.email, remember=True)

    change_password(mover_browser, DEFAULT_PASSWORD, NEW_PASSWORD)

    assert is_signed_in(neighbour_browser)


# Password reset (item 8) --------------------------------------------------------------


def test_reset_link_uses_base_url_not_the_host_header(app, make_user, outbox):
    make_user(email="hosty@example.com")

    request_reset(app, "hosty@example.com", base_url="http://evil.example")

    [link] = reset_links(outbox, "hosty@example.com")
    assert link.startswith("http://portal.test/password/reset/")
    assert "evil.example" not in outbox.to("hosty@example.com")[0].as_string()


def test_reset_for_an_unknown_or_malformed_address_sends_nothing(app, make_user, outbox):
    make_user(email="someone@example.com")

    for email in ("nobody@example.com", "not an address", "someone@example.co"):
        assert request_reset(app, email).status_code == 303

    assert outbox.messages() == []


def test_reset_tokens_are_random_and_only_their_hash_is_stored(app, make_user, outbox):
    make_user(email="one@example.com")
    make_user(email="two@example.com")

    request_reset(app, "one@example.com")
    request_reset(app, "two@example.com")

    token_one = reset_links(outbox, "one@example.com")[0].rsplit("/", 1)[1]
    token_two = reset_links(outbox, "two@example.com")[0].rsplit("/", 1)[1]
    assert token_one != token_two
    assert len(token_one) >= 32
    assert not token_one.isdigit()
    stored = find_user("one@example.com").reset_token_hash
    assert stored
    assert token_one not in stored
    assert stored != token_one


def test_reset_link_works_once_and_signs_in(app, make_user, outbox):
    user = make_user(email="forgetful@example.com")
    request_reset(app, user.email)
    [link] = reset_links(outbox, user.email)
    browser = app.test_client()

    page = browser.get(path_of(link))
    assert page.status_code == 200
    assert "forgetful@example.com" in page.text

    response = browser.post(path_of(link), data={"password": NEW_PASSWORD})
    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/account"
    assert is_signed_in(browser)
    assert can_sign_in(app, user.email, NEW_PASSWORD)
    assert not can_sign_in(app, user.email, DEFAULT_PASSWORD)

    again = app.test_client()
    reused = again.post(path_of(link), data={"password": "an attacker's new password"})
    assert reused.status_code == 400
    assert "invalid, has expired or has already been used" in text_of(reused)
    assert again.get(path_of(link)).status_code == 400
    assert can_sign_in(app, user.email, NEW_PASSWORD)


def test_refused_new_password_does_not_use_up_the_reset_link(app, make_user, outbox):
    user = make_user(email="retry@example.com")
    request_reset(app, user.email)
    [link] = reset_links(outbox, user.email)
    browser = app.test_client()

    for weak, message in (("Zq7#kLp", TOO_SHORT_MESSAGE), ("password1", COMMON_MESSAGE)):
        response = browser.post(path_of(link), data={"password": weak})
        assert response.status_code == 200
        assert message in text_of(response)
    assert can_sign_in(app, user.email, DEFAULT_PASSWORD)

    assert browser.post(path_of(link), data={"password": NEW_PASSWORD}).status_code == 302
    assert can_sign_in(app, user.email, NEW_PASSWORD)


def test_reset_link_expires_after_an_hour(app, make_user, outbox, monkeypatch):
    user = make_user(email="late@example.com")
    issued = datetime.now(UTC)
    clock = {"now": issued}
    monkeypatch.setattr(accounts, "utcnow", lambda: clock["now"])
    request_reset(app, user.email)
    [link] = reset_links(outbox, user.email)
    browser = app.test_client()

    clock["now"] = issued + timedelta(minutes=59)
    assert browser.get(path_of(link)).status_code == 200

    clock["now"] = issued + timedelta(hours=1, seconds=1)
    page = browser.get(path_of(link))
    assert page.status_code == 400
    assert "invalid, has expired or has already been used" in text_of(page)
    response = browser.post(path_of(link), data={"password": NEW_PASSWORD})
    assert response.status_code == 400
    assert not is_signed_in(browser)
    assert can_sign_in(app, user.email, DEFAULT_PASSWORD)
    assert not can_sign_in(app, user.email, NEW_PASSWORD)


def test_newer_reset_link_kills_the_older_one(app, make_user, outbox):
    user = make_user(email="twice@example.com")
    request_reset(app, user.email)
    request_reset(app, user.email)
    older, newer = reset_links(outbox, user.email)
    assert older != newer

    assert app.test_client().get(path_of(older)).status_code == 400
    response = app.test_client().post(path_of(older), data={"password": NEW_PASSWORD})
    assert response.status_code == 400
    assert can_sign_in(app, user.email, DEFAULT_PASSWORD)

    assert (
        app.test_client().post(path_of(newer), data={"password": NEW_PASSWORD}).status_code == 302
    )
    assert can_sign_in(app, user.email, NEW_PASSWORD)


def test_reset_ends_every_other_session(app, make_user, outbox):
    user = make_user(email="stolen@example.com")
    thief = app.test_client()
    sign_in(thief, user.email)
    thief_remember = app.test_client()
    sign_in(thief_remember, user.email, remember=True)
    remember_only = app.test_client()
    remember_only.set_cookie(REMEMBER_COOKIE, thief_remember.get_cookie(REMEMBER_COOKIE).value)
    assert is_signed_in(thief)
    assert is_signed_in(remember_only)

    request_reset(app, user.email)
    [link] = reset_links(outbox, user.email)
    owner = app.test_client()
    assert owner.post(path_of(link), data={"password": NEW_PASSWORD}).status_code == 302

    assert is_signed_in(owner)
    assert not is_signed_in(thief)
    assert not is_signed_in(thief_remember)
    assert not is_signed_in(remember_only)
    remaining = db.session.scalar(
        select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)
    )
    assert remaining == 1


def test_reset_is_refused_for_a_suspended_account(app, make_user, outbox):
    user = make_user(email="suspended@example.com", suspended_reason="Abusive comments")

    request_reset(app, user.email)

    assert outbox.messages() == []
