"""API keys: a person makes tokens for their own scripts, each allowed some scopes of the API.

The token is shown once, when the key is made; only its SHA-256 is kept. What a key may do is
checked on every call against what its person may do now: suspending someone stops their keys
at once, and a product manager made a customer loses the team's scope on every key they made.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from portal.database import rows_affected
from portal.extensions import db
from portal.models import ApiKey, User
from portal.models.api_key import API_SCOPES
from portal.models.types import utcnow
from portal.permissions import is_admin, is_signed_in, is_team, is_verified, require
from portal.services import audit
from portal.services.errors import DomainError, InvalidFields
from portal.services.text import and_list, clean_line
from portal.services.validation import too_long

SCOPES: tuple[str, ...] = API_SCOPES
SCOPE_DESCRIPTIONS = {
    "read": "Read what you can see on the site: ideas, comments, stages, boards, the roadmap.",
    "write": "Act as you: post and edit ideas and comments, vote, follow, and say whether what "
    "shipped met your need.",
    "team": "Do a product manager's work: move ideas between stages with a note to followers, "
    "add customers' votes on their behalf, read organisations and people.",
    "admin": "Do an admin's work: read the audit log.",
}
# Who may give a key each scope: the same predicates the pages use for the same powers.
_GRANTED_BY = {"read": is_verified, "write": is_verified, "team": is_team, "admin": is_admin}

TOKEN_PREFIX = "portal_"  # noqa: S105 (not a secret: what every token starts with)
PREFIX_LENGTH = 16  # "portal_" and 9 random characters: enough to tell keys apart, never to use
NAME_MAX = 80
PER_PERSON = 50  # keys not revoked: enough for every script, few enough to review
# last_used_at is written at most this often per key, so a busy script costs no write per call.
LAST_USED_EVERY = timedelta(seconds=60)


class ApiKeysRefused(DomainError):
    """This person may not have API keys at all (for now)."""


class ApiKeyAlreadyRevoked(DomainError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def allowed_scopes(user: Any) -> tuple[str, ...]:
    """The scopes this person may give a key, in SCOPES order; none while their email is not
    confirmed or they are suspended."""
    if not is_verified(user):
        return ()
    return tuple(scope for scope in SCOPES if _GRANTED_BY[scope](user))


def refusal(user: Any) -> str | None:
    """Why this person may not make API keys, in words; None if they may."""
    if allowed_scopes(user):
        return None
    if getattr(user, "is_suspended", False) or not is_signed_in(user):
        return "This account is suspended, so it cannot have API keys."
    return "Confirm your email address first: API keys are for accounts with a confirmed address."


def end_of(day: date) -> datetime:
    """The last moment of a day in UTC: a key set to expire "on" a day works through it."""
    return datetime.combine(day, time.max, tzinfo=UTC)


def _chosen_scopes(user: User, scopes: Iterable[str]) -> tuple[str | None, str]:
    """(what is wrong with the scopes asked for or None, the scopes as stored)."""
    asked = [str(s).strip().lower() for s in scopes if str(s).strip()]
    unknown = [s for s in asked if s not in SCOPES]
    if unknown:
        names = and_list(f"“{s[:20]}”" for s in dict.fromkeys(unknown))
        return (
            f"{names} {'is not a scope' if len(unknown) == 1 else 'are not scopes'}: "
            f"choose from {and_list(SCOPES)}.",
            "",
        )
    if not asked:
        return "Choose at least one scope: what the key may do.", ""
    allowed = allowed_scopes(user)
    above = [s for s in SCOPES if s in asked and s not in allowed]
    if above:
        role = user.role_enum.label.lower()
        return (
            f"As a {role} you cannot give a key the {and_list(above)} "
            f"scope{'' if len(above) == 1 else 's'}: choose from {and_list(allowed)}.",
            "",
        )
    # Writing, the team's work and an admin's all need reading what they act on.
    chosen = {"read", *asked}
    return None, " ".join(s for s in SCOPES if s in chosen)


def create_key(
    user: User,
    *,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    actor: User | None = None,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """Make a key for user; returns it and its token, which is never seen again.

    actor is who made it (the person themself, by default); None from the command line.
    """
    if actor is not None and getattr(actor, "id", None) != user.id:
        require(False)  # nobody makes keys for someone else from the pages or the API
    problem = refusal(user)
    if problem:
        raise ApiKeysRefused(problem)
    now = utcnow()
    problems: dict[str, str] = {}
    name = clean_line(name)
    if not name:
        problems["name"] = "Give the key a name, such as “Reporting script”."
    elif len(name) > NAME_MAX:
        problems["name"] = too_long(len(name), NAME_MAX)
    scope_problem, stored_scopes = _chosen_scopes(user, scopes)
    if scope_problem:
        problems["scopes"] = scope_problem
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValueError("naive datetime given for expires_at")
        if expires_at <= now:
            problems["expires_at"] = (
                "That day has passed: choose today or a later day, or leave it empty for a "
                "key that does not expire."
            )
    if problems:
        raise InvalidFields(problems)
    active = db.session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    )
    if (active or 0) >= PER_PERSON:
        raise InvalidFields(
            {
                "name": f"You have {PER_PERSON} API keys, the most one person can keep: "
                "revoke one you no longer use first."
            }
        )

    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        user_id=user.id,
        name=name,
        prefix=token[:PREFIX_LENGTH],
        token_hash=token_hash(token),
        scopes=stored_scopes,
        created_at=now,
        expires_at=expires_at,
    )
    db.session.add(key)
    db.session.flush()
    audit.record(
        "api_key.created",
        actor=actor,
        ip=ip,
        target=user,
        key=key,
        prefix=key.prefix,
        scopes=key.scope_list,
        expires_at=expires_at.isoformat() if expires_at else None,
        command_line=actor is None,
    )
    return key, token


def can_revoke(actor: Any, key: ApiKey) -> bool:
    """The key's own person, or an admin."""
    return is_signed_in(actor) and (actor.id == key.user_id or is_admin(actor))


