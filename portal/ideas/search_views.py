"""The search page: ideas matching words, a page of results at a time."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.cache import cached
from portal.ideas import bp
from portal.services import boards
from portal.services.idea_lists import voted_ids
from portal.services.search import COUNTED_MATCHES, search_ideas
from portal.web import board_arg, number_arg

SEARCH_PER_PAGE = 20
SEARCH_MAX_PAGE = 50  # past a thousand results, a better query beats more pages


@bp.route("/search")
@cached(shared=True)
def search() -> ResponseReturnValue:
    text = request.args.get("q", "").strip()[:200]
    page = number_arg("page", maximum=SEARCH_MAX_PAGE) or 1
    # Within one board; a board this person may not see is ignored, as if never named.
    board = board_arg()
    results = (
        search_ideas(
            text,
            viewer=current_user,
            limit=SEARCH_PER_PAGE,
            offset=(page - 1) * SEARCH_PER_PAGE,
            board_id=board.id if board else None,
        )
        if text
        else None
    )
    last_page = 1
    if results is not None:
        last_page = min(SEARCH_MAX_PAGE, max(1, -(-results.total // SEARCH_PER_PAGE)))
    hits = results.hits if results is not None else []
    return render_template(
        "ideas/search.html",
        q=text,
        results=results,
        page=page,
        last_page=last_page,
        voted=voted_ids(current_user, [hit.idea.id for hit in hits]),
        board=board,
        boards=boards.visible_boards(current_user),
        counted_matches=COUNTED_MATCHES,
    )
