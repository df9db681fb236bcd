"""Spam resistance for posts: link limits for new accounts, repeated text, per-person limits."""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import ColumnElement, exists, select

from portal.extensions import db
from portal.models import Comment, Idea, User
from portal.models.types import utcnow
from portal.permissions import is_exempt_from_limits
from portal.services.errors import InvalidInput

# What people (and spammers) write as links: web addresses with or without a scheme.
_LINK = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.|\bmailto:)\S+", re.IGNORECASE)


def is_new_account(user: User) -> bool:
    """A person in their first day; the team never counts as new."""
    if is_exempt_from_limits(user):
        return False
    return utcnow() - user.created_at < current_app.config["NEW_ACCOUNT_PERIOD"]


def count_links(*texts: str) -> int:
    return sum(len(_LINK.findall(text or "")) for text in texts)


def check_links(author: User, *texts: str, field: str) -> None:
    allowed = current_app.config["NEW_ACCOUNT_MAX_LINKS"]
    if is_new_account(author) and count_links(*texts) > allowed:
        raise InvalidInput(
            f"New accounts can put at most {allowed} links in a post, to keep spam out. "
            "Remove some links, or post them after your first day.",
            field=field,
        )


def _posted_recently(
    model: type[Idea] | type[Comment], author: User, *conditions: ColumnElement[bool]
) -> bool:
    since = utcnow() - current_app.config["DUPLICATE_WINDOW"]
    recent = exists().where(model.author_id == author.id, model.created_at >= since, *conditions)
    return bool(db.session.scalar(select(recent)))


def _repeated(field: str) -> InvalidInput:
    minutes = int(current_app.config["DUPLICATE_WINDOW"].total_seconds() // 60)
    return InvalidInput(
        f"You posted exactly this in the last {minutes} minutes. If you don't see it, reload "
        "the page; to post again, change the text.",
        field=field,
    )


def check_idea_not_repeated(author: User, title: str, problem: str) -> None:
    if _posted_recently(Idea, author, Idea.title == title, Idea.problem == problem):
        raise _repeated("problem")


# A reply this short ("Thanks!", "Same here, +1") is said again and again by genuine people in
# different conversations; only in the same conversation is it a double-click or a resend.
SHORT_REPLY = 60


def check_comment_not_repeated(
    author: User, body: str, *, idea: Idea, parent: Comment | None
) -> None:
    same: list[ColumnElement[bool]] = [Comment.body == body, Comment.deleted_at.is_(None)]
    if len(body) <= SHORT_REPLY:
        same.append(Comment.idea_id == idea.id)
        same.append(
            Comment.parent_id.is_(None) if parent is None else Comment.parent_id == parent.id
        )
    if _posted_recently(Comment, author, *same):
        raise _repeated("body")
