"""Keeping the place healthy: reports, the moderation queue, hiding, restoring, pre-moderation.

Hidden content keeps its rows: `hidden_at` takes it away from customers everywhere (every
customer-facing query filters on it), while its author still sees it, with the moderator's
reason, and the team can restore it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select, update

from portal.database import insert_ignoring_duplicates
from portal.extensions import db
from portal.models import Comment, Idea, IdeaRevision, Report, User
from portal.models.types import utcnow
from portal.permissions import can_moderate, can_report, is_team, require
from portal.services import audit, notifications, settings
from portal.services.errors import InvalidInput
from portal.services.text import without_control_characters

REASONS = {
    "spam": "Spam or advertising",
    "abusive": "Abusive, harassing or hateful",
    "off_topic": "Off-topic or not an idea",
    "other": "Something else",
}
DETAIL_MAX = 1000
HIDE_REASON_MAX = 500
QUEUE_SIZE = 100


HIDDEN = "hidden"
EDITED = "edited"
DISMISSED = "dismissed"


def target_of(*, idea: Idea | None = None, comment: Comment | None = None) -> str:
    return f"comment:{comment.id}" if comment is not None else f"idea:{idea.id}"


# --- Reports -------------------------------------------------------------------------------


def report(
    reporter: User,
    *,
    reason: str,
    detail: str = "",
    idea: Idea | None = None,
    comment: Comment | None = None,
) -> bool:
    """Report an idea or a comment to the moderators; False if this person already had."""
    require(can_report(reporter))
    if reason not in REASONS:
        raise InvalidInput("Choose why you are reporting this.", field="reason")
    detail = without_control_characters(detail or "").strip()
    if len(detail) > DETAIL_MAX:
        raise InvalidInput(f"Keep the details under {DETAIL_MAX:,} characters.", field="detail")
    if reason == "other" and not detail:
        raise InvalidInput("Tell the moderators what is wrong.", field="detail")
    item = comment if comment is not None else idea
    if item.author_id == reporter.id:
        raise InvalidInput("You cannot report your own post; edit or delete it instead.")
    return insert_ignoring_duplicates(
        Report,
        target=target_of(idea=idea, comment=comment),
        idea_id=comment.idea_id if comment is not None else idea.id,
        comment_id=comment.id if comment is not None else None,
        reporter_id=reporter.id,
        reason=reason,
        detail=detail,
        created_at=utcnow(),
    )


def _resolve_reports(target: str, resolution: str, actor: User) -> int:
    return (
        db.session.execute(
            update(Report)
            .where(Report.target == target, Report.resolved_at.is_(None))
            .values(resolved_at=utcnow(), resolved_by_id=actor.id, resolution=resolution)
        ).rowcount
        or 0
    )


def dismiss_reports(
    *, idea: Idea | None = None, comment: Comment | None = None, actor: User, ip: str | None
) -> int:
    """The reports were unfounded: close them, leaving the content as it is."""
    require(can_moderate(actor))
    target = target_of(idea=idea, comment=comment)
    closed = _resolve_reports(target, DISMISSED, actor)
    if closed:
        audit.record("report.dismissed", actor=actor, ip=ip, target=comment or idea, reports=closed)
    return closed


@dataclass
class QueueItem:
    """One reported idea or comment, however many people reported it."""

    target: str
    idea: Idea
    comment: Comment | None
    reporters: int
    latest_at: datetime
    reasons: Counter = field(default_factory=Counter)
    details: list[Report] = field(default_factory=list)

    @property
    def author(self) -> User | None:
        return (self.comment or self.idea).author

    @property
    def is_hidden(self) -> bool:
        return (self.comment or self.idea).hidden_at is not None


def report_queue(*, limit: int = QUEUE_SIZE) -> list[QueueItem]:
    """Open reports, one row per reported item, the most recently reported first (3 queries)."""
    grouped = db.session.execute(
        select(
            Report.target,
            func.min(Report.idea_id),
            func.min(Report.comment_id),
            func.count(func.distinct(Report.reporter_id)),
            func.max(Report.created_at),
        )
        .where(Report.resolved_at.is_(None))
        .group_by(Report.target)
        .order_by(func.max(Report.created_at).desc(), Report.target)
        .limit(limit)
    ).all()
    if not grouped:
        return []
    idea_ids = {row[1] for row in grouped}
    comment_ids = {row[2] for row in grouped if row[2] is not None}
    ideas_by_id = {
        i.id: i for i in db.session.scalars(select(Idea).where(Idea.id.in_(idea_ids))).unique()
    }
    comments_by_id = {}
    if comment_ids:
        comments_by_id = {
            c.id: c
            for c in db.session.scalars(select(Comment).where(Comment.id.in_(comment_ids))).unique()
        }
    items = {
        target: QueueItem(
            target=target,
            idea=ideas_by_id[idea_id],
            comment=comments_by_id.get(comment_id) if comment_id else None,
            reporters=reporters,
            latest_at=latest_at,
        )
        for target, idea_id, comment_id, reporters, latest_at in grouped
    }
    reports = db.session.scalars(
        select(Report)
        .where(Report.resolved_at.is_(None), Report.target.in_(items))
        .order_by(Report.created_at.desc(), Report.id.desc())
    ).unique()
    for row in reports:
        item = items[row.target]
        item.reasons[row.reason] += 1
        if row.detail:
            item.details.append(row)
    return list(items.values())


def open_reasons(target: str) -> Counter:
    """Why the open reports of one item were made, with how many times each."""
    return Counter(
        dict(
            db.session.execute(
                select(Report.reason, func.count(Report.id))
                .where(Report.target == target, Report.resolved_at.is_(None))
                .group_by(Report.reason)
            ).all()
        )
    )


def open_report_count() -> int:
    return (
        db.session.scalar(
            select(func.count(func.distinct(Report.target))).where(Report.resolved_at.is_(None))
        )
        or 0
    )


# --- Hiding and restoring -----------------------------------------------------------------


def _clean_reason(reason: str) -> str:
    reason = without_control_characters(reason or "").strip()
    if len(reason) < 3:
        raise InvalidInput("Tell the author why, in a few words.", field="reason")
    if len(reason) > HIDE_REASON_MAX:
        raise InvalidInput(f"Keep the reason under {HIDE_REASON_MAX} characters.", field="reason")
    return reason


def recount_comments(idea_ids) -> None:
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


def _tell_author(author_id: int | None, idea_id: int, message: str, *, comment_id=None, actor):
    if author_id is None:
        return
    notifications.notify_author(author_id, idea_id, message, comment_id=comment_id)


def _described(item: Idea | Comment) -> tuple[str, int, int | None, str]:
    """(kind, idea id, comment id, how the author's notification names it)."""
    if isinstance(item, Comment):
        return "comment", item.idea_id, item.id, "your comment"
    return "idea", item.id, None, f"your idea “{item.title}”"


def hide(item: Idea | Comment, *, reason: str, actor: User, ip: str | None) -> None:
    """Take an idea or a comment away from customers; its author is told why."""
    require(can_moderate(actor))
    reason = _clean_reason(reason)
    kind, idea_id, comment_id, named = _described(item)
    if item.hidden_at is None or getattr(item, "awaiting_approval", False):
        item.hidden_at = utcnow()
    item.hidden_reason = reason
    if kind == "idea":
        item.awaiting_approval = False
    else:
        item.is_official = False
        db.session.flush()
        recount_comments([idea_id])
    _resolve_reports(target_of(**{kind: item}), HIDDEN, actor)
    _tell_author(
        item.author_id,
        idea_id,
        f"Moderators hid {named}. Reason: {reason}",
        comment_id=comment_id,
        actor=actor,
    )
    audit.record(f"{kind}.hidden", actor=actor, ip=ip, target=item, reason=reason)


def restore(item: Idea | Comment, *, actor: User, ip: str | None) -> None:
    """Show a hidden idea or comment to everyone again; its author is told."""
    require(can_moderate(actor))
    if item.hidden_at is None:
        return
    kind, idea_id, comment_id, named = _described(item)
    item.hidden_at = None
    item.hidden_reason = None
    if kind == "idea":
        item.awaiting_approval = False
    else:
        db.session.flush()
        recount_comments([idea_id])
    _tell_author(
        item.author_id,
        idea_id,
        f"Moderators restored {named}: everyone can see it again.",
        comment_id=comment_id,
        actor=actor,
    )
    audit.record(f"{kind}.restored", actor=actor, ip=ip, target=item)


def hide_everything_by(user: User, *, reason: str, actor: User, ip: str | None) -> tuple[int, int]:
    """Hide all of a person's ideas and comments at once, e.g. when suspending a spammer."""
    require(can_moderate(actor))
    now = utcnow()
    hidden_ideas = (
        db.session.execute(
            update(Idea)
            .where(Idea.author_id == user.id, Idea.hidden_at.is_(None))
            .values(hidden_at=now, hidden_reason=reason, awaiting_approval=False)
        ).rowcount
        or 0
    )
    touched = list(
        db.session.scalars(
            select(Comment.idea_id)
            .where(Comment.author_id == user.id, Comment.hidden_at.is_(None))
            .distinct()
        )
    )
    hidden_comments = (
        db.session.execute(
            update(Comment)
            .where(Comment.author_id == user.id, Comment.hidden_at.is_(None))
            .values(hidden_at=now, hidden_reason=reason, is_official=False)
        ).rowcount
        or 0
    )
    recount_comments(touched)
    # Their reports are answered: what they reported about this person's posts is dealt with.
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
        .values(resolved_at=now, resolved_by_id=actor.id, resolution=HIDDEN)
    )
    db.session.expire_all()
    audit.record(
        "user.content_hidden",
        actor=actor,
        ip=ip,
        target=user,
        ideas=hidden_ideas,
        comments=hidden_comments,
    )
    return hidden_ideas, hidden_comments


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
    """A moderator corrects an idea (say, removes personal data); the old text is kept."""
    from portal.services.ideas import _clean_fields

    require(can_moderate(actor))
    note = _clean_reason(note)
    fields = _clean_fields(title, problem, solution, idea.category_id)
    if (fields["title"], fields["problem"], fields["solution"]) == (
        idea.title,
        idea.problem,
        idea.solution,
    ):
        return False
    db.session.add(
        IdeaRevision(
            idea_id=idea.id, title=idea.title, problem=idea.problem, solution=idea.solution
        )
    )
    idea.title, idea.problem, idea.solution = fields["title"], fields["problem"], fields["solution"]
    idea.edited_at = utcnow()
    _resolve_reports(target_of(idea=idea), EDITED, actor)
    _tell_author(
        idea.author_id,
        idea.id,
        f"Moderators edited your idea “{idea.title}”. Reason: {note}",
        actor=actor,
    )
    audit.record("idea.moderator_edit", actor=actor, ip=ip, target=idea, reason=note)
    return True


