"""Atom feeds: new ideas, and each idea's updates from the team."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, abort, render_template
from flask.typing import ResponseReturnValue

from portal.cache import cached, cached_page, idea_tag
from portal.mail.compose import external_url
from portal.main import bp
from portal.models import Idea
from portal.models.types import utcnow
from portal.services import comments, feeds, ideas, pipeline, releases

FEED_SIZE = 50

Entry = dict[str, Any]

# Every character outside XML 1.0's Char production: C0 controls but tab, newline and return;
# lone surrogates; U+FFFE and U+FFFF. One of them anywhere (a title, a name, a note, a stage,
# the site's name) makes the whole document unreadable to every subscriber's reader.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def atom(**context: Any) -> Response:
    # Cleaned once, as a whole, so no field can be forgotten: the template itself holds none.
    body = _NOT_XML.sub("", render_template("feeds/feed.xml", **context))
    return Response(body, mimetype="application/atom+xml")


@bp.route("/feeds/ideas.atom")
@cached_page
def ideas_feed() -> ResponseReturnValue:
    entries = [idea_entry(idea) for idea in feeds.newest_ideas(FEED_SIZE)]
    return atom(
        feed_id=external_url("main.ideas_feed"),
        title="New ideas",
        self_url=external_url("main.ideas_feed"),
        alternate_url=external_url("main.home", sort="new"),
        entries=entries,
        updated=entries[0]["updated"] if entries else utcnow(),
    )


def idea_entry(idea: Idea) -> Entry:
    """A new idea as a feed entry."""
    return {
        "id": external_url("ideas.detail", idea_id=idea.id),
        "title": idea.title,
        "url": external_url("ideas.detail", idea_id=idea.id),
        "updated": idea.created_at,
        "author": idea.author.display_name if idea.author else "Former member",
        "summary": idea.problem,
    }


def _stage_change_entries(idea: Idea, url: str) -> list[Entry]:
    return [
        {
            "id": f"{url}#stage-change-{change.id}",
            "title": f"{change.to_stage.name}: {idea.title}",
            "url": url,
            "updated": change.created_at,
            "author": change.actor.display_name if change.actor else "The team",
            "summary": change.note,
        }
        for change in pipeline.timeline(idea)
    ]


def _team_reply_entries(idea: Idea, url: str) -> list[Entry]:
    return [
        {
            "id": f"{url}#comment-{c.id}",
            "title": ("Official response: " if c.is_official else "The team replied: ")
            + idea.title,
            "url": f"{url}#comment-{c.id}",
            "updated": c.created_at,
            "author": c.author.display_name if c.author else "The team",
            "summary": c.body,
        }
        for c in comments.team_replies(idea)
    ]


@bp.route("/ideas/<id:idea_id>/feed.atom")
@cached(tags=lambda idea_id: (idea_tag(idea_id),))
def idea_feed(idea_id: int) -> ResponseReturnValue:
    """Stage changes with the team's notes, and the team's comments, newest first."""
    try:
        idea = ideas.get_idea(idea_id, viewer=None)  # feeds are public: hidden means gone
    except ideas.IdeaNotFound:
        abort(404)
    url = external_url("ideas.detail", idea_id=idea.id)
    entries = _stage_change_entries(idea, url) + _team_reply_entries(idea, url)
    entries.sort(key=lambda e: e["updated"], reverse=True)
    return atom(
        feed_id=external_url("main.idea_feed", idea_id=idea.id),
        title=f"Updates on “{idea.title}”",
        self_url=external_url("main.idea_feed", idea_id=idea.id),
        alternate_url=url,
        entries=entries[:FEED_SIZE],
        updated=entries[0]["updated"] if entries else idea.created_at,
    )


@bp.route("/feeds/shipped.atom")
@cached_page
def shipped_feed() -> ResponseReturnValue:
    """The changelog as a feed: a release per entry (its note, then the ideas it ships), and an
    entry for each idea shipped without a release."""
    changelog = releases.changelog(viewer=None, limit=FEED_SIZE)  # feeds are public
    entries = [_changelog_entry(entry) for entry in changelog]
    return atom(
        feed_id=external_url("main.shipped_feed"),
        title="What shipped",
        self_url=external_url("main.shipped_feed"),
        alternate_url=external_url("main.shipped"),
        entries=entries,
        updated=max((e["updated"] for e in entries), default=utcnow()),
    )


def _changelog_entry(entry: releases.ChangelogEntry) -> Entry:
    if entry.release is None:
        idea = entry.ideas[0]
        url = external_url("ideas.detail", idea_id=idea.id)
        return {
            "id": url + "#shipped",
            "title": f"Shipped: {idea.title}",
            "url": url,
            "updated": entry.at,
            "author": "The product team",
            "summary": entry.note,
        }
    url = external_url("main.release", release_id=entry.release.id)
    shipped = "\n".join(
        f"- [{_link_text(idea.title)}]({external_url('ideas.detail', idea_id=idea.id)})"
        for idea in entry.ideas
    )
    return {
        "id": url,
        "title": entry.release.title,
        "url": url,
        "updated": entry.at,
        "author": entry.release.published_by.display_name
        if entry.release.published_by
        else "The product team",
        "summary": entry.note
        + ("\n\n**Ideas this release ships**\n\n" + shipped if shipped else ""),
    }


def _link_text(title: str) -> str:
    """A title as Markdown link text: its brackets and other markup read literally."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!<>|])", r"\\\1", title)
