"""Two-factor sign-in: a code from an authenticator app (TOTP, RFC 6238) after the password.

- Setting it up stores a new secret on the account; it is on only once the person types a code
  from it (confirm), and they are then shown ten one-time recovery codes, kept as hashes.
- A code is accepted for the current 30-second step or the one either side, and only for a
  step later than the last one accepted, so a code seen over a shoulder cannot be used again.
- "Remember this device" stores a random token's hash; the token in a cookie skips the code on
  that browser until it expires. A new password, turning two-factor off or an admin's reset
  forgets every remembered device.
- It is required for admins always, and by the site setting "two_factor_required" for product
  managers too ("team") or for everyone. Whoever it is newly required for and has not set it
  up is signed out (sessions_to_end_for): their next sign-in goes through setup, so no session
  ever exists for them without it. Admins' sessions from before this feature ended in its
  migration.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from portal.database import rows_affected
from portal.extensions import db
from portal.mail.compose import external_url
from portal.mail.outbox import queue_email
from portal.models import RecoveryCode, RememberedDevice, Role, User, UserSession
from portal.models.site import site_name
from portal.models.types import utcnow
from portal.services import audit, sessions
from portal.services.errors import InvalidInput
from portal.services.passwords import verify_password
from portal.services.settings import get_setting, set_setting

STEP = 30  # seconds a code lasts, as every authenticator app counts
RECOVERY_CODES = 10
REQUIRED_CHOICES = {
    "admins": "Admins only",
    "team": "Admins and product managers",
    "everyone": "Everyone",
}
WRONG_CODE = "That code is not right, or it was already used. Type the newest code from your app."


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- Who must use it ------------------------------------------------------------------------


def required_level() -> str:
    level = get_setting("two_factor_required")
    return level if level in REQUIRED_CHOICES else "admins"


def _required_roles(level: str) -> set[str]:
    roles = {Role.ADMIN.value}
    if level in ("team", "everyone"):
        roles.add(Role.PRODUCT_MANAGER.value)
    if level == "everyone":
        roles.add(Role.CUSTOMER.value)
    return roles


def is_required(user: User) -> bool:
    if user.role == Role.ADMIN.value:
        return True  # no setting read: admins always
    return user.role in _required_roles(required_level())


def set_required_level(level: str, *, actor: User, ip: str | None) -> bool:
    """Change who must use two-factor; returns whether it changed. Whoever it newly applies to
    and has not set it up is signed out, so they set it up when they next sign in."""
    if level not in REQUIRED_CHOICES:
        raise InvalidInput("Choose who must use two-factor sign-in.", field="required")
    old = required_level()
    if level == old:
        return False
    set_setting("two_factor_required", level, actor=actor)
    newly = _required_roles(level) - _required_roles(old)
    ended = 0
    if newly:
        unprotected = select(User.id).where(User.role.in_(newly), User.totp_enabled_at.is_(None))
        ended = rows_affected(delete(UserSession).where(UserSession.user_id.in_(unprotected)))
    audit.record(
        "settings.changed",
        actor=actor,
        ip=ip,
        changed=["two_factor_required"],
        two_factor_required={"old": old, "new": level},
        sessions_ended=ended,
    )
    return True


def end_sessions_if_newly_required(user: User) -> None:
    """After a role change: someone who must now use two-factor and has not set it up signs
    in again, through setup."""
    if is_required(user) and not user.two_factor_on:
        sessions.end_all_sessions(user)


# --- Setting it up --------------------------------------------------------------------------


def new_secret() -> str:
    """A secret for setting up; kept by the page (the signed session) until a code confirms
    it, so showing the setup page writes nothing."""
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=site_name())


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG, drawn here: the secret never goes to another site."""
    return str(
        segno.make(uri, error="m").svg_inline(
            scale=4, dark="#111827", light="#ffffff", title="QR code for your authenticator app"
        )
    )


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _clean_code(raw: str | None) -> str:
    return "".join((raw or "").split()).replace("-", "").lower()


def _matching_step(secret: str, raw: str | None) -> int | None:
    """The time step (this one or one either side) whose code raw is, if any."""
    code = _clean_code(raw)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time()) // STEP
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def _accept_code(user: User, raw: str | None) -> bool:
    """Whether raw is a current code of the user's secret, never accepted before; records its
    step so it is not accepted again (one UPDATE, so two requests cannot both use it)."""
    step = _matching_step(user.totp_secret, raw) if user.totp_secret else None
    if step is None:
        return False
    used = rows_affected(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if used == 1:
        user.totp_last_step = step
    return used == 1


def confirm_setup(user: User, secret: str, code: str | None, *, ip: str | None) -> list[str]:
    """Turn two-factor on with the secret being set up and a code from it; returns the new
    recovery codes, to show once."""
    if user.two_factor_on:
        raise InvalidInput("Two-factor sign-in is already on.")
    step = _matching_step(secret, code)
    if step is None:
        audit.record("two_factor.code_failed", actor=user, ip=ip, target=user, during="setup")
        raise InvalidInput(WRONG_CODE, field="code")
    user.totp_secret = secret
    user.totp_last_step = step
    user.totp_enabled_at = utcnow()
    codes = _new_recovery_codes(user)
    audit.record("two_factor.enabled", actor=user, ip=ip, target=user)
    return codes


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 40 bits each, shown as xxxxx-xxxxx
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash(raw)))
    return codes


