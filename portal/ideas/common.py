"""What the ideas blueprint's views share: finding what a URL names, and where to go back to."""

from __future__ import annotations

from flask import abort, request
from flask_login import current_user

from portal.extensions import db
from portal.models import Comment, Idea
from portal.services import ideas
from portal.web import safe_next


def idea_or_404(idea_id: int) -> Idea:
    """The idea if the person asking may see it; a 404 otherwise (hidden looks like missing)."""
    try:
        return ideas.get_idea(idea_id, viewer=current_user)
    except ideas.IdeaNotFound:
        abort(404)


def comment_or_404(comment_id: int) -> Comment:
    """A comment still in the conversation, on an idea the person asking may see."""
    comment = db.get_or_404(Comment, comment_id)
    idea_or_404(comment.idea_id)
    if comment.hidden_at is not None or comment.deleted_at is not None:
        abort(404)
    return comment


def back(default: str) -> str:
    """Where a button sends people back to: the page they pressed it on, if it is ours."""
    target = request.form.get("next")
    return safe_next(target) if target else default
