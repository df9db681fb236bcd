"""What `flask import` brought in from another tool, so that running it again adds nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Model
from portal.models.types import UTCDateTime, utcnow

IMPORT_SOURCES = ("own", "canny", "uservoice")
IMPORT_KINDS = ("person", "idea", "vote", "comment")


class ImportRecord(Model):
    """One thing read from an export (a person, idea, vote or comment, by its id there) and the
    row it became here. The unique constraint, not a check in Python, keeps a second run, or two
    runs at once, from adding it twice."""

    __tablename__ = "import_records"
    __table_args__ = (
        UniqueConstraint("source", "kind", "external_id"),
        CheckConstraint(f"source IN {IMPORT_SOURCES!r}", name="source_known"),
        CheckConstraint(f"kind IN {IMPORT_KINDS!r}", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    # The id the other tool gave it (or, where it gives none, a key made from what it says).
    external_id: Mapped[str] = mapped_column(String(255))
    # The row it became: users.id, ideas.id, votes.id or comments.id, by kind. Not a foreign key,
    # since it names one of four tables; a row deleted since is not brought back by a new run.
    local_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
