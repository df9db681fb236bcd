"""Reports of ideas and comments: filing them, the moderators' queue, and closing them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Row, func, select, update

from portal.database import insert_ignoring_duplicates, rows_affected
from portal.extensions import db
from portal.models import Comment, Idea, Report, ReportResolution, User
from portal.models.types import utcnow
from portal.permissions import can_moderate, can_report, require
from portal.services import audit
from portal.services.errors import InvalidInput
from portal.services.validation import long_text, too_long

REASONS = {
    "spam": "Spam or advertising",
    "abusive": "Abusive, harassing or hateful",
    "off_topic": "Off-topic or not an idea",
    "other": "Something else",
}
DETAIL_MAX = 1000
QUEUE_SIZE = 100


def target_of(*, idea: Idea | None = None, comment: Comment | None = None) -> str:
    """How reports name what they are about: "comment:<id>", else "idea:<id>"."""
    if comment is not None:
        return f"comment:{comment.id}"
    assert idea is not None, "a report is about an idea or a comment"
    return f"idea:{idea.id}"


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
    detail = long_text(detail)
    if len(detail) > DETAIL_MAX:
        raise InvalidInput(too_long(len(detail), DETAIL_MAX), field="detail")
    if reason == "other" and not detail:
        raise InvalidInput("Tell the moderators what is wrong.", field="detail")
    item: Idea | Comment | None = comment if comment is not None else idea
    assert item is not None, "a report is about an idea or a comment"
    if item.author_id == reporter.id:
        raise InvalidInput("You cannot report your own post; edit or delete it instead.")
    return insert_ignoring_duplicates(
        Report,
        target=target_of(idea=idea, comment=comment),
        idea_id=comment.idea_id if comment is not None else item.id,
        comment_id=comment.id if comment is not None else None,
        reporter_id=reporter.id,
        reason=reason,
        detail=detail,
        created_at=utcnow(),
    )


def close_reports(target: str, resolution: ReportResolution, *, by: User | None) -> int:
    """Close the open reports on one item; `by` is the moderator, None when no one judged them."""
    stmt = (
        update(Report)
        .where(Report.target == target, Report.resolved_at.is_(None))
        .values(
            resolved_at=utcnow(),
            resolved_by_id=by.id if by is not None else None,
            resolution=resolution,
        )
    )
    return rows_affected(stmt)


def dismiss_reports(
    *, idea: Idea | None = None, comment: Comment | None = None, actor: User, ip: str | None
) -> int:
    """The reports were unfounded: close them, leaving the content as it is."""
    require(can_moderate(actor))
    target = target_of(idea=idea, comment=comment)
    closed = close_reports(target, ReportResolution.DISMISSED, by=actor)
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
    reasons: Counter[str] = field(default_factory=Counter)
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
    items = _queue_items(grouped)
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


def _queue_items(
    grouped: Sequence[Row[str, int, int | None, int, datetime]],
) -> dict[str, QueueItem]:
    """The queue's rows, keyed by target, with their ideas and comments loaded (2 queries)."""
    idea_ids = {row[1] for row in grouped}
    comment_ids = {row[2] for row in grouped if row[2] is not None}
    ideas_by_id = {
        i.id: i for i in db.session.scalars(select(Idea).where(Idea.id.in_(idea_ids))).unique()
    }
    comments_by_id: dict[int, Comment] = {}
    if comment_ids:
        comments_by_id = {
            c.id: c
            for c in db.session.scalars(select(Comment).where(Comment.id.in_(comment_ids))).unique()
        }
    return {
        target: QueueItem(
            target=target,
            idea=ideas_by_id[idea_id],
            comment=comments_by_id.get(comment_id) if comment_id else None,
            reporters=reporters,
            latest_at=latest_at,
        )
        for target, idea_id, comment_id, reporters, latest_at in grouped
    }


def open_reasons(target: str) -> Counter[str]:
    """Why the open reports of one item were made, with how many times each."""
    rows = db.session.execute(
        select(Report.reason, func.count(Report.id))
        .where(Report.target == target, Report.resolved_at.is_(None))
        .group_by(Report.reason)
    ).all()
    return Counter({reason: count for reason, count in rows})
