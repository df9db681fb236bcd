"""In-app notifications for the people following an idea."""

from __future__ import annotations

from sqlalchemy import and_, func, insert, literal, or_, select, update

from portal.extensions import db
from portal.models import Comment, Follow, Idea, Notification, User
from portal.models.types import utcnow

COMMENT = "comment"
REPLY = "reply"
STAGE_CHANGE = "stage_change"
MERGED = "merged"
OFFICIAL_RESPONSE = "official_response"
OUTCOME_QUESTION = "outcome_question"
MODERATION = "moderation"  # to an author: moderators hid, restored, edited or approved their post


def notify_followers(
    idea: Idea,
    kind: str,
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
        literal(kind),
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
    from portal.services import emails

    emails.queue_instant(
        and_(
            Notification.idea_id == idea.id,
            Notification.kind == kind,
            Notification.created_at == now,
        )
    )


def _visible(stmt):
    """Nothing about hidden ideas or comments, except moderators' word to their own author."""
    return (
        stmt.outerjoin(Idea, Notification.idea_id == Idea.id)
        .outerjoin(Comment, Notification.comment_id == Comment.id)
        .where(
            or_(
                Notification.kind == MODERATION,
                and_(Idea.hidden_at.is_(None), Comment.hidden_at.is_(None)),
            )
        )
    )


def unread_count(user: User) -> int:
    stmt = select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    return db.session.scalar(_visible(stmt)) or 0


def notifications_for(user: User, *, limit: int = 50) -> list[Notification]:
    stmt = (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(_visible(stmt)).unique())


def mark_read(user: User, notification_id: int | None = None) -> int:
    """Mark one of the person's notifications, or all of them, as read."""
    stmt = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    return db.session.execute(stmt.values(read_at=utcnow())).rowcount or 0
