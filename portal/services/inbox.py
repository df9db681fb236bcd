"""A person's notifications as they read them: grouped by idea, counted, opened, marked read.

The sending side (who gets which notification) is portal.services.notifications; this module
only reads them and marks them read, for the notifications page, the header and the idea page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from portal import visibility
from portal.database import rows_affected
from portal.extensions import db
from portal.models import Comment, Idea, Notification, NotificationKind, User
from portal.models.types import utcnow
from portal.permissions import can_see_hidden

_Query = TypeVar("_Query", bound="Select[Any]")

# The page shows the newest this many; older ones are still marked read by "Mark all read".
PAGE_SIZE = 100


def _visible(stmt: _Query, user: User) -> _Query:
    """Nothing about hidden ideas or comments, except moderators' word to their own author,
    and nothing about an idea on a board the person may not see (portal.visibility): an idea
    moved to a private board since leaves no trace in their notifications."""
    return (
        stmt.outerjoin(Idea, Notification.idea_id == Idea.id)
        .outerjoin(Comment, Notification.comment_id == Comment.id)
        .where(
            or_(
                Notification.kind == NotificationKind.MODERATION,
                and_(Idea.hidden_at.is_(None), Comment.hidden_at.is_(None)),
            ),
            or_(Notification.idea_id.is_(None), visibility.board_clause(user, Idea.board_id)),
        )
    )


def unread_count(user: User) -> int:
    """The number beside "Notifications" in the header."""
    stmt = select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    return db.session.scalar(_visible(stmt, user)) or 0


@dataclass(frozen=True)
class Event:
    """One notification, and whether the comment it is about can still be shown to its reader."""

    notification: Notification
    # The comment it is about was deleted or hidden since: link to the idea, and say so.
    comment_gone: bool = False

    @property
    def unread(self) -> bool:
        return self.notification.read_at is None


@dataclass
class IdeaGroup:
    """An idea and what happened on it, newest first."""

    idea: Idea | None
    events: list[Event] = field(default_factory=list)

    @property
    def unread(self) -> int:
        return sum(1 for e in self.events if e.unread)


def _comment_shown(comment: Comment, parent: Comment | None, viewer: User) -> bool:
    """Whether the idea page shows this comment to viewer, so that #comment-N leads to it.

    As comments.conversation: deleted comments are gone (a placeholder carries no reply to
    point at), hidden ones are shown to the team and their author only, and a reply goes with
    its thread.
    """

    def seen(c: Comment) -> bool:
        return c.hidden_at is None or can_see_hidden(viewer) or c.author_id == viewer.id

    if comment.deleted_at is not None or not seen(comment):
        return False
    return parent is None or seen(parent)


def grouped(user: User, *, unread_only: bool = False, limit: int = PAGE_SIZE) -> list[IdeaGroup]:
    """The person's newest notifications grouped by idea; the group with the newest first.

    Three queries whatever the number: the notifications (with their ideas), then the comments
    they are about and those comments' threads.
    """
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    stmt = _visible(stmt, user).order_by(Notification.created_at.desc(), Notification.id.desc())
    rows = list(db.session.scalars(stmt.limit(limit)).unique())
    parent = aliased(Comment)
    comment_ids = {n.comment_id for n in rows if n.comment_id is not None}
    shown: dict[int, bool] = {}
    if comment_ids:
        pairs = db.session.execute(
            select(Comment, parent)
            .outerjoin(parent, Comment.parent_id == parent.id)
            .where(Comment.id.in_(comment_ids))
        ).all()
        shown = {c.id: _comment_shown(c, p, user) for c, p in pairs}
    groups: dict[int | None, IdeaGroup] = {}
    for n in rows:
        group = groups.setdefault(n.idea_id, IdeaGroup(n.idea))
        gone = n.comment_id is not None and not shown.get(n.comment_id, False)
        group.events.append(Event(n, comment_gone=gone))
    return list(groups.values())


def target(user: User, notification_id: int) -> tuple[int | None, int | None, str] | None:
    """Where opening a notification leads: (idea id, comment id or None, kind); None when it is
    not the person's or is about something they may no longer see."""
    stmt = _visible(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user.id
        ),
        user,
    )
    n = db.session.scalars(stmt).unique().first()
    if n is None:
        return None
    comment_id = n.comment_id
    if comment_id is not None:
        comment = db.session.get(Comment, comment_id)
        parent = (
            db.session.get(Comment, comment.parent_id)
            if comment is not None and comment.parent_id is not None
            else None
        )
        if comment is None or not _comment_shown(comment, parent, user):
            comment_id = None
    return n.idea_id, comment_id, n.kind


def mark_read(user: User, notification_id: int | None = None) -> int:
    """Mark one of the person's notifications, or all of them, as read; how many changed."""
    stmt = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        # Only one they may see: one about an idea moved out of their sight is as if gone.
        shown = _visible(select(Notification.id).where(Notification.id == notification_id), user)
        stmt = stmt.where(Notification.id.in_(shown))
    return rows_affected(stmt.values(read_at=utcnow()))


def has_unread_about(user: User, idea: Idea) -> bool:
    """A cheap read first, so that looking at an idea writes only when there is news on it."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Notification.user_id == user.id,
                    Notification.idea_id == idea.id,
                    Notification.read_at.is_(None),
                )
            )
        )
    )


def mark_read_about(user: User, idea: Idea, *, kind: NotificationKind | None = None) -> int:
    """The person has seen the idea (or answered its question): its news is read."""
    stmt = update(Notification).where(
        Notification.user_id == user.id,
        Notification.idea_id == idea.id,
        Notification.read_at.is_(None),
    )
    if kind is not None:
        stmt = stmt.where(Notification.kind == kind)
    return rows_affected(stmt.values(read_at=utcnow()))
