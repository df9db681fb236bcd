"""The audit log: who did what, when and from where. Written by the app, never edited by it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.types import UTCDateTime, utcnow
from portal.models.user import User

# Long enough for "Kofi's comment on “a 120-character idea title”".
NAME_MAX = 200


class AuditEvent(Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_created_at", "created_at"),
        Index("ix_audit_events_action_created_at", "action", "created_at"),
        Index("ix_audit_events_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    ip: Mapped[str | None] = mapped_column(String(45))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None]
    # Names as they were when it happened: the log still reads true after a rename or a deletion.
    actor_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    target_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship(lazy="joined")
