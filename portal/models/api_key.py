"""API keys: tokens a person gives their own scripts to use the JSON API as them, within scopes."""

from __future__ import annotations

from datetime import datetime
from itertools import combinations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.types import UTCDateTime, utcnow
from portal.models.user import User

# What a key may be allowed to do, from least to most; portal.services.api_keys says each in
# words and decides who may give a key which.
API_SCOPES = ("read", "write", "team", "admin")


def _scope_sets() -> tuple[str, ...]:
    """Every value the scopes column may hold: "read" and any of the others, in API_SCOPES order
    (every key reads; writing, the team's work and an admin's imply reading)."""
    others = API_SCOPES[1:]
    return tuple(
        " ".join(("read", *chosen))
        for count in range(len(others) + 1)
        for chosen in combinations(others, count)
    )


SCOPE_SETS = _scope_sets()


class ApiKey(Model):
    """One key. Only the SHA-256 of its token is kept: the token is shown once, when made.

    The token is long and random, so a plain hash is enough (no salt or slow hash needed), and
    finding a key by its hash is an index lookup that tells nothing by its timing.
    """

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(f"scopes IN {SCOPE_SETS!r}", name="scopes_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # The token's first characters, shown in lists so a person can tell their keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Space-separated, in API_SCOPES order: one of SCOPE_SETS.
    scopes: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Written at most once a minute per key (portal.services.api_keys.authenticate).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def __repr__(self) -> str:
        return f"<ApiKey {self.id} {self.prefix}… of user {self.user_id}>"
