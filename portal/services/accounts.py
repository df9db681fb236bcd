"""Accounts: signing up, signing in, verifying email, and changing or resetting passwords."""

from __future__ import annotations

import hashlib
import re
import secrets
from email.message import EmailMessage

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select, update

from portal.database import read_only, rows_affected
from portal.extensions import db
from portal.mail.compose import compose, composed_at_send_time, external_url
from portal.mail.outbox import queue_request
from portal.models import Organisation, OrganisationDomain, OutboxMessage, Role, User
from portal.models.site import site_name
from portal.models.types import utcnow
from portal.permissions import is_team
from portal.services import audit, sessions, two_factor
from portal.services.errors import (
    AccountSuspended,
    AlreadyConfirmed,
    InvalidInput,
    InvalidToken,
    SignInFailed,
)
from portal.services.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from portal.services.text import clean_line, skeleton, visible_length

DISPLAY_NAME_MAX = 60


def normalise_email(raw: str) -> str:
    """Validate an address and return the form it is stored in (lower case), or raise."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"Enter a valid email address: {exc}", field="email") from None
    return result.normalized.lower()


# Words that claim a place on the team. The team badge beside a name is the one sign of who
# works here, so a customer's name may not say it too. Compared as skeletons (text.skeleton):
# fullwidth letters, Cyrillic look-alikes, "Adm1n" and "AlexAdmin" all count as "admin".
STAFF_WORDS = frozenset(
    {
        "admin",
        "admins",
        "administrator",
        "administrators",
        "moderator",
        "moderators",
        "staff",
        "support",
        "helpdesk",
        "official",
        "team",
        "sysop",
    }
)
STAFF_PHRASES = ("product manager", "help desk", "customer success")
STAFF_NAME_MESSAGE = (
    "Names can't include words like “admin” or “team” that suggest you work here; "
    "the team badge shows who does."
)


def claims_staff_role(name: str) -> bool:
    """Whether a name reads as the team's: a staff word, or the site's own name, in it."""
    words = re.findall(r"[a-z]+", skeleton(name))
    if STAFF_WORDS.intersection(words):
        return True
    line = f" {' '.join(words)} "
    site = " ".join(re.findall(r"[a-z]+", skeleton(site_name())))
    return any(f" {phrase} " in line for phrase in (*STAFF_PHRASES, site) if len(phrase) >= 3)


def clean_display_name(raw: str, *, team: bool = False) -> str:
    """A display name as stored (text.clean_line), or InvalidInput. Only the team (`team`)
    may take a name that sounds like the team's."""
    name = clean_line(raw)
    if any(0x7F <= ord(c) < 0xA0 for c in name):
        raise InvalidInput(
            "Use only printable characters in your display name.", field="display_name"
        )
    if visible_length(name) < 2:
        raise InvalidInput(
            "Enter a display name of at least 2 characters. Spaces and invisible characters "
            "don't count.",
            field="display_name",
        )
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidInput(
            f"Use at most {DISPLAY_NAME_MAX} characters for your display name.",
            field="display_name",
        )
    if not team and claims_staff_role(name):
        raise InvalidInput(STAFF_NAME_MESSAGE, field="display_name")
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


# The stored "hash" of an account made through single sign-on or identify: no password matches
# it (it is not an argon2 hash), until the person chooses one with a reset link.
NO_PASSWORD_PREFIX = "!"  # noqa: S105 (a marker, not a password)


def has_password(user: User) -> bool:
    return not user.password_hash.startswith(NO_PASSWORD_PREFIX)


