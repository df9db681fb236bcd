"""Moderators' actions: hiding, restoring, correcting and approving ideas and comments.

Hidden content keeps its rows: `hidden_at` takes it away from customers everywhere (every
customer-facing query filters on it), while its author still sees it, with the moderator's
reason, and the team can restore it.

Admins hide for good. Product managers hide as moderators of their own product: the item is
hidden at once, just the same, and waits in the admins' queue (a HideReview row) until an
admin confirms the hide or restores the item.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from portal.database import rows_affected
from portal.extensions import db
from portal.models import (
    Comment,
    HideReview,
    Idea,
    IdeaRevision,
    Report,
    ReportResolution,
    User,
    Vote,
)
from portal.models.types import utcnow
from portal.permissions import can_hide_content, can_moderate, hides_need_review, require
from portal.services import audit, notifications, votes, webhooks
from portal.services.errors import InvalidInput
from portal.services.reports import QUEUE_SIZE, close_reports, target_of
from portal.services.text import without_control_characters
from portal.services.validation import clean_comment_body, clean_idea_text

HIDE_REASON_MAX = 500


# --- Hiding and restoring -----------------------------------------------------------------


def _clean_reason(reason: str) -> str:
    reason = without_control_characters(reason or "").strip()
    if len(reason) < 3:
        raise InvalidInput("Tell the author why, in a few words.", field="reason")
    if len(reason) > HIDE_REASON_MAX:
        raise InvalidInput(f"Keep the reason under {HIDE_REASON_MAX} characters.", field="reason")
    return reason


def recount_comments(idea_ids: Iterable[int]) -> None:
    """Set comment_count from the visible comments, in SQL: exact whatever was hidden or not."""
    ids = list(set(idea_ids))
    if not ids:
        return
    visible = (
        select(func.count(Comment.id))
        .where(
            Comment.idea_id == Idea.id, Comment.deleted_at.is_(None), Comment.hidden_at.is_(None)
        )
        .scalar_subquery()
    )
    db.session.execute(update(Idea).where(Idea.id.in_(ids)).values(comment_count=visible))


def _tell_author(
    author_id: int | None, idea_id: int, message: str, *, comment_id: int | None = None
) -> None:
    if author_id is None:
        return
    notifications.notify_author(author_id, idea_id, message, comment_id=comment_id)


def _described(item: Idea | Comment) -> tuple[str, int, int | None, str]:
    """(kind, idea id, comment id, how the author's notification names it)."""
    if isinstance(item, Comment):
        return "comment", item.idea_id, item.id, "your comment"
    return "idea", item.id, None, f"your idea “{item.title}”"


def _target(item: Idea | Comment) -> str:
    return target_of(comment=item) if isinstance(item, Comment) else target_of(idea=item)


def hide(item: Idea | Comment, *, reason: str, actor: User, ip: str | None) -> None:
    """Take an idea or a comment away from customers; its author is told why.

    A product manager's hide waits for an admin's review; an admin's settles any such review.
    """
    require(can_hide_content(actor))
    reason = _clean_reason(reason)
    kind, idea_id, comment_id, named = _described(item)
    needs_review = hides_need_review(actor)
    if needs_review and item.hidden_at is not None:
        # Already hidden (by an admin, or held for approval): the admins' call, not a PM's.
        raise InvalidInput(f"This {kind} is already hidden; an admin decides what happens next.")
    if item.hidden_at is None or getattr(item, "awaiting_approval", False):
        item.hidden_at = utcnow()
    item.hidden_reason = reason
    # Hidden now for this reason of its own: restoring its author's posts leaves it hidden.
    item.hidden_with_author = False
    if isinstance(item, Idea):
        item.awaiting_approval = False
    else:
        item.is_official = False
        db.session.flush()
        recount_comments([idea_id])
    close_reports(_target(item), ReportResolution.HIDDEN, by=actor)
    _settle_review(item)
    if needs_review:
        db.session.add(
            HideReview(
                target=_target(item),
                idea_id=idea_id,
                comment_id=comment_id,
                hidden_by_id=actor.id,
                reason=reason,
            )
        )
    _tell_author(
        item.author_id, idea_id, f"Moderators hid {named}. Reason: {reason}", comment_id=comment_id
    )
    detail: dict[str, object] = {"reason": reason}
    if needs_review:
        detail["awaiting_review"] = True
    audit.record(f"{kind}.hidden", actor=actor, ip=ip, target=item, **detail)


def _settle_review(item: Idea | Comment) -> HideReview | None:
    """Close the review of a product manager's hide of item, if one is open; returns it."""
    review = db.session.scalar(select(HideReview).where(HideReview.target == _target(item)))
    if review is not None:
        db.session.delete(review)
        db.session.flush()
    return review


def review_of(item: Idea | Comment) -> HideReview | None:
    """The open review of a product manager's hide of item, if there is one."""
    return db.session.scalar(select(HideReview).where(HideReview.target == _target(item)))


def confirm_hide(item: Idea | Comment, *, actor: User, ip: str | None) -> None:
    """An admin agrees with a product manager's hide: the item stays hidden, off the queue."""
    require(can_moderate(actor))
    kind, *_ = _described(item)
    review = _settle_review(item)
    if review is None or item.hidden_at is None:
        raise InvalidInput(f"That {kind} is not waiting for review any more.")
    hidden_by = review.hidden_by.display_name if review.hidden_by else "a former team member"
    audit.record(
        f"{kind}.hide_confirmed",
        actor=actor,
        ip=ip,
        target=item,
        hidden_by=hidden_by,
        reason=review.reason,
    )


def hides_awaiting_review(*, limit: int = QUEUE_SIZE) -> list[HideReview]:
    """Product managers' hides for an admin to confirm or undo, oldest first."""
    return list(
        db.session.scalars(
            select(HideReview).order_by(HideReview.created_at, HideReview.id).limit(limit)
        ).unique()
    )


def restore(item: Idea | Comment, *, actor: User, ip: str | None) -> None:
    """Show a hidden idea or comment to everyone again; its author is told."""
    require(can_moderate(actor))
    if item.hidden_at is None:
        return
    kind, idea_id, comment_id, named = _described(item)
    item.hidden_at = None
    item.hidden_reason = None
    item.hidden_with_author = False
    if isinstance(item, Idea):
        item.awaiting_approval = False
    else:
        db.session.flush()
        recount_comments([idea_id])
    review = _settle_review(item)
    _tell_author(
        item.author_id,
        idea_id,
        f"Moderators restored {named}: everyone can see it again.",
        comment_id=comment_id,
    )
    detail: dict[str, object] = {}
    if review is not None:
        detail["hidden_by"] = (
            review.hidden_by.display_name if review.hidden_by else "a former team member"
        )
    audit.record(f"{kind}.restored", actor=actor, ip=ip, target=item, **detail)


def hide_everything_by(user: User, *, reason: str, actor: User, ip: str | None) -> tuple[int, int]:
    """Hide all of a person's ideas and comments at once, e.g. when suspending a spammer.

    Their votes leave every count too. What this hides is marked (hidden_with_author), so that
    restore_everything_by brings back exactly it: posts hidden earlier, or pending approval,
    keep their own state.
    """
    require(can_moderate(actor))
    now = utcnow()
    hidden_ideas = rows_affected(
        update(Idea)
        .where(Idea.author_id == user.id, Idea.hidden_at.is_(None))
        .values(
            hidden_at=now, hidden_reason=reason, awaiting_approval=False, hidden_with_author=True
        )
    )
    touched = list(
        db.session.scalars(
            select(Comment.idea_id)
            .where(Comment.author_id == user.id, Comment.hidden_at.is_(None))
            .distinct()
        )
    )
    hidden_comments = rows_affected(
        update(Comment)
        .where(Comment.author_id == user.id, Comment.hidden_at.is_(None))
        .values(hidden_at=now, hidden_reason=reason, is_official=False, hidden_with_author=True)
    )
    recount_comments(touched)
    hidden_votes = votes.hide_votes_of(user)
    _close_reports_on_posts_by(user, actor=actor, at=now)
    db.session.expire_all()
    audit.record(
        "user.content_hidden",
        actor=actor,
        ip=ip,
        target=user,
        ideas=hidden_ideas,
        comments=hidden_comments,
        votes=hidden_votes,
    )
    return hidden_ideas, hidden_comments


@dataclass(frozen=True)
class HiddenWithAccount:
    """What hiding everything a person posted took away, and restoring would bring back."""

    ideas: int
    comments: int
    votes: int

    def __bool__(self) -> bool:
        return bool(self.ideas or self.comments or self.votes)


def hidden_with_account(user: User) -> HiddenWithAccount:
    """How many of the person's ideas, comments and votes are hidden with their posts."""
    return HiddenWithAccount(
        ideas=_count(Idea, Idea.author_id == user.id, Idea.hidden_with_author.is_(True)),
        comments=_count(
            Comment, Comment.author_id == user.id, Comment.hidden_with_author.is_(True)
        ),
        votes=_count(Vote, Vote.user_id == user.id, Vote.hidden_at.is_not(None)),
    )


def _count(model: type[Idea] | type[Comment] | type[Vote], *where: ColumnElement[bool]) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def restore_everything_by(user: User, *, actor: User, ip: str | None) -> HiddenWithAccount:
    """Undo hide_everything_by: its ideas and comments come back, and the votes count again.

    Only what it hid: a post hidden on its own (before, or since, by a moderator) stays hidden.
    The reports it closed stay closed. Returns what was restored.
    """
    require(can_moderate(actor))
    restored_ideas = rows_affected(
        update(Idea)
        .where(Idea.author_id == user.id, Idea.hidden_with_author.is_(True))
        .values(hidden_at=None, hidden_reason=None, hidden_with_author=False)
    )
    swept_comments = (Comment.author_id == user.id) & Comment.hidden_with_author.is_(True)
    touched = list(db.session.scalars(select(Comment.idea_id).where(swept_comments).distinct()))
    restored_comments = rows_affected(
        update(Comment)
        .where(swept_comments)
        .values(hidden_at=None, hidden_reason=None, hidden_with_author=False)
    )
    recount_comments(touched)
    restored_votes = votes.restore_votes_of(user)
    db.session.expire_all()
    restored = HiddenWithAccount(restored_ideas, restored_comments, restored_votes)
    audit.record(
        "user.content_restored",
        actor=actor,
        ip=ip,
        target=user,
        ideas=restored.ideas,
        comments=restored.comments,
        votes=restored.votes,
    )
    return restored


def _close_reports_on_posts_by(user: User, *, actor: User, at: datetime) -> None:
    """Their reports are answered: what was reported about this person's posts is dealt with."""
    db.session.execute(
        update(Report)
        .where(
            Report.resolved_at.is_(None),
            or_(
                and_(
                    Report.comment_id.is_(None),
                    Report.idea_id.in_(select(Idea.id).where(Idea.author_id == user.id)),
                ),
                Report.comment_id.in_(select(Comment.id).where(Comment.author_id == user.id)),
            ),
        )
        .values(resolved_at=at, resolved_by_id=actor.id, resolution=ReportResolution.HIDDEN)
    )


# --- Moderators' edits --------------------------------------------------------------------


def edit_idea(
    idea: Idea,
    *,
    title: str,
    problem: str,
    solution: str,
    note: str,
    actor: User,
    ip: str | None,
) -> bool:
    """A moderator corrects an idea (say, removes personal data); the old text is kept.

    Only the text is checked: a moderator's edit leaves the category as it is, so a category
    retired since, or none at all, is no reason to refuse it.
    """
    require(can_moderate(actor))
    note = _clean_reason(note)
    text = clean_idea_text(title, problem, solution)
    if not text.differs_from(idea.title, idea.problem, idea.solution):
        return False
    db.session.add(
        IdeaRevision(
            idea_id=idea.id, title=idea.title, problem=idea.problem, solution=idea.solution
        )
    )
    idea.title, idea.problem, idea.solution = text.title, text.problem, text.solution
    idea.edited_at = utcnow()
    close_reports(target_of(idea=idea), ReportResolution.EDITED, by=actor)
    _tell_author(
        idea.author_id, idea.id, f"Moderators edited your idea “{idea.title}”. Reason: {note}"
    )
    audit.record("idea.moderator_edit", actor=actor, ip=ip, target=idea, reason=note)
    return True


def edit_comment(comment: Comment, *, body: str, note: str, actor: User, ip: str | None) -> bool:
    """A moderator corrects a comment; the old text is kept in the audit log."""
    require(can_moderate(actor))
    note = _clean_reason(note)
    body = clean_comment_body(body)
    if body == comment.body:
        return False
    previous = comment.body
    comment.body = body
    comment.edited_at = utcnow()
    close_reports(target_of(comment=comment), ReportResolution.EDITED, by=actor)
    _tell_author(
        comment.author_id,
        comment.idea_id,
        f"Moderators edited your comment. Reason: {note}",
        comment_id=comment.id,
    )
    # The earlier text stays on record for admins, as comments keep no revisions of their own.
    audit.record(
        "comment.moderator_edit", actor=actor, ip=ip, target=comment, reason=note, previous=previous
    )
    return True


# --- Pre-moderation: the ideas held back (the rules are in services.premoderation) ---------


def awaiting_approval(*, limit: int = QUEUE_SIZE) -> list[Idea]:
    return list(
        db.session.scalars(
            select(Idea)
            .where(Idea.awaiting_approval.is_(True))
            .order_by(Idea.created_at, Idea.id)
            .limit(limit)
        ).unique()
    )


def approve_idea(idea: Idea, *, actor: User, ip: str | None) -> None:
    require(can_moderate(actor))
    if not idea.awaiting_approval:
        raise InvalidInput("That idea is not waiting for approval.")
    idea.awaiting_approval = False
    idea.hidden_at = None
    idea.hidden_reason = None
    idea.hidden_with_author = False
    _tell_author(
        idea.author_id,
        idea.id,
        f"Your idea “{idea.title}” is approved and public: everyone can now see it and vote.",
    )
    audit.record("idea.approved", actor=actor, ip=ip, target=idea)
    webhooks.idea_created(idea)  # it appears only now


def recently_hidden(*, limit: int = 50) -> tuple[list[Idea], list[Comment]]:
    """What moderators hid, newest first; hides awaiting review are listed on their own."""
    idea_reviews = select(HideReview.idea_id).where(HideReview.comment_id.is_(None))
    comment_reviews = select(HideReview.comment_id).where(HideReview.comment_id.is_not(None))
    hidden_ideas = db.session.scalars(
        select(Idea)
        .where(
            Idea.hidden_at.is_not(None),
            Idea.awaiting_approval.is_(False),
            Idea.id.not_in(idea_reviews),
        )
        .order_by(Idea.hidden_at.desc(), Idea.id.desc())
        .limit(limit)
    ).unique()
    hidden_comments = db.session.scalars(
        select(Comment)
        .where(
            Comment.hidden_at.is_not(None),
            Comment.deleted_at.is_(None),
            Comment.id.not_in(comment_reviews),
        )
        .order_by(Comment.hidden_at.desc(), Comment.id.desc())
        .limit(limit)
    ).unique()
    return list(hidden_ideas), list(hidden_comments)
