"""A copy of everything the portal holds about one person, prepared in the background."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Model
from portal.models.mail import Leased, status_known
from portal.models.types import UTCDateTime, utcnow


class DataExport(Leased, Model):
    """One person's request for their data, and once prepared the ZIP itself.

    Kept in the database so any app server can serve it, whichever worker prepared it. It is
    queued like an email (portal.mail.leases): pending, claimed under a lease while it is
    built, then sent (ready, and the person is emailed a link) or failed. The archive is
    dropped when it expires (portal.services.my_data.purge_expired_exports).
    """

    __tablename__ = "data_exports"
    __table_args__ = (
        status_known(),
        Index("ix_data_exports_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archive: Mapped[bytes | None] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(default=0)
