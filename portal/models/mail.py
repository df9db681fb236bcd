"""Email: the outbox of messages to send, and what each person wants to receive."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Model
from portal.models.types import UTCDateTime, utcnow


class OutboxStatus(enum.StrEnum):
    """Where an outbox row is in its life; stored as these strings (the check constraint)."""

    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # claimed by a worker, under a lease
    SENT = "sent"
    FAILED = "failed"  # gave up after MAIL_MAX_ATTEMPTS; admins may retry it
    SKIPPED = "skipped"  # nothing to send by then: hidden content, or the person opted out


class Leased:
    """The columns portal.mail.leases works on, shared by every row a delivery round claims:
    outbox email, webhook deliveries and data exports. Each table adds its own status check
    (status_known) and an index on (status, next_attempt_at) for finding what is due."""

    status: Mapped[str] = mapped_column(String(10), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


def status_known() -> CheckConstraint:
    """A leased table's check that status is one of OutboxStatus."""
    return CheckConstraint(
        "status IN ({})".format(", ".join(f"'{s}'" for s in OutboxStatus)), name="status_known"
    )


class OutboxMessage(Leased, Model):
    """One email to send, written in the same transaction as the event that causes it.

    Account messages asked for by an address (verification, password reset, a warning about a
    sign-up with a taken address) are queued with no body and composed when they are sent, by
    the composer their service registered (portal.mail.compose.composed_at_send_time), so the
    request does the same work whether or not an account has the address; a message holding a
    one-time link loses its body again once sent through SMTP. Messages about
    ideas (a notification, a digest) are composed when they are sent, from what is true then:
    content hidden in the meantime is never mailed.

    Delivery claims a row by moving it from pending to sending with a lease; a worker that
    dies leaves the lease to expire and the row goes out again. Failures are retried with
    growing back-off until MAIL_MAX_ATTEMPTS, then the row is failed and shown to admins.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        status_known(),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What kind of message: verify_email, reset_password, signup_existing, notification, digest.
    kind: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    # For digests: the notifications it summarises.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str | None] = mapped_column(Text)  # a composed message, until it is sent
    # Makes a message that must go once (a day's digest) unique whoever asks twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str] = mapped_column(String(200), default="")


class EmailPreference(Model):
    """How one person wants to hear about one kind of notification: at once, daily, or not."""

    __tablename__ = "email_preferences"
    __table_args__ = (
        CheckConstraint("delivery IN ('instant', 'daily', 'off')", name="delivery_known"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
