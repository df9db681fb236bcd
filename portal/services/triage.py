"""The product team's queue: ideas awaiting a first answer, then ideas overdue for the next."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select

from portal.extensions import db
from portal.models import Idea, Stage, User
from portal.models.types import utcnow
from portal.permissions import can_triage, require


@dataclass
class TriageFilters:
    category_id: int | None = None
    stage: str | None = None  # a stage slug
    organisation_id: int | None = None


@dataclass
class QueueEntry:
    idea: Idea
    due_at: datetime | None
    days_late: int  # 0 when not late


@dataclass
class Queue:
    awaiting: list[QueueEntry]  # no answer yet, oldest first
    overdue: list[QueueEntry]  # answered before, next answer late, latest first


def _base(filters: TriageFilters) -> Select:
    stmt = (
        select(Idea)
        .join(Stage, Idea.stage_id == Stage.id)
        .where(Stage.is_closed.is_(False), Idea.hidden_at.is_(None))
    )
    if filters.category_id is not None:
        stmt = stmt.where(Idea.category_id == filters.category_id)
    if filters.stage:
        stmt = stmt.where(Stage.slug == filters.stage)
    if filters.organisation_id is not None:
        stmt = stmt.where(
            Idea.author_id.in_(
                select(User.id).where(User.organisation_id == filters.organisation_id)
            )
        )
    return stmt


def _entry(idea: Idea, now: datetime) -> QueueEntry:
    due = idea.response_due_at
    late = (now - due).days if due is not None and due < now else 0
    return QueueEntry(idea, due, max(late, 0))


def queue(filters: TriageFilters, *, viewer, limit: int = 200) -> Queue:
    """Two lists in two queries: what waits for a first answer, and what is late for the next."""
    require(can_triage(viewer))
    now = utcnow()
    awaiting = db.session.scalars(
        _base(filters)
        .where(Idea.first_response_at.is_(None))
        .order_by(Idea.created_at, Idea.id)
        .limit(limit)
    ).unique()
    overdue = db.session.scalars(
        _base(filters)
        .where(Idea.first_response_at.is_not(None), Idea.response_due_at < now)
        .order_by(Idea.response_due_at, Idea.id)
        .limit(limit)
    ).unique()
    return Queue([_entry(i, now) for i in awaiting], [_entry(i, now) for i in overdue])


def queue_csv(q: Queue) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["list", "id", "title", "stage", "category", "author", "organisation", "votes",
         "comments", "posted", "answer due", "days late"]
    )  # fmt: skip
    for name, entries in (("awaiting first answer", q.awaiting), ("overdue", q.overdue)):
        for e in entries:
            idea = e.idea
            author = idea.author
            writer.writerow(
                [
                    name,
                    idea.id,
                    _cell(idea.title),
                    idea.stage.name,
                    idea.category.name if idea.category else "",
                    _cell(author.display_name) if author else "",
                    _cell(author.organisation.name) if author and author.organisation else "",
                    idea.vote_count,
                    idea.comment_count,
                    idea.created_at.isoformat(),
                    e.due_at.isoformat() if e.due_at else "",
                    e.days_late,
                ]
            )
    return out.getvalue()


def _cell(text: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; make them plain text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
