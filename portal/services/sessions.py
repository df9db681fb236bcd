"""Server-side sign-in sessions, so signing out, a new password or a suspension really end them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, select

from portal.database import rows_affected
from portal.extensions import db
from portal.models import User, UserSession
from portal.models.types import utcnow


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start_session(
    user: User,
    *,
    remember: bool,
    ip: str | None,
    user_agent: str | None,
    method: str | None = None,
) -> str:
    """Record a new signed-in session and return its key for the cookie. `method` says how it
    began ("password", "sso:<provider>", "identify"), for the admins to read."""
    cfg = current_app.config
    lifetime = cfg["REMEMBER_COOKIE_DURATION"] if remember else cfg["SESSION_LIFETIME"]
    key = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            key_hash=_hash_key(key),
            user_id=user.id,
            expires_at=utcnow() + lifetime,
            remember=remember,
            ip=ip,
            user_agent=(user_agent or "")[:255] or None,
            method=method,
        )
    )
    user.session_key = key
    user.last_sign_in_at = utcnow()
    return key


def user_for_session(key: str | None) -> User | None:
    """The signed-in person for a cookie's session key, or None if that session is over."""
    found = session_of(key)
    return found[0] if found else None


def session_of(key: str | None) -> tuple[User, datetime] | None:
    """The signed-in person for a cookie's session key and when that session ends, or None if
    it is over."""
    if not key:
        return None
    row = db.session.execute(
        select(User, UserSession.expires_at)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.key_hash == _hash_key(key))
    ).one_or_none()
    if row is None or row.expires_at <= utcnow() or row.User.is_suspended:
        return None
    row.User.session_key = key
    return row.User, row.expires_at


def end_session(key: str | None) -> None:
    if key:
        db.session.execute(delete(UserSession).where(UserSession.key_hash == _hash_key(key)))


def end_all_sessions(user: User, *, except_key: str | None = None) -> None:
    stmt = delete(UserSession).where(UserSession.user_id == user.id)
    if except_key:
        stmt = stmt.where(UserSession.key_hash != _hash_key(except_key))
    db.session.execute(stmt)


def purge_expired_sessions() -> int:
    return rows_affected(delete(UserSession).where(UserSession.expires_at <= utcnow()))