def regenerate_recovery_codes(user: User, *, ip: str | None) -> list[str]:
    """A new set of ten; the old ones stop working."""
    if not user.two_factor_on:
        raise InvalidInput("Turn two-factor sign-in on first.")
    codes = _new_recovery_codes(user)
    audit.record("two_factor.recovery_codes_regenerated", actor=user, ip=ip, target=user)
    return codes


def recovery_codes_left(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


# --- Signing in -----------------------------------------------------------------------------


def check_sign_in_code(user: User, code: str | None, *, ip: str | None) -> str:
    """Accept a current code or an unused recovery code; returns "code" or "recovery".
    InvalidInput (audited, without the code) when it is neither."""
    if _accept_code(user, code):
        return "code"
    cleaned = _clean_code(code)
    if len(cleaned) == 10:
        used = rows_affected(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == _hash(cleaned),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if used == 1:
            left = recovery_codes_left(user)
            audit.record("two_factor.recovery_code_used", actor=user, ip=ip, target=user, left=left)
            _tell(
                user,
                "A recovery code was used to sign in",
                f"Someone signed in to your account with one of your recovery codes. "
                f"{left} of them are left.",
            )
            return "recovery"
    audit.record("two_factor.code_failed", actor=user, ip=ip, target=user, during="sign_in")
    raise InvalidInput(WRONG_CODE, field="code")


def remember_device(user: User, *, user_agent: str | None) -> tuple[str, datetime]:
    """A new remembered device; returns the cookie's token and when it expires."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + current_app.config["TWO_FACTOR_DEVICE_DURATION"]
    db.session.add(
        RememberedDevice(
            token_hash=_hash(token),
            user_id=user.id,
            expires_at=expires,
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    return token, expires


def is_remembered(user: User, token: str | None, *, ip: str | None) -> bool:
    """Whether this browser's cookie names a remembered device of this person (audited)."""
    if not token:
        return False
    found = db.session.scalar(
        select(RememberedDevice.id).where(
            RememberedDevice.token_hash == _hash(token),
            RememberedDevice.user_id == user.id,
            RememberedDevice.expires_at > utcnow(),
        )
    )
    if found is None:
        return False
    audit.record("two_factor.device_remembered_used", actor=user, ip=ip, target=user)
    return True


def forget_devices(user: User) -> None:
    db.session.execute(delete(RememberedDevice).where(RememberedDevice.user_id == user.id))


# --- Turning it off -------------------------------------------------------------------------


def _clear(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    forget_devices(user)


def turn_off(user: User, *, password: str, code: str | None, ip: str | None) -> None:
    """The person turns it off, with their password and a current code; refused while it is
    required for their role."""
    if not user.two_factor_on:
        raise InvalidInput("Two-factor sign-in is not on.")
    if is_required(user):
        raise InvalidInput(
            "Two-factor sign-in is required for your role, so it cannot be turned off."
        )
    if not verify_password(user.password_hash, password or ""):
        raise InvalidInput("Your password is not right.", field="password")
    if not _accept_code(user, code):
        audit.record("two_factor.code_failed", actor=user, ip=ip, target=user, during="turn_off")
        raise InvalidInput(WRONG_CODE, field="code")
    _clear(user)
    audit.record("two_factor.disabled", actor=user, ip=ip, target=user)
    _tell(
        user,
        "Two-factor sign-in is off",
        "Two-factor sign-in was turned off for your account. Signing in now needs only your "
        "password.",
    )


def reset(user: User, *, actor: User | None, ip: str | None) -> None:
    """An admin (or, with no actor, the operator's `flask user reset-two-factor`) clears
    someone's two-factor, for a lost phone: their sessions end, and their next sign-in sets it
    up again if it is required for them."""
    _clear(user)
    sessions.end_all_sessions(user)
    detail = {} if actor is not None else {"via": "cli"}
    audit.record("two_factor.reset", actor=actor, ip=ip, target=user, **detail)
    who = f"An admin ({actor.display_name})" if actor is not None else "The site's operator"
    _tell(
        user,
        "Your two-factor sign-in was reset",
        f"{who} reset two-factor sign-in for your account and signed you out everywhere. "
        "Set it up again from your account page.",
    )


def _tell(user: User, subject: str, what: str) -> None:
    queue_email(
        user.email,
        subject,
        "two_factor_changed",
        user=user,
        what=what,
        account_url=external_url("account.two_factor"),
        reset_url=external_url("auth.forgot_password"),
    )


def pending_expired(started: object) -> bool:
    """Whether a sign-in waiting for its code began too long ago (or is not a time at all)."""
    if not isinstance(started, int | float):
        return True
    age = current_app.config["TWO_FACTOR_PENDING_MAX_AGE"].total_seconds()
    return not 0 <= time.time() - started <= age
