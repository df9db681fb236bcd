"""Pre-moderation's rules: whether it is on, and whose ideas wait for a moderator's approval."""

from __future__ import annotations

from sqlalchemy import exists, select

from portal.extensions import db
from portal.models import Idea, User
from portal.permissions import skips_pre_moderation
from portal.services import settings


def pre_moderation_on() -> bool:
    return settings.get_setting("pre_moderation") == "on"


def needs_approval(author: User) -> bool:
    """With pre-moderation on, a person's ideas wait until one of them has been approved."""
    if skips_pre_moderation(author) or not pre_moderation_on():
        return False
    approved = exists().where(
        Idea.author_id == author.id, Idea.awaiting_approval.is_(False), Idea.hidden_at.is_(None)
    )
    return not db.session.scalar(select(approved))
