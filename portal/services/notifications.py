"""In-app notifications for the people following an idea, mailed as each person chose.

Each function here writes the notifications and then hands them to portal.mail.notify, which
queues the email for those who want it at once (the daily digest picks up the rest).
"""

from __future__ import annotations

from sqlalchemy import and_, insert, literal, select

from portal.extensions import db
from portal.mail.notify import queue_instant
from portal.models import Comment, Follow, Idea, Notification, NotificationKind, User
from portal.models.types import utcnow


def notify_followers(
    idea: Idea,
    kind: NotificationKind,
    *,
    actor: User | None,
    comment: Comment | None = None,
    message: str = "",
) -> None:
    """One notification per follower except the actor, written in a single INSERT ... SELECT."""
    if idea.hidden_at is not None:
        return  # hidden content never reaches customers
    now = utcnow()
    followers = select(
        Follow.user_id,
        literal(str(kind)),
        literal(idea.id),
        literal(comment.id if comment is not None else None),
        literal(actor.id if actor is not None else None),
        literal(message),
        literal(now, type_=Notification.__table__.c.created_at.type),
    ).where(Follow.idea_id == idea.id)
    if actor is not None:
        followers = followers.where(Follow.user_id != actor.id)
    db.session.execute(
        insert(Notification).from_select(
            ["user_id", "kind", "idea_id", "comment_id", "actor_id", "message", "created_at"],
            followers,
        )
    )
    queue_instant(
        and_(
            Notification.idea_id == idea.id,
            Notification.kind == kind,
            Notification.created_at == now,
        )
    )


def notify_author(
    author_id: int, idea_id: int, message: str, *, comment_id: int | None = None
) -> None:
    """Tell an author what moderators did to their post (moderators act unnamed)."""
    notification = Notification(
        user_id=author_id,
        kind=NotificationKind.MODERATION,
        idea_id=idea_id,
        comment_id=comment_id,
        actor_id=None,
        message=message,
    )
    db.session.add(notification)
    db.session.flush()
    queue_instant(Notification.id == notification.id)