def create_user(
    *,
    email: str,
    display_name: str,
    password: str | None,
    role: Role = Role.CUSTOMER,
    verified: bool = False,
    accepted_guidelines: bool = False,
) -> User:
    """Create an account after checking every field. Raises InvalidInput. Without a password
    (single sign-on), none will match until the person sets one."""
    email = normalise_email(email)
    display_name = clean_display_name(display_name, team=Role(role) is not Role.CUSTOMER)
    if password is not None:
        check_password(password, email=email, display_name=display_name)
    if find_user_by_email(email) is not None:
        raise InvalidInput("An account with this email address already exists.", field="email")
    now = utcnow()
    user = User(
        email=email,
        display_name=display_name,
        password_hash=(
            hash_password(password)
            if password is not None
            else NO_PASSWORD_PREFIX + secrets.token_urlsafe(16)
        ),
        role=Role(role).value,
        organisation=organisation_for_email(email),
        email_verified_at=now if verified else None,
        guidelines_accepted_at=now if accepted_guidelines else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def register(
    *,
    email: str,
    display_name: str,
    password: str,
    accepted_guidelines: bool,
    ip: str | None,
    then: str | None = None,
) -> User | None:
    """Sign-up. Answers the same way whether or not the address is taken.

    A new address gets a confirmation link; a taken one gets a note telling its owner someone
    tried to sign up with it. Returns the new user, or None when the address was taken.
    `then` is a local path (the idea they signed up to vote for) the link leads to once used.
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
        queue_request(email, SIGNUP_EXISTING)
        return None
    user = create_user(
        email=email, display_name=display_name, password=password, accepted_guidelines=True
    )
    audit.record("account.created", actor=user, ip=ip, target=user)
    queue_request(email, VERIFY_EMAIL, **({"then": then} if then else {}))
    return user


# --- Emails asked for by an address ----------------------------------------------------------
#
# Sign-up, "resend my confirmation link" and "I forgot my password" only record the address in
# the outbox (queue_request): the same few statements whoever owns it, so the time a request
# takes says nothing about which accounts exist. The account is looked up, and its one-time link
# made, when the message is composed, off the request path (composed_at_send_time).

VERIFY_EMAIL, RESET_PASSWORD, SIGNUP_EXISTING = "verify_email", "reset_password", "signup_existing"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _account_for(row: OutboxMessage) -> User | None:
    """The account an asked-for email goes to, now; ties the outbox row to it."""
    user = find_user_by_email(row.to_address)
    if user is not None:
        row.user_id = user.id
    return user


@composed_at_send_time(SIGNUP_EXISTING)
def _signup_existing_message(row: OutboxMessage) -> EmailMessage | None:
    user = _account_for(row)
    if user is None:
        return None
    return compose(
        user.email,
        "Someone tried to sign up with your address",
        SIGNUP_EXISTING,
        user=user,
        sign_in_url=external_url("auth.sign_in"),
        reset_url=external_url("auth.forgot_password"),
    )


@composed_at_send_time(VERIFY_EMAIL)
def _verification_message(row: OutboxMessage) -> EmailMessage | None:
    """A new confirmation link; the account's earlier one stops working."""
    user = _account_for(row)
    if user is None or user.email_verified_at is not None or user.is_suspended:
        return None
    token = secrets.token_urlsafe(32)
    max_age = current_app.config["EMAIL_VERIFY_MAX_AGE"]
    user.verify_token_hash = _token_hash(token)
    user.verify_token_expires_at = utcnow() + max_age
    return compose(
        user.email,
        "Confirm your email address",
        VERIFY_EMAIL,
        user=user,
        # The page they signed up from (an idea), wherever the link is opened; the view
        # checks it is a path of this site before going there.
        verify_url=external_url("auth.verify_email", token=token, next=row.payload.get("then")),
        max_age_days=max_age.days,
    )


def resend_verification(email: str) -> None:
    """Send a fresh link if an unconfirmed account has this address; say nothing either way."""
    try:
        email = normalise_email(email)
    except InvalidInput:
        return
    queue_request(email, VERIFY_EMAIL)


VERIFY_LINK_DEAD = (
    "This confirmation link is invalid or has expired. Only the newest link we sent works."
)
ALREADY_CONFIRMED = "This address is already confirmed. Sign in to continue."


def user_for_verify_token(token: str) -> User:
    """The account a confirmation link that still works belongs to; changes nothing.

    AlreadyConfirmed for a link that has been used, InvalidToken for any other that does not
    work (expired, replaced by a newer one, ended by a new password, or never issued: links
    in the signed format used before single-use links are among these).
    """
    user = db.session.scalar(select(User).where(User.verify_token_hash == _token_hash(token)))
    if user is None:
        raise InvalidToken(VERIFY_LINK_DEAD)
    # Used, or the address was confirmed another way while this link still lived.
    if user.verify_token_expires_at is None or user.email_verified_at is not None:
        raise AlreadyConfirmed(ALREADY_CONFIRMED)
    if user.verify_token_expires_at <= utcnow():
        raise InvalidToken(VERIFY_LINK_DEAD)
    if user.is_suspended:
        raise AccountSuspended(user.suspension_reason)
    return user


def verify_email(token: str, *, ip: str | None) -> User:
    """Use a confirmation link, once: of two requests racing with it, one wins."""
    user = user_for_verify_token(token)
    used = rows_affected(
        update(User)
        .where(
            User.id == user.id,
            User.verify_token_hash == _token_hash(token),
            User.verify_token_expires_at > utcnow(),
        )
        .values(verify_token_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    if used != 1:
        raise AlreadyConfirmed(ALREADY_CONFIRMED)
    user.verify_token_expires_at = None
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
    user.end_emailed_links()
    sessions.end_all_sessions(user, except_key=user.session_key)
    two_factor.forget_devices(user)  # a new password: every browser types a code again
    audit.record("account.password_changed", actor=user, ip=ip, target=user)


def change_display_name(user: User, display_name: str) -> None:
    user.display_name = clean_display_name(display_name, team=is_team(user))


def request_password_reset(email: str, *, ip: str | None) -> None:
    """Email a one-hour, single-use reset link if the account exists; say nothing either way."""
    try:
        email = normalise_email(email)
    except InvalidInput:
        return
    queue_request(email, RESET_PASSWORD, ip=ip)


@composed_at_send_time(RESET_PASSWORD)
def _reset_message(row: OutboxMessage) -> EmailMessage | None:
    user = _account_for(row)
    if user is None or user.is_suspended:
        return None
    token = secrets.token_urlsafe(32)
    user.reset_token_hash = _token_hash(token)  # replaces any earlier link
    max_age = current_app.config["PASSWORD_RESET_MAX_AGE"]
    user.reset_token_expires_at = utcnow() + max_age
    ip = row.payload.get("ip")
    audit.record("account.password_reset_requested", actor=user, ip=ip, target=user)
    return compose(
        user.email,
        "Reset your password",
        RESET_PASSWORD,
        user=user,
        reset_url=external_url("auth.reset_password", token=token),
        minutes=int(max_age.total_seconds() // 60),
    )


def user_for_reset_token(token: str) -> User:
    user = db.session.scalar(select(User).where(User.reset_token_hash == _token_hash(token)))
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
    """Use a reset link once: set the password and end every session of the account. Of two
    requests racing with one link, one wins, as with a confirmation link."""
    user = user_for_reset_token(token)
    check_password(new_password, email=user.email, display_name=user.display_name)
    password_hash = hash_password(new_password)  # before the write: argon2 takes a while
    used = rows_affected(
        update(User)
        .where(
            User.id == user.id,
            User.reset_token_hash == _token_hash(token),
            User.reset_token_expires_at > utcnow(),
        )
        .values(reset_token_hash=None, reset_token_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    if used != 1:
        raise InvalidToken("This reset link is invalid, has expired or has already been used.")
    user.password_hash = password_hash
    user.end_emailed_links()
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the link proved they read this mailbox
    sessions.end_all_sessions(user)
    two_factor.forget_devices(user)
    audit.record("account.password_reset", actor=user, ip=ip, target=user)
    return user
