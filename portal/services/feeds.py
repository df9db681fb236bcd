"""What the public Atom feeds list that no other service already gives."""

from __future__ import annotations

from sqlalchemy import select

from portal import visibility
from portal.extensions import db
from portal.models import Idea


def newest_ideas(limit: int) -> list[Idea]:
    """The newest ideas anyone may see, newest first: the new-ideas feed."""
    return list(
        db.session.scalars(
            select(Idea)
            .where(visibility.listed_publicly())
            .order_by(Idea.created_at.desc(), Idea.id.desc())
            .limit(limit)
        ).unique()
    )
