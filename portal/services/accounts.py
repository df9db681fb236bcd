"""Accounts: signing up, signing in, verifying email, and changing or resetting passwords."""

from __future__ import annotations

import hashlib
import secrets

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select

from portal.database import read_only
from portal.extensions import db
from portal.mail.compose import external_url
from portal.mail.outbox import queue_email
from portal.models import Organisation, OrganisationDomain, Role, User
from portal.models.types import utcnow
from portal.services import audit, sessions
from portal.services.errors import AccountSuspended, InvalidInput, InvalidToken, SignInFailed
from portal.services.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)

DISPLAY_NAME_MAX = 60


def normalise_email(raw: str) -> str:
    """Validate an address and return the form it is stored in (lower case), or raise."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"Enter a valid email address: {exc}", field="email") from None
    return result.normalized.lower()


def clean_display_name(raw: str) -> str:
    name = " ".join(raw.split())
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in name):
        raise InvalidInput(
            "Use only printable characters in your display name.", field="display_name"
        )
    if len(name) < 2:
        raise InvalidInput("Enter a display name of at least 2 characters.", field="display_name")
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidInput(
            f"Use at most {DISPLAY_NAME_MAX} characters for your display name.",
            field="display_name",
        )
    return name


def check_password(password: str, *, email: str = "", display_name: str = "") -> None:
    problem = password_problem(password, email=email, display_name=display_name)
    if problem:
        raise InvalidInput(problem, field="password")


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def organisation_for_email(email: str) -> Organisation | None:
    domain = email.rpartition("@")[2].lower()
    return db.session.scalar(
        select(Organisation)
        .join(OrganisationDomain)
        .where(func.lower(OrganisationDomain.domain) == domain)
    )


def create_user(
    *,
    email: str,
    display_name: str,
    password: str,
    role: Role = Role.CUSTOMER,
    verified: bool = False,
    accepted_guidelines: bool = False,
) -> User:
    """Create an account after checking every field. Raises InvalidInput."""
    email = normalise_email(email)
    display_name = clean_display_name(display_name)
    check_password(password, email=email, display_name=display_name)
    if find_user_by_email(email) is not None:
        raise InvalidInput("An account with this email address already exists.", field="email")
    now = utcnow()
    user = User(
        email=email,
        display_name=display_name,
        password_hash=hash_password(password),
        role=Role(role).value,
        organisation=organisation_for_email(email),
        email_verified_at=now if verified else None,
        guidelines_accepted_at=now if accepted_guidelines else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def register(
    *, email: str, display_name: str, password: str, accepted_guidelines: bool, ip: str | None
) -> User | None:
    """Sign-up. Answers the same way whether or not the address is taken.

    A new address gets a confirmation link; a taken one gets a note telling its owner someone
    tried to sign up with it. Returns the new user, or None when the address was taken.
    """
    if not accepted_guidelines:
        raise InvalidInput(
            "Please read and accept the community guidelines to join.", field="accept_guidelines"
        )
    email = normalise_email(email)
    display_name = clean_display_name(display_name)
    check_password(password, email=email, display_name=display_name)
    existing = find_user_by_email(email)
    if existing is not None:
        hash_password(password)  # the same work as a real sign-up, so timing tells nothing
        queue_email(
            existing.email,
            "Someone tried to sign up with your address",
            "signup_existing",
            user=existing,
            sign_in_url=external_url("auth.sign_in"),
            reset_url=external_url("auth.forgot_password"),
        )
        return None
    user = create_user(
        email=email, display_name=display_name, password=password, accepted_guidelines=True
    )
    audit.record("account.created", actor=user, ip=ip, target=user)
    send_verification(user)
    return user


def _verify_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="portal.verify-email")


def send_verification(user: User) -> None:
    token = _verify_serializer().dumps({"u": user.id, "e": user.email})
    queue_email(
        user.email,
        "Confirm your email address",
        "verify_email",
        user=user,
        verify_url=external_url("auth.verify_email", token=token),
        max_age_days=current_app.config["EMAIL_VERIFY_MAX_AGE"].days,
    )


def resend_verification(email: str) -> None:
    """Send a fresh link if an unconfirmed account has this address; say nothing either way."""
    try:
        email = normalise_email(email)
    except InvalidInput:
        return
    user = find_user_by_email(email)
    if user is not None and user.email_verified_at is None and not user.is_suspended:
        send_verification(user)


def user_for_verify_token(token: str) -> User:
    """The account a confirmation link belongs to; changes nothing."""
    max_age = current_app.config["EMAIL_VERIFY_MAX_AGE"].total_seconds()
    try:
        data = _verify_serializer().loads(token, max_age=max_age)
    except BadSignature:
        raise InvalidToken("This confirmation link is invalid or has expired.") from None
    user = db.session.get(User, data.get("u")) if isinstance(data, dict) else None
    if user is None or user.email != data.get("e"):
        raise InvalidToken("This confirmation link is invalid or has expired.")
    if user.is_suspended:
        raise AccountSuspended(user.suspension_reason)
    return user


def verify_email(token: str, *, ip: str | None) -> User:
    user = user_for_verify_token(token)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        audit.record("account.email_verified", actor=user, ip=ip, target=user)
    return user


SIGN_IN_FAILED = (
    "The email or password is not right, or the address has not been confirmed yet. "
    "Check both, or use the links below."
)


def authenticate(email: str, password: str, *, ip: str | None) -> User:
    """The account for these credentials, or SignInFailed with one message for every cause."""
    with read_only():  # argon2 takes tens of milliseconds: don't hold SQLite's write lock
        user = find_user_by_email(email)
        ok = verify_password(user.password_hash if user else None, password)
    # An unconfirmed address may sign in, browse and vote; posting waits for confirmation.
    if not ok or user is None:
        audit.record(
            "sign_in.failed",
            actor=None,
            ip=ip,
            target=user,
            email=email.strip().lower()[:254],
        )
        raise SignInFailed(SIGN_IN_FAILED)
    if user.is_suspended:
        audit.record("sign_in.refused_suspended", actor=user, ip=ip, target=user)
        raise AccountSuspended(user.suspension_reason)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record("sign_in.succeeded", actor=user, ip=ip, target=user)
    return user


def change_password(
    user: User, *, current_password: str, new_password: str, ip: str | None
) -> None:
    """Set a new password and end every other session of this account."""
    if not verify_password(user.password_hash, current_password):
        raise InvalidInput("Your current password is not right.", field="current_password")
    check_password(new_password, email=user.email, display_name=user.display_name)
    user.password_hash = hash_password(new_password)
    sessions.end_all_sessions(user, except_key=user.session_key)
    audit.record("account.password_changed", actor=user, ip=ip, target=user)


def change_display_name(user: User, display_name: str) -> None:
    user.display_name = clean_display_name(display_name)


def _reset_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_password_reset(email: str, *, ip: str | None) -> None:
    """Email a one-hour, single-use reset link if the account exists; say nothing either way."""
    try:
        email = normalise_email(email)
    except InvalidInput:
        return
    user = find_user_by_email(email)
    if user is None or user.is_suspended:
        return
    token = secrets.token_urlsafe(32)
    user.reset_token_hash = _reset_hash(token)  # replaces any earlier link
    max_age = current_app.config["PASSWORD_RESET_MAX_AGE"]
    user.reset_token_expires_at = utcnow() + max_age
    audit.record("account.password_reset_requested", actor=user, ip=ip, target=user)
    queue_email(
        user.email,
        "Reset your password",
        "reset_password",
        user=user,
        reset_url=external_url("auth.reset_password", token=token),
        minutes=int(max_age.total_seconds() // 60),
    )


def user_for_reset_token(token: str) -> User:
    user = db.session.scalar(select(User).where(User.reset_token_hash == _reset_hash(token)))
    if (
        user is None
        or user.reset_token_expires_at is None
        or user.reset_token_expires_at <= utcnow()
    ):
        raise InvalidToken("This reset link is invalid, has expired or has already been used.")
    if user.is_suspended:
        raise AccountSuspended(user.suspension_reason)
    return user


def reset_password(token: str, new_password: str, *, ip: str | None) -> User:
    """Use a reset link once: set the password and end every session of the account."""
    user = user_for_reset_token(token)
    check_password(new_password, email=user.email, display_name=user.display_name)
    user.password_hash = hash_password(new_password)
    user.reset_token_hash = None
    user.reset_token_expires_at = None
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the link proved they read this mailbox
    sessions.end_all_sessions(user)
    audit.record("account.password_reset", actor=user, ip=ip, target=user)
    return user
