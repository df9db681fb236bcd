"""TEMPORARY stand-in until the keys branch merges."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiKey, User
from portal.models.types import utcnow
from portal.permissions import is_admin, is_signed_in, is_team

SCOPES = ("read", "write", "team", "admin")


def allowed_scopes(user: User) -> tuple[str, ...]:
    if not is_signed_in(user):
        return ()
    if is_admin(user):
        return SCOPES
    if is_team(user):
        return SCOPES[:3]
    return SCOPES[:2]


def create_key(
    user: User, *, name: str, scopes: list[str], expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    token = "portal_" + secrets.token_urlsafe(32)
    key = ApiKey(
        user_id=user.id,
        name=name,
        prefix=token[:12],
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        scopes=" ".join(sorted({"read", *scopes})),
        expires_at=expires_at,
    )
    db.session.add(key)
    db.session.flush()
    return key, token


def authenticate(token: str, *, now: datetime | None = None) -> ApiKey | None:
    now = now or utcnow()
    digest = hashlib.sha256(token.encode()).hexdigest()
    key = db.session.scalar(select(ApiKey).where(ApiKey.token_hash == digest))
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= now:
        return None
    if not is_signed_in(key.user):
        return None
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        key.last_used_at = now
    return key


def effective_scopes(key: ApiKey) -> frozenset[str]:
    return frozenset(key.scopes.split()) & frozenset(allowed_scopes(key.user))
