"""Two-factor sign-in (issue 20): setting it up, signing in with real codes, recovery codes,
remembered devices, who must use it, turning it off, an admin's reset and the limits."""

from __future__ import annotations

import itertools
import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    OutboxMessage,
    RecoveryCode,
    RememberedDevice,
    User,
    UserSession,
)
from portal.models.types import utcnow
from portal.services import settings as site_settings

from .conftest import DEFAULT_PASSWORD, sign_in_client
from .helpers import KNOWN_TOTP_SECRET, enrol_two_factor, link_in, next_code
from .helpers import page_text as text_of

_ips = itertools.count(1)


def fresh_ip() -> str:
    n = next(_ips)
    return f"10.20.{n // 256 % 256}.{n % 256}"


def sign_in(client, email, *, password=DEFAULT_PASSWORD, ip=None, **extra):
    data = {"email": email, "password": password, **extra}
    return client.post("/sign-in", data=data, environ_base={"REMOTE_ADDR": ip or fresh_ip()})


def send_code(client, code, *, ip=None, remember_device=False):
    data = {"code": code}
    if remember_device:
        data["remember_device"] = "y"
    return client.post(
        "/sign-in/two-factor", data=data, environ_base={"REMOTE_ADDR": ip or fresh_ip()}
    )


def location(response) -> str:
    return urlsplit(response.headers["Location"]).path


def is_signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def actions(user) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target_id == user.id, AuditEvent.action.like("two_factor.%"))
            .order_by(AuditEvent.id)
        )
    )


def code_at(offset_steps: int, secret: str = KNOWN_TOTP_SECRET) -> str:
    return pyotp.TOTP(secret).at(int(time.time()) + offset_steps * 30)