def revoke_key(key: ApiKey, *, actor: User | None, ip: str | None = None) -> None:
    """Stop a key for good. actor None: an operator at the command line."""
    if actor is not None:
        require(can_revoke(actor, key))
    now = utcnow()
    # One revocation, even when two arrive at once: the second finds it done.
    changed = rows_affected(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if not changed:
        raise ApiKeyAlreadyRevoked(f"The key “{key.name}” was revoked already.")
    set_committed_value(key, "revoked_at", now)
    audit.record(
        "api_key.revoked",
        actor=actor,
        ip=ip,
        target=key.user,
        key=key,
        prefix=key.prefix,
        command_line=actor is None,
    )


def keys_of(user: User) -> list[ApiKey]:
    """Every key the person made, newest first; revoked ones stay listed, marked revoked, so
    the person can see what stopped and when."""
    return list(
        db.session.scalars(
            select(ApiKey)
            .where(ApiKey.user_id == user.id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        ).unique()
    )


def key_of(user: User, key_id: int) -> ApiKey | None:
    """One of the person's own keys, or None (someone else's is as if it did not exist)."""
    key = db.session.get(ApiKey, key_id)
    return key if key is not None and key.user_id == user.id else None


def keys_by_prefix(prefix: str) -> list[ApiKey]:
    """The keys whose shown prefix starts with this (for operators revoking from a list)."""
    text = prefix.strip()
    if len(text) < len(TOKEN_PREFIX) + 1:
        return []
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return list(
        db.session.scalars(
            select(ApiKey).where(ApiKey.prefix.like(pattern, escape="\\")).order_by(ApiKey.id)
        ).unique()
    )


def authenticate(
    token: str, *, now: datetime | None = None, note_use: bool = True
) -> ApiKey | None:
    """The key this token belongs to, if it works now: known, not revoked, not expired, and its
    person not suspended. Notes when it was last used, at most once a minute per key, in the
    caller's transaction (the caller commits); with note_use=False the caller does that itself
    (note_use()), when use_is_due() says so, in a transaction of its own."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = now if now is not None else utcnow()
    key = db.session.scalar(
        select(ApiKey)
        .where(ApiKey.token_hash == token_hash(token))
        # Fresh from the database, the person included: a suspension or a change of role made
        # a moment ago counts on this very call.
        .execution_options(populate_existing=True)
    )
    if key is None or key.revoked_at is not None or key.expired(now):
        return None
    if not is_signed_in(key.user):  # suspended
        return None
    if note_use:
        note_use_of(key, now=now)
    return key


def use_is_due(key: ApiKey, *, now: datetime | None = None) -> bool:
    """Whether this use is worth writing down: none in the last minute, as far as we read."""
    now = now if now is not None else utcnow()
    return key.last_used_at is None or key.last_used_at < now - LAST_USED_EVERY


def note_use_of(key: ApiKey, *, now: datetime | None = None) -> None:
    """Write down that the key was used now, unless another request did within the minute."""
    now = now if now is not None else utcnow()
    # No read-modify-write: the database decides whether a minute has passed.
    touched = rows_affected(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if touched:
        set_committed_value(key, "last_used_at", now)


def effective_scopes(key: ApiKey) -> frozenset[str]:
    """What the key may do now: its scopes, within what its person's role allows today."""
    return frozenset(key.scope_list) & frozenset(allowed_scopes(key.user))
