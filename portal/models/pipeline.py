"""The pipeline: its stages, the moves between them it allows, and each idea's moves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.types import UTCDateTime, utcnow
from portal.models.user import User

# The two stages the portal itself relies on, whatever else admins make of the pipeline: new
# ideas start in NEW_SLUG, and ideas merged into another end in MERGED_SLUG. Neither may retire.
NEW_SLUG = "new"
MERGED_SLUG = "merged"


class Stage(Model):
    """A step of the pipeline, with what it means for customers and how soon they hear back."""

    __tablename__ = "stages"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(Text)
    is_closed: Mapped[bool] = mapped_column(default=False)
    voting_allowed: Mapped[bool] = mapped_column(default=True)
    # Days within which customers can expect the next word from the team; None: no promise.
    response_days: Mapped[int | None]
    position: Mapped[int] = mapped_column(default=0)
    retired: Mapped[bool] = mapped_column(default=False)
    # The badge's background, '#rrggbb', checked for readable text when saved; None: plain grey.
    colour: Mapped[str | None] = mapped_column(String(7))

    @property
    def is_merged_stage(self) -> bool:
        """Whether this is where merged ideas end: reached only by merging, never by a move."""
        return self.slug == MERGED_SLUG


class StageTransition(Model):
    """A move the pipeline allows: ideas in from_stage may go to to_stage."""

    __tablename__ = "stage_transitions"

    from_stage_id: Mapped[int] = mapped_column(
        ForeignKey("stages.id", ondelete="CASCADE"), primary_key=True
    )
    to_stage_id: Mapped[int] = mapped_column(
        ForeignKey("stages.id", ondelete="CASCADE"), primary_key=True
    )


class StageChange(Model):
    """One move on an idea's public timeline, with the team's note to its followers."""

    __tablename__ = "stage_changes"
    __table_args__ = (Index("ix_stage_changes_idea_created", "idea_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    from_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id"))
    to_stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"))
    note: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    from_stage: Mapped[Stage | None] = relationship(foreign_keys=[from_stage_id], lazy="joined")
    to_stage: Mapped[Stage] = relationship(foreign_keys=[to_stage_id], lazy="joined")
    actor: Mapped[User | None] = relationship(lazy="joined")
