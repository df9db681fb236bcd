"""A merge of a duplicate idea into the one kept, and what it moved, so it can be undone exactly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.idea import Idea
from portal.models.pipeline import Stage
from portal.models.types import UTCDateTime, utcnow
from portal.models.user import User


class IdeaMerge(Model):
    """The team merged `source` (a duplicate) into `target` (the idea kept).

    It keeps what the source was before (its stage and answer dates) and, in MergedVote and
    MergedFollow, every vote and follow the merge moved, so unmerging restores both ideas
    exactly. An undone merge keeps its row, with undone_at set, as history.
    """

    __tablename__ = "idea_merges"
    __table_args__ = (
        Index("ix_idea_merges_target", "target_id", "created_at"),
        Index("ix_idea_merges_source", "source_id", "created_at"),
        CheckConstraint("source_id <> target_id", name="not_into_itself"),
        CheckConstraint("votes_moved >= 0", name="votes_moved_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Counted votes the kept idea gained (a person who voted for both counts once there),
    # and the trending weight they brought, taken off again exactly when the merge is undone.
    votes_moved: Mapped[int] = mapped_column(default=0)
    trending_gained: Mapped[float] = mapped_column(default=0.0)
    # The source as it was before the merge moved it to the Merged stage.
    source_stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("stages.id", ondelete="SET NULL")
    )
    source_first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # False for merges made before merges were recorded (carried over by the migration): what
    # they moved is unknown, so they cannot be undone.
    undoable: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    source: Mapped[Idea] = relationship(foreign_keys=[source_id], lazy="raise")
    target: Mapped[Idea] = relationship(foreign_keys=[target_id], lazy="raise")
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="joined")
    source_stage: Mapped[Stage | None] = relationship(lazy="joined")


class MergedVote(Model):
    """A vote the duplicate had when it was merged (the merge removes them all from it).

    A vote is a person's (user_id) or, added by the team, an organisation's (organisation_id),
    with where the team heard it, who added it and the customer's words: all kept, so the vote
    comes back as it was. `copied` says whether the merge gave the kept idea a vote row for
    this voter; when they had voted for it already, their vote there was theirs and stays on
    unmerge. A hidden vote of theirs on the kept idea that the merge replaced is kept in
    replaced_* to come back.
    """

    __tablename__ = "merged_votes"
    __table_args__ = (
        CheckConstraint(
            "(user_id IS NULL) <> (organisation_id IS NULL)", name="person_or_organisation"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merge_id: Mapped[int] = mapped_column(
        ForeignKey("idea_merges.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str | None] = mapped_column(String(20))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    quote: Mapped[str | None] = mapped_column(Text)
    copied: Mapped[bool]
    replaced_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MergedFollow(Model):
    """A follow the merge gave the kept idea, for someone who followed only the duplicate."""

    __tablename__ = "merged_follows"

    merge_id: Mapped[int] = mapped_column(
        ForeignKey("idea_merges.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    via_vote: Mapped[bool]
