"""The conversation on an idea: comments, one level of replies, the team's official response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import false, or_, select, update

from portal.extensions import db
from portal.models import Comment, Idea, NotificationKind, ReportResolution, User
from portal.models.types import utcnow
from portal.permissions import (
    can_comment,
    can_delete_comment,
    can_edit_comment,
    can_mark_official,
    can_see_hidden,
    is_signed_in,
    require,
    speaks_for_team,
)
from portal.services import abuse, ideas, notifications, trending, votes, webhooks
from portal.services.errors import InvalidInput
from portal.services.reports import close_reports, target_of
from portal.services.validation import clean_comment_body


def add_comment(idea: Idea, *, author: User, body: str, parent_id: int | None = None) -> Comment:
    require(can_comment(author, idea))
    body = clean_comment_body(body)
    abuse.check_links(author, body, field="body")
    parent = None
    if parent_id is not None:
        parent = db.session.get(Comment, parent_id)
        if parent is None or parent.idea_id != idea.id or parent.deleted_at or parent.hidden_at:
            raise InvalidInput("The comment you replied to is no longer there.", field="body")
        if parent.parent_id is not None:
            parent = db.session.get(Comment, parent.parent_id)  # replies stay one level deep
    abuse.check_comment_not_repeated(author, body, idea=idea, parent=parent)
    comment = Comment(
        idea_id=idea.id, author_id=author.id, parent_id=parent.id if parent else None, body=body
    )
    db.session.add(comment)
    db.session.flush()
    db.session.execute(
        update(Idea).where(Idea.id == idea.id).values(comment_count=Idea.comment_count + 1)
    )
    ideas.touch(idea, weight=trending.COMMENT_WEIGHT)
    ideas.record_team_response(idea, author)
    votes.follow(idea, author)
    if parent is not None:
        notifications.notify_reply(idea, comment, parent, actor=author)
    else:
        notifications.notify_followers(
            idea, NotificationKind.COMMENT, actor=author, comment=comment
        )
    webhooks.comment_created(comment, idea)
    return comment


def edit_comment(comment: Comment, *, actor: User, body: str) -> None:
    require(can_edit_comment(actor, comment, now=utcnow()))
    body = clean_comment_body(body)
    abuse.check_links(actor, body, field="body")
    if body != comment.body:
        comment.body = body
        comment.edited_at = utcnow()


def delete_comment(comment: Comment, *, actor: User) -> None:
    """Remove one's own comment; where it has replies a placeholder keeps the thread readable."""
    require(can_delete_comment(actor, comment))
    if comment.hidden_at is None:  # a hidden comment no longer counts
        db.session.execute(
            update(Idea)
            .where(Idea.id == comment.idea_id)
            .values(comment_count=Idea.comment_count - 1)
        )
    comment.deleted_at = utcnow()
    comment.is_official = False
    # Nothing left for moderators to judge: close its reports, or they could never be handled.
    close_reports(target_of(comment=comment), ReportResolution.DELETED, by=None)


def mark_official(comment: Comment, *, actor: User) -> None:
    """A product manager marks a team comment as the official response, shown at the top."""
    require(can_mark_official(actor))
    if comment.deleted_at or comment.hidden_at:
        raise InvalidInput("That comment is no longer there.")
    if comment.author is None or not speaks_for_team(comment.author):
        raise InvalidInput("Only a comment by the team can be the official response.")
    idea = db.session.get_one(Idea, comment.idea_id)
    db.session.execute(
        update(Comment)
        .where(Comment.idea_id == comment.idea_id, Comment.id != comment.id)
        .values(is_official=False)
    )
    if not comment.is_official:
        comment.is_official = True
        ideas.record_team_response(idea, actor)
        ideas.touch(idea)
        notifications.notify_followers(
            idea, NotificationKind.OFFICIAL_RESPONSE, actor=actor, comment=comment
        )


@dataclass
class Thread:
    comment: Comment
    replies: list[Comment] = field(default_factory=list)


def conversation(idea: Idea, *, viewer: Any) -> tuple[Comment | None, list[Thread]]:
    """The official response and the threads, in one query whatever their length.

    Deleted comments without replies disappear; with replies they stay as placeholders.
    Hidden comments are left out for everyone but the team and their own author.
    """
    stmt = select(Comment).where(Comment.idea_id == idea.id)
    if not can_see_hidden(viewer):
        # Authors still see their own hidden comments, marked, with the moderators' reason.
        own = Comment.author_id == viewer.id if is_signed_in(viewer) else false()
        stmt = stmt.where(or_(Comment.hidden_at.is_(None), own))
    rows = list(db.session.scalars(stmt.order_by(Comment.created_at, Comment.id)).unique())
    threads: dict[int, Thread] = {}
    official = None
    for comment in rows:
        if comment.parent_id is None:
            threads[comment.id] = Thread(comment)
        elif comment.parent_id in threads and comment.deleted_at is None:
            threads[comment.parent_id].replies.append(comment)
        if comment.is_official and comment.deleted_at is None:
            official = comment
    visible = [t for t in threads.values() if t.comment.deleted_at is None or t.replies]
    return official, visible


def team_replies(idea: Idea) -> list[Comment]:
    """The visible comments the team wrote on an idea: what its public feed reports."""
    rows = db.session.scalars(
        select(Comment).where(
            Comment.idea_id == idea.id, Comment.deleted_at.is_(None), Comment.hidden_at.is_(None)
        )
    ).unique()
    return [c for c in rows if c.author is not None and speaks_for_team(c.author)]