def fresh(user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def secret_on_page(response) -> str:
    found = re.search(r'id="two-factor-secret">([A-Z2-7 ]+)<', response.text)
    assert found, "the setup page shows the secret as text"
    return found.group(1).replace(" ", "")


def recovery_codes_on(response) -> list[str]:
    return re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", response.text)


# --- Setting it up from the account page ---------------------------------------------------


def test_setup_refuses_a_wrong_code_keeps_the_secret_and_then_turns_on(client, login_as, outbox):
    user = login_as()
    assert "Two-factor sign-in" in client.get("/account").text
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    assert "<svg" in page.text  # the QR code, drawn here
    secret = secret_on_page(page)
    assert fresh(user).totp_secret is None  # kept by the page until confirmed

    wrong = client.post("/account/two-factor", data={"code": "000000"})
    assert wrong.status_code == 400
    assert "That code is not right" in text_of(wrong)
    assert secret_on_page(wrong) == secret  # the same QR code: nothing to scan again
    assert fresh(user).totp_enabled_at is None
    assert client.get("/account/two-factor").text.count(secret[:4]) >= 1

    done = client.post("/account/two-factor", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = recovery_codes_on(done)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert fresh(user).totp_enabled_at is not None
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert not any(c.replace("-", "") in stored for c in codes)  # hashes only
    assert "10 unused recovery codes" in text_of(client.get("/account/two-factor"))
    assert actions(user) == ["two_factor.code_failed", "two_factor.enabled"]


def test_new_recovery_codes_void_the_old(client, login_as, app):
    user = login_as()
    enrol_two_factor(user)
    first = recovery_codes_on(client.post("/account/two-factor/recovery-codes"))
    second = recovery_codes_on(client.post("/account/two-factor/recovery-codes"))
    assert len(second) == 10 and not set(first) & set(second)
    client.post("/sign-out")
    sign_in(client, user.email)
    assert send_code(client, first[0]).status_code == 400
    assert location(send_code(client, second[0])) == "/"
    assert "two_factor.recovery_codes_regenerated" in actions(user)


# --- Signing in with a code ----------------------------------------------------------------


def test_sign_in_waits_for_a_right_code_and_refuses_a_wrong_or_replayed_one(client, make_user, app):
    user = make_user(email="coder@example.com")
    enrol_two_factor(user)
    response = sign_in(client, user.email)
    assert location(response) == "/sign-in/two-factor"
    assert not is_signed_in(client)  # no session before the code
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0

    wrong = send_code(client, "123456" if code_at(0) != "123456" else "654321")
    assert wrong.status_code == 400
    assert "That code is not right" in text_of(wrong)
    assert not is_signed_in(client)

    code = next_code(user.email)
    assert location(send_code(client, code)) == "/"
    assert is_signed_in(client)

    other = app.test_client()
    sign_in(other, user.email)
    replayed = send_code(other, code)
    assert replayed.status_code == 400, "a code is accepted once"
    assert not is_signed_in(other)
    assert actions(user) == ["two_factor.code_failed", "two_factor.code_failed"]


@pytest.mark.parametrize("offset", [-1, 1])
def test_a_code_one_step_either_side_is_accepted(client, make_user, offset):
    user = make_user()
    enrol_two_factor(user)
    sign_in(client, user.email)
    assert location(send_code(client, code_at(offset))) == "/"


def test_a_code_two_steps_away_is_refused(client, make_user):
    user = make_user()
    enrol_two_factor(user)
    sign_in(client, user.email)
    assert send_code(client, code_at(-3)).status_code == 400


def test_a_recovery_code_works_once_and_the_person_is_emailed(client, make_user, app, outbox):
    user = make_user(email="recover@example.com")
    sign_in_client(client, user)
    page = client.get("/account/two-factor")
    codes = recovery_codes_on(
        client.post("/account/two-factor", data={"code": pyotp.TOTP(secret_on_page(page)).now()})
    )
    client.post("/sign-out")

    sign_in(client, user.email)
    done = send_code(client, codes[3].upper().replace("-", " "))  # as typed, any case
    assert location(done) == "/"
    assert "9 are left" in text_of(client.get("/"))
    message = outbox.to(user.email)[-1]
    assert "recovery code" in message["Subject"]

    again = app.test_client()
    sign_in(again, user.email)
    assert send_code(again, codes[3]).status_code == 400
    assert not is_signed_in(again)
    assert "two_factor.recovery_code_used" in actions(user)


def test_next_and_the_intent_survive_the_code_step(client, make_user, make_idea):
    idea = make_idea("Dark mode for the reports page")
    voter = make_user(email="voter2fa@example.com")
    enrol_two_factor(voter)
    client.get(f"/sign-in?next=/ideas/{idea.id}&intent=vote&idea={idea.id}")
    response = sign_in(
        client, voter.email, next=f"/ideas/{idea.id}", intent="vote", idea=str(idea.id)
    )
    assert location(response) == "/sign-in/two-factor"
    done = send_code(client, next_code(voter.email))
    assert location(done) == f"/ideas/{idea.id}"
    assert "Your vote for “Dark mode for the reports page” is counted" in text_of(
        client.get(f"/ideas/{idea.id}")
    )

    other = make_user()
    enrol_two_factor(other)
    client.post("/sign-out")
    sign_in(client, other.email, next="/account")
    assert location(send_code(client, next_code(other.email))) == "/account"


def test_the_pending_sign_in_expires(client, make_user, app):
    user = make_user()
    enrol_two_factor(user)
    sign_in(client, user.email)
    with client.session_transaction() as sess:
        sess["two_factor_pending"] = {**sess["two_factor_pending"], "started": time.time() - 660}
    response = send_code(client, next_code(user.email))
    assert location(response) == "/sign-in"
    assert "took too long" in text_of(client.get("/sign-in"))
    assert not is_signed_in(client)
    assert location(client.get("/sign-in/two-factor")) == "/sign-in"


# --- Remembered devices --------------------------------------------------------------------


def test_a_remembered_device_skips_the_code_until_the_password_changes(client, make_user, app):
    user = make_user(email="device@example.com")
    enrol_two_factor(user)
    sign_in(client, user.email)
    done = send_code(client, next_code(user.email), remember_device=True)
    assert location(done) == "/"
    cookie = client.get_cookie("portal_device")
    assert cookie is not None and cookie.http_only
    device = db.session.scalar(select(RememberedDevice))
    assert device.token_hash != cookie.value
    client.post("/sign-out")

    assert location(sign_in(client, user.email)) == "/"  # no code on this browser
    assert "two_factor.device_remembered_used" in actions(user)
    elsewhere = app.test_client()
    assert location(sign_in(elsewhere, user.email)) == "/sign-in/two-factor"

    client.post(
        "/account/password",
        data={"current_password": DEFAULT_PASSWORD, "new_password": "a brand new passphrase 7"},
    )
    client.post("/sign-out")
    response = sign_in(client, user.email, password="a brand new passphrase 7")
    assert location(response) == "/sign-in/two-factor"
    assert db.session.scalar(select(func.count()).select_from(RememberedDevice)) == 0


# --- Who must use it -----------------------------------------------------------------------


def test_an_admin_without_it_sets_it_up_before_any_session_starts(client, make_user, app):
    admin = make_user("admin", email="boss@example.com")
    response = sign_in(client, admin.email, next="/admin/users")
    assert location(response) == "/sign-in/two-factor"
    page = client.get("/sign-in/two-factor")
    assert "Set up two-factor sign-in" in text_of(page)
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
    secret = secret_on_page(page)

    wrong = send_code(client, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    assert wrong.status_code == 400
    assert secret_on_page(wrong) == secret
    assert not is_signed_in(client)

    done = send_code(client, pyotp.TOTP(secret).now())
    assert done.status_code == 200
    assert len(recovery_codes_on(done)) == 10
    assert 'href="/admin/users"' in done.text  # then where they were going
    assert is_signed_in(client)
    assert fresh(admin).two_factor_on


def test_admins_cannot_turn_it_off(client, make_user):
    admin = make_user("admin")
    enrol_two_factor(admin)
    sign_in_client(client, admin)
    page = client.get("/account/two-factor")
    assert "required for your role" in text_of(page)
    refused = client.post(
        "/account/two-factor/off",
        data={"password": DEFAULT_PASSWORD, "code": next_code(admin.email)},
    )
    assert refused.status_code == 400
    assert "required for your role" in text_of(refused)
    assert fresh(admin).two_factor_on


@pytest.mark.parametrize(
    ("level", "pm_required", "customer_required"),
    [("team", True, False), ("everyone", True, True)],
)
def test_the_setting_requires_it_for_product_managers_or_everyone(
    client, make_user, app, level, pm_required, customer_required
):
    admin = make_user("admin")
    pm = make_user("product_manager")
    customer = make_user()
    pm_session = app.test_client()
    sign_in_client(pm_session, pm)
    sign_in_client(client, admin)
    settings_page = client.get("/admin/settings")
    assert "Two-factor sign-in" in text_of(settings_page)
    saved = client.post("/admin/settings/two-factor", data={"required": level})
    assert location(saved) == "/admin/settings"
    assert site_settings.get_setting("two_factor_required") == level

    # Sessions of people it newly applies to, without it set up, are over.
    assert not is_signed_in(pm_session)
    for person, required in ((pm, pm_required), (customer, customer_required)):
        browser = app.test_client()
        expected = "/sign-in/two-factor" if required else "/"
        assert location(sign_in(browser, person.email)) == expected
    assert is_signed_in(client)  # the admin's own session is untouched


def test_the_setting_refuses_an_unknown_choice(client, login_as):
    login_as("admin")
    refused = client.post("/admin/settings/two-factor", data={"required": "robots"})
    assert refused.status_code == 400
    assert "Choose who must use two-factor sign-in" in text_of(refused)


def test_promoting_someone_without_it_to_admin_signs_them_out(client, make_user, app):
    member = make_user()
    theirs = app.test_client()
    sign_in_client(theirs, member)
    sign_in_client(client, make_user("admin"))
    client.post(f"/admin/users/{member.id}/role", data={"role": "admin"})
    assert not is_signed_in(theirs)
    assert location(sign_in(theirs, member.email)) == "/sign-in/two-factor"


# --- Turning it off ------------------------------------------------------------------------


def test_turning_it_off_needs_the_password_and_a_code(client, make_user, outbox):
    user = make_user(email="quitter@example.com")
    enrol_two_factor(user)
    sign_in_client(client, user)
    wrong_password = client.post(
        "/account/two-factor/off", data={"password": "not it at all", "code": "123456"}
    )
    assert wrong_password.status_code == 400
    assert "Your password is not right" in text_of(wrong_password)
    wrong_code = client.post(
        "/account/two-factor/off",
        data={"password": DEFAULT_PASSWORD, "code": code_at(-5)},
    )
    assert wrong_code.status_code == 400
    assert fresh(user).two_factor_on

    done = client.post(
        "/account/two-factor/off",
        data={"password": DEFAULT_PASSWORD, "code": next_code(user.email)},
    )
    assert location(done) == "/account/two-factor"
    assert not fresh(user).two_factor_on
    assert fresh(user).totp_secret is None
    assert "two-factor sign-in is off" in outbox.to(user.email)[-1]["Subject"].lower()
    assert actions(user)[-1] == "two_factor.disabled"


# --- An admin's reset ----------------------------------------------------------------------


def test_an_admin_resets_someones_two_factor(client, make_user, app, outbox):
    member = make_user(email="lostphone@example.com")
    enrol_two_factor(member)
    theirs = app.test_client()
    sign_in_client(theirs, member)
    db.session.add(
        RememberedDevice(
            token_hash="x" * 64, user_id=member.id, expires_at=utcnow() + timedelta(days=1)
        )
    )
    db.session.commit()
    admin = make_user("admin", display_name="Ada Admin")
    sign_in_client(client, admin)

    assert "Reset two-factor sign-in" in client.get(f"/admin/users/{member.id}").text
    confirm = client.get(f"/admin/users/{member.id}/two-factor/reset")
    assert confirm.status_code == 200
    assert "signed out everywhere" in text_of(confirm)
    assert fresh(member).two_factor_on  # asking changes nothing

    done = client.post(f"/admin/users/{member.id}/two-factor/reset")
    assert location(done) == f"/admin/users/{member.id}"
    assert not fresh(member).two_factor_on
    assert not is_signed_in(theirs)
    assert db.session.scalar(select(func.count()).select_from(RememberedDevice)) == 0
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "two_factor.reset"))
    assert event.actor_id == admin.id and event.target_id == member.id
    assert "reset" in outbox.to(member.email)[-1]["Subject"]
    # A customer need not set it up again: the password alone signs them in now.
    assert location(sign_in(app.test_client(), member.email)) == "/"


# --- Limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config_overrides", [{"LIMIT_TWO_FACTOR_PER_ACCOUNT": "3/hour"}], indirect=False
)
def test_wrong_codes_are_limited_per_account(client, make_user, app, config_overrides):
    user = make_user()
    enrol_two_factor(user)
    sign_in(client, user.email)
    for _ in range(3):
        assert send_code(client, code_at(-5)).status_code == 400
    limited = send_code(client, next_code(user.email))
    assert limited.status_code == 429
    assert "Too many wrong codes" in text_of(limited)
    assert not is_signed_in(client)
    # From another address too: the limit is the account's.
    other = app.test_client()
    sign_in(other, user.email)
    assert send_code(other, next_code(user.email), ip=fresh_ip()).status_code == 429


