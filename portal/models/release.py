"""Releases: the team's notes on what shipped, each linking the ideas it delivers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.idea import Idea
from portal.models.types import UTCDateTime, utcnow
from portal.models.user import User


class ReleaseStatus(enum.StrEnum):
    """Where a release stands; stored as these strings in releases.status."""

    DRAFT = "draft"  # the team's only: customers never see it
    PUBLISHED = "published"  # on the changelog; its ideas moved to Shipped


class Release(Model):
    """A release note (Markdown) and, through ReleaseIdea, the ideas it ships."""

    __tablename__ = "releases"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published')", name="release_status_known"),
        Index("ix_releases_status_published", "status", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default=ReleaseStatus.DRAFT)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    author: Mapped[User | None] = relationship(foreign_keys=[author_id], lazy="joined")
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id], lazy="joined")

    @property
    def is_published(self) -> bool:
        return self.status == ReleaseStatus.PUBLISHED


class ReleaseIdea(Model):
    """An idea a release ships, in the order the note lists them."""

    __tablename__ = "release_ideas"

    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    idea_id: Mapped[int] = mapped_column(
        ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(default=0)

    idea: Mapped[Idea] = relationship(lazy="joined", innerjoin=True)