def edit_comment(comment: Comment, *, body: str, note: str, actor: User, ip: str | None) -> bool:
    from portal.services.comments import _clean_body

    require(can_moderate(actor))
    note = _clean_reason(note)
    body = _clean_body(body)
    if body == comment.body:
        return False
    previous = comment.body
    comment.body = body
    comment.edited_at = utcnow()
    _resolve_reports(target_of(comment=comment), EDITED, actor)
    _tell_author(
        comment.author_id,
        comment.idea_id,
        f"Moderators edited your comment. Reason: {note}",
        comment_id=comment.id,
        actor=actor,
    )
    # The earlier text stays on record for admins, as comments keep no revisions of their own.
    audit.record(
        "comment.moderator_edit", actor=actor, ip=ip, target=comment, reason=note, previous=previous
    )
    return True


# --- Pre-moderation -----------------------------------------------------------------------


def pre_moderation_on() -> bool:
    return settings.get_setting("pre_moderation") == "on"


def needs_approval(author: User) -> bool:
    """With pre-moderation on, a person's ideas wait until one of them has been approved."""
    if is_team(author) or not pre_moderation_on():
        return False
    approved = exists().where(
        Idea.author_id == author.id, Idea.awaiting_approval.is_(False), Idea.hidden_at.is_(None)
    )
    return not db.session.scalar(select(approved))


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
    _tell_author(
        idea.author_id,
        idea.id,
        f"Your idea “{idea.title}” is approved and public: everyone can now see it and vote.",
        actor=actor,
    )
    audit.record("idea.approved", actor=actor, ip=ip, target=idea)


def recently_hidden(*, limit: int = 50) -> tuple[list[Idea], list[Comment]]:
    hidden_ideas = db.session.scalars(
        select(Idea)
        .where(Idea.hidden_at.is_not(None), Idea.awaiting_approval.is_(False))
        .order_by(Idea.hidden_at.desc(), Idea.id.desc())
        .limit(limit)
    ).unique()
    hidden_comments = db.session.scalars(
        select(Comment)
        .where(Comment.hidden_at.is_not(None), Comment.deleted_at.is_(None))
        .order_by(Comment.hidden_at.desc(), Comment.id.desc())
        .limit(limit)
    ).unique()
    return list(hidden_ideas), list(hidden_comments)
