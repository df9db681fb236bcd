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
from portal.services import audit


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


def active_sessions(user: User) -> list[UserSession]:
    """The person's sessions that still work, newest first."""
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, UserSession.expires_at > utcnow())
            .order_by(UserSession.created_at.desc(), UserSession.id.desc())
        )
    )


def is_key_of(row: UserSession, key: str | None) -> bool:
    """Whether this session is the one a cookie's key opens (the browser asking)."""
    return bool(key) and row.key_hash == _hash_key(key or "")


def end_session_of(user: User, session_id: int) -> bool:
    """End one of this person's sessions by its id; False if they have no such session."""
    return (
        rows_affected(
            delete(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id)
        )
        > 0
    )


def browser_summary(user_agent: str | None) -> str:
    """'Firefox on Windows' from a user agent string, or 'Unknown browser'."""
    ua = user_agent or ""
    browser = next(
        (
            label
            for token, label in (
                ("Edg/", "Edge"),
                ("OPR/", "Opera"),
                ("Firefox/", "Firefox"),
                ("Chromium/", "Chromium"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
                ("curl/", "curl"),
            )
            if token in ua
        ),
        None,
    )
    system = next(
        (
            label
            for token, label in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "macOS"),
                ("CrOS", "ChromeOS"),
                ("Linux", "Linux"),
            )
            if token in ua
        ),
        None,
    )
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (ua[:40] if ua else "Unknown browser")


def end_one_for(target: User, session_id: int, *, actor: User, ip: str | None) -> bool:
    """An admin, or the person themselves, ends one session; audited. False if none such."""
    ended = end_session_of(target, session_id)
    if ended:
        audit.record("session.ended", actor=actor, ip=ip, target=target, session=session_id)
    return ended


def end_all_for(
    target: User, *, actor: User, ip: str | None, except_key: str | None = None
) -> None:
    """An admin ends every session of a person, or the person every session but this one."""
    end_all_sessions(target, except_key=except_key)
    audit.record(
        "session.ended_all" if except_key is None else "session.ended_others",
        actor=actor,
        ip=ip,
        target=target,
    )
