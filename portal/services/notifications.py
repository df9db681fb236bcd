"""In-app notifications for the people following an idea, mailed as each person chose.

Each function here writes the notifications and then hands them to portal.mail.notify, which
queues the email for those who want it at once (the daily digest picks up the rest).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, case, func, insert, literal, or_, select

from portal import visibility
from portal.extensions import db
from portal.mail.notify import queue_instant
from portal.mail.preferences import turned_off
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
    """One notification per follower who may see the idea, except the actor, written in a
    single INSERT ... SELECT."""
    _notify(idea, literal(str(kind)), [kind], actor=actor, comment=comment, message=message)


def notify_closed(idea: Idea, *, actor: User, message: str) -> None:
    """An idea closed: one notification per follower, the outcome question with the stage note.

    A person who turned the outcome question off is told of the stage change instead, so each
    person hears of the closing once, as they chose.
    """
    kind = case(
        (
            turned_off(Follow.user_id, NotificationKind.OUTCOME_QUESTION),
            literal(str(NotificationKind.STAGE_CHANGE)),
        ),
        else_=literal(str(NotificationKind.OUTCOME_QUESTION)),
    )
    kinds = [NotificationKind.OUTCOME_QUESTION, NotificationKind.STAGE_CHANGE]
    _notify(idea, kind, kinds, actor=actor, message=message)


def notify_reply(idea: Idea, reply: Comment, parent: Comment, *, actor: User) -> None:
    """A reply reaches the people in its thread as a reply; other followers as a comment.

    In the thread: the author of the comment replied to, everyone who replied to it, and the
    idea's author. Everyone else following the idea gets what they chose for comments (by
    default the digest), not a message each time two people talk.
    """
    thread = select(Comment.author_id).where(
        or_(Comment.id == parent.id, Comment.parent_id == parent.id),
        Comment.author_id.is_not(None),
        Comment.deleted_at.is_(None),
        Comment.hidden_at.is_(None),
    )
    in_thread = or_(Follow.user_id.in_(thread), Follow.user_id == idea.author_id)
    kind = case(
        (in_thread, literal(str(NotificationKind.REPLY))),
        else_=literal(str(NotificationKind.COMMENT)),
    )
    kinds = [NotificationKind.REPLY, NotificationKind.COMMENT]
    _notify(idea, kind, kinds, actor=actor, comment=reply)


def _notify(
    idea: Idea,
    kind: ColumnElement[str],
    kinds: list[NotificationKind],
    *,
    actor: User | None,
    comment: Comment | None = None,
    message: str = "",
) -> None:
    """One notification per follower but the actor, of the kind `kind` gives for each of them
    (one of `kinds`), and their email: one INSERT ... SELECT, then the outbox rows."""
    if idea.hidden_at is not None:
        return  # hidden content never reaches customers
    now = utcnow()
    followers = select(
        Follow.user_id,
        kind,
        literal(idea.id),
        literal(comment.id if comment is not None else None),
        literal(actor.id if actor is not None else None),
        literal(message),
        literal(now, type_=Notification.__table__.c.created_at.type),
    ).where(
        Follow.idea_id == idea.id,
        # Only people who may see the idea now: a follower left outside a private board hears
        # nothing of it.
        select(User.id)
        .where(User.id == Follow.user_id, visibility.recipients_clause(idea.board_id))
        .exists(),
    )
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
            Notification.kind.in_([str(k) for k in kinds]),
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


def notify_release(release_id: int, idea_ids: list[int], *, actor: User, message: str) -> None:
    """A release shipped these ideas: one notification per person following any of them, the
    outcome question about the first of them they follow, carrying the release's note.

    As in notify_closed, a person who turned the outcome question off is told as a stage change.
    One INSERT ... SELECT grouped by person, so nobody hears twice of the same release.
    """
    if not idea_ids:
        return
    kind = case(
        (
            turned_off(Follow.user_id, NotificationKind.OUTCOME_QUESTION),
            literal(str(NotificationKind.STAGE_CHANGE)),
        ),
        else_=literal(str(NotificationKind.OUTCOME_QUESTION)),
    )
    followers = (
        select(
            Follow.user_id,
            kind,
            func.min(Follow.idea_id),
            literal(actor.id),
            literal(message),
            literal(release_id),
            literal(utcnow(), type_=Notification.__table__.c.created_at.type),
        )
        .join(Idea, Idea.id == Follow.idea_id)
        .join(User, User.id == Follow.user_id)
        .where(
            Follow.idea_id.in_(idea_ids),
            Follow.user_id != actor.id,
            Idea.hidden_at.is_(None),  # hidden content never reaches customers
            visibility.recipients_clause(Idea.board_id),
        )
        .group_by(Follow.user_id)
    )
    db.session.execute(
        insert(Notification).from_select(
            ["user_id", "kind", "idea_id", "actor_id", "message", "release_id", "created_at"],
            followers,
        )
    )
    queue_instant(Notification.release_id == release_id)
