"""Atom feeds: new ideas, and each idea's updates from the team."""

from __future__ import annotations

from flask import Response, abort, render_template
from sqlalchemy import select

from portal.cache import cached_page
from portal.extensions import db
from portal.mail.compose import external_url
from portal.main import bp
from portal.models import Comment, Idea, StageChange
from portal.models.types import utcnow
from portal.services import ideas

FEED_SIZE = 50


def _atom(**context) -> Response:
    body = render_template("feeds/feed.xml", **context)
    return Response(body, mimetype="application/atom+xml")


@bp.route("/feeds/ideas.atom")
@cached_page
def ideas_feed():
    rows = db.session.scalars(
        select(Idea)
        .where(Idea.hidden_at.is_(None))
        .order_by(Idea.created_at.desc(), Idea.id.desc())
        .limit(FEED_SIZE)
    ).unique()
    entries = [
        {
            "id": external_url("ideas.detail", idea_id=idea.id),
            "title": idea.title,
            "url": external_url("ideas.detail", idea_id=idea.id),
            "updated": idea.created_at,
            "author": idea.author.display_name if idea.author else "Former member",
            "summary": idea.problem,
        }
        for idea in rows
    ]
    return _atom(
        feed_id=external_url("main.ideas_feed"),
        title="New ideas",
        self_url=external_url("main.ideas_feed"),
        alternate_url=external_url("main.home", sort="new"),
        entries=entries,
        updated=entries[0]["updated"] if entries else utcnow(),
    )


@bp.route("/ideas/<id:idea_id>/feed.atom")
@cached_page
def idea_feed(idea_id: int):
    """Stage changes with the team's notes, and the team's comments, newest first."""
    try:
        idea = ideas.get_idea(idea_id, viewer=None)  # feeds are public: hidden means gone
    except ideas.IdeaNotFound:
        abort(404)
    url = external_url("ideas.detail", idea_id=idea.id)
    entries = [
        {
            "id": f"{url}#stage-change-{change.id}",
            "title": f"{change.to_stage.name}: {idea.title}",
            "url": url,
            "updated": change.created_at,
            "author": change.actor.display_name if change.actor else "The team",
            "summary": change.note,
        }
        for change in db.session.scalars(
            select(StageChange).where(StageChange.idea_id == idea.id)
        ).unique()
    ]
    from portal.permissions import is_team

    team_comments = db.session.scalars(
        select(Comment).where(
            Comment.idea_id == idea.id, Comment.deleted_at.is_(None), Comment.hidden_at.is_(None)
        )
    ).unique()
    entries += [
        {
            "id": f"{url}#comment-{c.id}",
            "title": ("Official response: " if c.is_official else "The team replied: ")
            + idea.title,
            "url": f"{url}#comment-{c.id}",
            "updated": c.created_at,
            "author": c.author.display_name,
            "summary": c.body,
        }
        for c in team_comments
        if c.author is not None and is_team(c.author)
    ]
    entries.sort(key=lambda e: e["updated"], reverse=True)
    return _atom(
        feed_id=external_url("main.idea_feed", idea_id=idea.id),
        title=f"Updates on “{idea.title}”",
        self_url=external_url("main.idea_feed", idea_id=idea.id),
        alternate_url=url,
        entries=entries[:FEED_SIZE],
        updated=entries[0]["updated"] if entries else idea.created_at,
    )


@bp.route("/feeds/shipped.atom")
@cached_page
def shipped_feed():
    from portal.services import roadmap

    items = roadmap.shipped(limit=FEED_SIZE)
    entries = [
        {
            "id": external_url("ideas.detail", idea_id=item.idea.id) + "#shipped",
            "title": f"Shipped: {item.idea.title}",
            "url": external_url("ideas.detail", idea_id=item.idea.id),
            "updated": item.shipped_at,
            "author": "The product team",
            "summary": item.release_note,
        }
        for item in items
    ]
    return _atom(
        feed_id=external_url("main.shipped_feed"),
        title="What shipped",
        self_url=external_url("main.shipped_feed"),
        alternate_url=external_url("main.shipped"),
        entries=entries,
        updated=entries[0]["updated"] if entries else utcnow(),
    )