@pytest.mark.parametrize("config_overrides", [{"LIMIT_TWO_FACTOR_PER_IP": "2/hour"}])
def test_wrong_codes_are_limited_per_address_and_right_ones_do_not_count(
    client, make_user, config_overrides
):
    ip = "10.99.0.1"
    user = make_user()
    enrol_two_factor(user)
    for _ in range(3):  # right codes count for nothing
        sign_in(client, user.email, ip=ip)
        assert location(send_code(client, next_code(user.email), ip=ip)) == "/"
        client.post("/sign-out")
        db.session.execute(User.__table__.update().values(totp_last_step=None))
        db.session.commit()
    sign_in(client, user.email, ip=ip)
    for _ in range(2):
        assert send_code(client, code_at(-5), ip=ip).status_code == 400
    assert send_code(client, next_code(user.email), ip=ip).status_code == 429


def test_the_operator_resets_two_factor_from_the_command_line(runner, make_user, outbox):
    admin = make_user("admin", email="onlyadmin@example.com")
    enrol_two_factor(admin)
    result = runner.invoke(args=["user", "reset-two-factor", "onlyadmin@example.com"])
    assert result.exit_code == 0, result.output
    assert not fresh(admin).two_factor_on
    told = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to_address == admin.email))
    assert "reset" in told.subject
    missing = runner.invoke(args=["user", "reset-two-factor", "nobody@example.com"])
    assert missing.exit_code != 0


def test_a_password_reset_link_does_not_skip_the_code(client, make_user, outbox):
    user = make_user(email="forgetful@example.com")
    enrol_two_factor(user)
    client.post("/password/forgot", data={"email": user.email})
    token = link_in(outbox.to(user.email)[-1], "/password/reset/").rsplit("/", 1)[1]
    done = client.post(f"/password/reset/{token}", data={"password": "a fresh passphrase 99"})
    assert location(done) == "/sign-in/two-factor"
    assert not is_signed_in(client)
    assert location(send_code(client, next_code(user.email))) == "/account"
    assert is_signed_in(client)
