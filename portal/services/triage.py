"""The product team's queue: ideas awaiting a first answer, then ideas overdue for the next."""

from __future__ import annotations

import _csv
import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, func, select

from portal.extensions import db
from portal.models import Idea, IdeaOrganisation, InternalNote, Organisation, Role, Stage, User
from portal.models.types import utcnow
from portal.permissions import can_triage, require
from portal.services import audit
from portal.services.errors import InvalidInput
from portal.services.validation import long_text, too_long


@dataclass
class TriageFilters:
    category_id: int | None = None
    stage: str | None = None  # a stage slug
    organisation_id: int | None = None
    owner_id: int | None = None


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
    if filters.owner_id is not None:
        stmt = stmt.where(Idea.owner_id == filters.owner_id)
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


def queue(filters: TriageFilters, *, viewer: User, limit: int = 200) -> Queue:
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
            _write(
                writer,
                [
                    name,
                    idea.id,
                    idea.title,
                    idea.stage.name,
                    idea.category.name if idea.category else "",
                    author.display_name if author else "",
                    author.organisation.name if author and author.organisation else "",
                    idea.vote_count,
                    idea.comment_count,
                    idea.created_at.isoformat(),
                    e.due_at.isoformat() if e.due_at else "",
                    e.days_late,
                ],
            )
    return out.getvalue()


def _write(writer: _csv.Writer, row: list[Any]) -> None:
    """Spreadsheets run text cells that start with = + - @ as formulas; make them plain text."""
    writer.writerow(
        [
            "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
            for v in row
        ]
    )


# --- Owners, estimates and internal notes --------------------------------------------------

NOTE_MAX = 5_000


def team_members() -> list[User]:
    """The people who can own an idea: product managers and admins, not suspended."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.role.in_([Role.PRODUCT_MANAGER.value, Role.ADMIN.value]),
                User.suspended_at.is_(None),
            )
            .order_by(User.display_name)
        ).unique()
    )


def assign_owner(idea: Idea, owner: User | None, *, actor: User, ip: str | None) -> None:
    """Name the team member customers can contact about this idea (or nobody)."""
    require(can_triage(actor))
    if owner is not None and not can_triage(owner):
        raise InvalidInput("Only a product manager or admin can own an idea.", field="owner_id")
    if idea.owner_id == (owner.id if owner else None):
        return
    previous = idea.owner
    idea.owner = owner
    # The people themselves: the log keeps their names as they are today.
    audit.record(
        "idea.owner_changed", actor=actor, ip=ip, target=idea, previous=previous, owner=owner
    )


def set_estimates(idea: Idea, *, impact: int | None, effort: int | None, actor: User) -> None:
    require(can_triage(actor))
    for name, value in (("impact", impact), ("effort", effort)):
        if value is not None and not 1 <= value <= 5:
            raise InvalidInput("Estimates go from 1 (low) to 5 (high).", field=name)
    idea.impact, idea.effort = impact, effort


def add_internal_note(idea: Idea, *, actor: User, body: str) -> InternalNote:
    require(can_triage(actor))
    body = long_text(body)
    if not body:
        raise InvalidInput("Write the note first.", field="body")
    if len(body) > NOTE_MAX:
        raise InvalidInput(too_long(len(body), NOTE_MAX), field="body")
    note = InternalNote(idea_id=idea.id, author_id=actor.id, body=body)
    db.session.add(note)
    return note


def internal_notes(idea: Idea, *, viewer: User) -> list[InternalNote]:
    require(can_triage(viewer))
    return list(
        db.session.scalars(
            select(InternalNote)
            .where(InternalNote.idea_id == idea.id)
            .order_by(InternalNote.created_at.desc(), InternalNote.id.desc())
        ).unique()
    )


# --- Priority -------------------------------------------------------------------------------

ORGANISATION_WEIGHT = 2
UNSET_ESTIMATE = 3


def priority_score() -> tuple[ColumnElement[float | Decimal], ScalarSelect[int]]:
    """The priority view's order, in SQL:

        (votes + 2 * supporting organisations) * impact / effort

    Organisations count twice because a need shared across companies is broader than one
    company's many votes. Unjudged impact or effort count as the middle value, 3.
    """
    organisations = (
        select(func.count())
        .where(IdeaOrganisation.idea_id == Idea.id)
        .correlate(Idea)
        .scalar_subquery()
    )
    impact = func.coalesce(Idea.impact, UNSET_ESTIMATE)
    effort = func.coalesce(Idea.effort, UNSET_ESTIMATE)
    return (
        (Idea.vote_count + ORGANISATION_WEIGHT * organisations) * impact * 1.0 / effort,
        organisations,
    )


@dataclass
class PriorityRow:
    idea: Idea
    organisations: int
    score: float


def priority(filters: TriageFilters, *, viewer: User, limit: int = 200) -> list[PriorityRow]:
    """Open ideas by priority score, highest first, in one query."""
    require(can_triage(viewer))
    score, organisations = priority_score()
    stmt = (
        _base(filters)
        .add_columns(organisations.label("organisations"), score.label("score"))
        .order_by(score.desc(), Idea.id.desc())
        .limit(limit)
    )
    return [
        PriorityRow(idea, orgs, float(s)) for idea, orgs, s in db.session.execute(stmt).unique()
    ]


def priority_csv(rows: list[PriorityRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["id", "title", "stage", "category", "owner", "votes", "organisations", "impact",
         "effort", "score"]
    )  # fmt: skip
    for row in rows:
        idea = row.idea
        _write(
            writer,
            [
                idea.id,
                idea.title,
                idea.stage.name,
                idea.category.name if idea.category else "",
                idea.owner.display_name if idea.owner else "",
                idea.vote_count,
                row.organisations,
                idea.impact or "",
                idea.effort or "",
                f"{row.score:.2f}",
            ],
        )
    return out.getvalue()


# --- Lookups for the team's pages -----------------------------------------------------------


def organisation_choices() -> list[tuple[int, str]]:
    """Every organisation's id and name, by name: the choices of the triage filters."""
    query = select(Organisation.id, Organisation.name).order_by(Organisation.name)
    return [(row.id, row.name) for row in db.session.execute(query)]


def ideas_by_id(ids: list[int]) -> list[Idea]:
    """The ideas with these ids (the ones that exist), for moving several at once."""
    return list(db.session.scalars(select(Idea).where(Idea.id.in_(ids))).unique())
