"""The conversation around ideas: comments, the team's notes, reports, notifications."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.idea import Idea
from portal.models.release import Release
from portal.models.types import UTCDateTime, utcnow
from portal.models.user import User


class Comment(Model):
    """A comment on an idea, or a reply to one; the team's may be marked official."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_idea_created", "idea_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # One level of replies: a reply's parent is always a top-level comment.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    # As Idea.hidden_with_author: hidden with everything its author posted, restored with it.
    hidden_with_author: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    is_official: Mapped[bool] = mapped_column(default=False)

    author: Mapped[User | None] = relationship(lazy="joined")


class InternalNote(Model):
    """A note for the team only: never shown to customers, in any page, feed or message."""

    __tablename__ = "internal_notes"
    __table_args__ = (Index("ix_internal_notes_idea_created", "idea_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship(lazy="joined")


class ReportResolution(enum.StrEnum):
    """What became of a report; stored as these strings in reports.resolution."""

    HIDDEN = "hidden"  # a moderator hid the content
    EDITED = "edited"  # a moderator corrected it
    DISMISSED = "dismissed"  # a moderator judged the report unfounded
    DELETED = "deleted"  # its author deleted the comment first


class Report(Model):
    """Someone's report of an idea or a comment to the moderators.

    `target` names what was reported ("idea:12" or "comment:34") so the queue can gather all the
    reports of one item into one row; a person has at most one open report per item.
    """

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint("reason IN ('spam', 'abusive', 'off_topic', 'other')", name="reason_known"),
        Index(
            "uq_reports_open_reporter_target",
            "reporter_id",
            "target",
            unique=True,
            sqlite_where=sa_text("resolved_at IS NULL"),
            postgresql_where=sa_text("resolved_at IS NULL"),
        ),
        Index("ix_reports_open_target", "resolved_at", "target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(40))
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What became of it: a ReportResolution, or None while it is open.
    resolution: Mapped[str | None] = mapped_column(String(20))

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id], lazy="joined")


class NotificationKind(enum.StrEnum):
    """What a notification is about; stored as these strings, and the kinds people choose
    email for."""

    COMMENT = "comment"
    REPLY = "reply"
    STAGE_CHANGE = "stage_change"
    MERGED = "merged"
    OFFICIAL_RESPONSE = "official_response"
    OUTCOME_QUESTION = "outcome_question"
    # To an author: moderators hid, restored, edited or approved their post.
    MODERATION = "moderation"
    # To a customer: the team added their vote for an idea, from a call, ticket or meeting.
    VOTE_ADDED = "vote_added"
    # The team moved an idea someone follows to another board.
    BOARD_MOVED = "board_moved"


class Notification(Model):
    """Something a person following an idea should know about, shown in the app."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    idea_id: Mapped[int | None] = mapped_column(
        ForeignKey("ideas.id", ondelete="CASCADE"), index=True
    )
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text, default="")
    # Set when a release shipped it: the person hears once per release, however many of its
    # ideas they follow (idea_id is the first of those, the one its outcome question names).
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When it went out in a daily digest email (for people who chose daily for its kind).
    digested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    idea: Mapped[Idea | None] = relationship(lazy="joined")
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="joined")
    release: Mapped[Release | None] = relationship(lazy="joined")
