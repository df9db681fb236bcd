"""The team's own working state: saved triage filters, and hides awaiting an admin's review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.conversation import Comment
from portal.models.idea import Idea
from portal.models.types import UTCDateTime, utcnow
from portal.models.user import User


class SavedFilter(Model):
    """A named set of triage filters, kept as the query string that shows it.

    "owner=me" stays relative: a filter shared with the team shows each person their own ideas.
    """

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    query: Mapped[str] = mapped_column(String(500), default="")
    shared: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    owner: Mapped[User] = relationship(lazy="joined")


class HideReview(Model):
    """A product manager hid an idea or a comment; an admin confirms the hide or restores it.

    One row per hidden item while the review is open (target is "idea:5" or "comment:7", as
    reports name them); confirming or restoring deletes it, and the audit log keeps the story.
    """

    __tablename__ = "hide_reviews"
    __table_args__ = (
        CheckConstraint("target LIKE 'idea:%' OR target LIKE 'comment:%'", name="target_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(40), unique=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    hidden_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    idea: Mapped[Idea] = relationship(lazy="joined")
    comment: Mapped[Comment | None] = relationship(lazy="joined")
    hidden_by: Mapped[User | None] = relationship(lazy="joined")
