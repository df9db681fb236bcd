"""People and their signed-in sessions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from portal.models.organisation import Organisation


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    PRODUCT_MANAGER = "product_manager"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {"customer": "Customer", "product_manager": "Product manager", "admin": "Admin"}[
            self.value
        ]


ROLE_VALUES = tuple(r.value for r in Role)


class User(UserMixin, Model):
    """Someone with an account: a customer, a product manager or an admin."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLE_VALUES!r}", name="role_known"),
        Index("ix_users_display_name", "display_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.CUSTOMER.value)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    guidelines_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspension_reason: Mapped[str | None] = mapped_column(Text)

    # Only the newest reset link works: issuing one replaces the previous hash.
    reset_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    reset_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Likewise the newest confirmation link. Using it clears the expiry, never the hash: the
    # link then works for nothing, yet is still recognised, so its page can say the address is
    # already confirmed instead of showing an error.
    verify_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    verify_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Two-factor sign-in (portal.services.two_factor): the TOTP secret, set when setup begins;
    # two-factor is on only once a code from it was confirmed (totp_enabled_at). The last time
    # step a code was accepted for, so no code works twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    organisation: Mapped[Organisation | None] = relationship(lazy="joined", innerjoin=False)

    # Set by the session loader: the key of the session this request is signed in with.
    if TYPE_CHECKING:  # for mypy only: SQLAlchemy would take the annotation for a column
        session_key: str | None
    session_key = None

    def get_id(self) -> str | None:
        # Flask-Login keeps this in the cookie; it names a server-side session, not the user,
        # so signing out or changing the password can end it.
        return self.session_key

    def end_emailed_links(self) -> None:
        """A new password or a suspension: no reset or confirmation link sent before works."""
        self.reset_token_hash = None
        self.reset_token_expires_at = None
        self.verify_token_hash = None
        self.verify_token_expires_at = None

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def two_factor_on(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None

    @property
    def is_active(self) -> bool:
        return not self.is_suspended

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class UserSession(Model):
    """One signed-in browser. The cookie carries a random key; only its hash is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remember: Mapped[bool] = mapped_column(default=False)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    # How it began: "password", "sso:<provider slug>", "identify", "email link", "invite".
    method: Mapped[str | None] = mapped_column(String(50))

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class RecoveryCode(Model):
    """A one-time code for signing in without the authenticator app; only its hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RememberedDevice(Model):
    """A browser that skips the two-factor code for a while. The cookie carries a random
    token; only its hash is stored."""

    __tablename__ = "remembered_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(255))
