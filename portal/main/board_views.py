"""Each board's own pages: its list of ideas and its Atom feed."""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import visibility
from portal.cache import cached, cached_page
from portal.mail.compose import external_url
from portal.main import bp
from portal.main.feeds import FEED_SIZE, atom, idea_entry
from portal.main.views import render_idea_list
from portal.models import Audience
from portal.models.types import utcnow
from portal.services import board_pages, boards, feeds, idea_lists


@bp.route("/boards/<slug>")
@cached(shared=True, personal_args=idea_lists.PERSONAL_FILTERS)
def board(slug: str) -> ResponseReturnValue:
    found = boards.find_board(slug)
    if found is None or not visibility.can_see_board(current_user, found):
        if found is not None and found.audience == Audience.SIGNED_IN.value:
            # Not signed in (everyone who is sees such a board): sign in, then come back.
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        abort(404)  # a private board looks exactly like one that does not exist
    return render_idea_list(
        "main/board.html",
        found,
        audience_line=board_pages.audience_line(found) if found.is_private else None,
        can_post=boards.can_post_to(current_user, found),
    )


@bp.route("/boards/<slug>/feed.atom")
@cached_page
def board_feed(slug: str) -> ResponseReturnValue:
    """New ideas on a public board; feed readers are not signed in, so other boards have none."""
    found = boards.board_by_slug(slug, viewer=None)
    if found is None:
        abort(404)
    entries = [idea_entry(idea) for idea in feeds.newest_ideas(FEED_SIZE, board_id=found.id)]
    return atom(
        feed_id=external_url("main.board_feed", slug=found.slug),
        title=f"New ideas on {found.name}",
        self_url=external_url("main.board_feed", slug=found.slug),
        alternate_url=external_url("main.board", slug=found.slug, sort="new"),
        entries=entries,
        updated=entries[0]["updated"] if entries else utcnow(),
    )
