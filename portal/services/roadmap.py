"""The public roadmap and the record of what shipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Idea, Stage, StageChange
from portal.models.types import utcnow

# Under review first: customers see what the team is weighing, not only what it decided.
ROADMAP_COLUMNS = ("under_review", "planned", "in_progress")
RECENTLY_SHIPPED = timedelta(days=90)


@dataclass
class ShippedIdea:
    idea: Idea
    shipped_at: datetime
    release_note: str


def roadmap() -> dict[str, list[Idea]]:
    """Ideas under review, planned and in progress, most wanted first; hidden ones never appear."""
    rows = db.session.scalars(
        select(Idea)
        .join(Stage, Idea.stage_id == Stage.id)
        .where(Stage.slug.in_(ROADMAP_COLUMNS), Idea.hidden_at.is_(None))
        .order_by(Idea.vote_count.desc(), Idea.id.desc())
    ).unique()
    columns: dict[str, list[Idea]] = {slug: [] for slug in ROADMAP_COLUMNS}
    for idea in rows:
        columns[idea.stage.slug].append(idea)
    return columns


def shipped(*, since: datetime | None = None, limit: int = 100) -> list[ShippedIdea]:
    """Shipped ideas, newest release first, each with the team's note from the move."""
    latest = (
        select(StageChange.idea_id, func.max(StageChange.id).label("change_id"))
        .join(Stage, StageChange.to_stage_id == Stage.id)
        .where(Stage.slug == "shipped")
        .group_by(StageChange.idea_id)
        .subquery()
    )
    stmt = (
        select(Idea, StageChange.created_at, StageChange.note)
        .join(latest, latest.c.idea_id == Idea.id)
        .join(StageChange, StageChange.id == latest.c.change_id)
        .join(Stage, Idea.stage_id == Stage.id)
        .where(Stage.slug == "shipped", Idea.hidden_at.is_(None))
        .order_by(StageChange.created_at.desc(), Idea.id.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(StageChange.created_at >= since)
    return [ShippedIdea(idea, at, note) for idea, at, note in db.session.execute(stmt).unique()]


def recently_shipped() -> list[ShippedIdea]:
    return shipped(since=utcnow() - RECENTLY_SHIPPED, limit=20)
