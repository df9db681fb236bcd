"""What the public Atom feeds list that no other service already gives."""

from __future__ import annotations

from sqlalchemy import select

from portal import visibility
from portal.extensions import db
from portal.models import Idea


def newest_ideas(limit: int, *, board_id: int | None = None) -> list[Idea]:
    """The newest ideas anyone may see (on one board, if given), newest first: the new-ideas
    feed and each public board's feed."""
    stmt = select(Idea).where(visibility.listed(None))  # feeds are read by visitors
    if board_id is not None:
        stmt = stmt.where(Idea.board_id == board_id)
    return list(
        db.session.scalars(
            stmt.order_by(Idea.created_at.desc(), Idea.id.desc()).limit(limit)
        ).unique()
    )
