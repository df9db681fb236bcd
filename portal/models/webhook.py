"""Webhooks: the endpoints admins register, and each event's delivery to one of them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Model
from portal.models.mail import Leased, status_known
from portal.models.types import UTCDateTime, utcnow


class WebhookFormat(enum.StrEnum):
    """What an endpoint receives: the signed Standard Webhooks JSON, or a chat message."""

    STANDARD = "standard"
    SLACK = "slack"
    TEAMS = "teams"


class WebhookAudience(enum.StrEnum):
    """What an endpoint may be told of: what a visitor who is not signed in may see, or
    everything the team sees (every board; never hidden content or ideas awaiting approval)."""

    PUBLIC = "public"
    TEAM = "team"


class WebhookEndpoint(Model):
    """A URL told about chosen events, with the secret its deliveries are signed with.

    During a rotation the previous secret signs too, until previous_secret_expires_at, so a
    receiver can switch over without losing a message. An endpoint whose deliveries keep
    failing is disabled (disabled_reason says why) until an admin enables it again.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(
            "format IN ({})".format(", ".join(f"'{f}'" for f in WebhookFormat)),
            name="format_known",
        ),
        CheckConstraint(
            "audience IN ({})".format(", ".join(f"'{a}'" for a in WebhookAudience)),
            name="audience_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    format: Mapped[str] = mapped_column(String(16), default=WebhookFormat.STANDARD)
    # The event types it is sent, e.g. ["idea.created", "idea.moved"].
    events: Mapped[list] = mapped_column(JSON, default=list)
    # vote.created only when an idea's vote count reaches one of these; empty: every vote.
    vote_thresholds: Mapped[list] = mapped_column(JSON, default=list)
    audience: Mapped[str] = mapped_column(
        String(16),
        default=WebhookAudience.PUBLIC.value,
        server_default=WebhookAudience.PUBLIC.value,
    )
    enabled: Mapped[bool] = mapped_column(default=True)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Deliveries in a row that failed every attempt, and since when they have been failing.
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def name(self) -> str:
        """What the audit log and the pages call it."""
        return self.description or self.url


class WebhookDelivery(Leased, Model):
    """One event for one endpoint, written in the transaction that caused the event.

    Claimed, leased, retried and given up exactly as outbox email is (portal.mail.leases);
    each try is kept as a WebhookAttempt for the endpoint's delivery log. The body is built
    when it is sent, from `payload` (the event as it was), so a rotated secret or a changed
    format applies to what is still waiting.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        status_known(),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # The webhook-id header: the same for every try, so receivers can drop repeats.
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    # The event's "data" (portal.services.webhooks), and what it is about, checked again when
    # it is sent: content hidden in the meantime is never sent.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    idea_id: Mapped[int | None] = mapped_column(
        ForeignKey("ideas.id", ondelete="SET NULL"), index=True
    )
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"))
    response_status: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Model):
    """One try at a delivery: when, what the receiver answered (a short excerpt), or the error."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(default=0)
    response_status: Mapped[int | None] = mapped_column()
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
