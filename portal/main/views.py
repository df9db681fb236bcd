"""The home page (the list of ideas) and the community guidelines."""

from dataclasses import replace
from typing import Any

from flask import abort, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.cache import cached, cached_page
from portal.main import bp
from portal.markdown import render_markdown
from portal.models import Board, Stage
from portal.services import board_pages, boards, catalog, colours, idea_lists, releases
from portal.services import roadmap as roadmap_service
from portal.services.settings import get_setting
from portal.web import board_arg, number_arg


def _filters_from_args(stages: list[Stage]) -> idea_lists.IdeaFilters:
    args = request.args
    sort = args.get("sort", "trending")
    stage = args.get("stage", "open")
    stage_slugs = {s.slug for s in stages}
    return idea_lists.IdeaFilters(
        sort=sort if sort in idea_lists.SORTS else "trending",
        stage=stage if stage in {"open", "closed", "all"} | stage_slugs else "open",
        category_id=number_arg("category"),
        **{name: args.get(name) == "1" for name in idea_lists.PERSONAL_FILTERS},
    )


def render_idea_list(template: str, board: Board | None = None, **context: Any) -> str:
    """The home page's list, of every board the person sees or of one board."""
    stages = catalog.stages()
    filters = _filters_from_args(stages)
    filters.board_id = board.id if board is not None else None
    try:
        page = idea_lists.list_ideas(
            filters,
            viewer=current_user,
            after=request.args.get("after") or None,  # empty, as everywhere, is not given
            before=request.args.get("before") or None,
        )
    except ValueError:
        abort(400, "That page link is not valid any more. Start again from the first page.")
    categories = catalog.active_categories()
    return render_template(
        template,
        page=page,
        filters=filters,
        sorts=idea_lists.SORTS,
        stages=stages,
        categories=categories if board is None else board_pages.categories_of(board, categories),
        board=board,
        board_tabs=board_pages.board_tabs(current_user),
        **context,
    )


@bp.route("/")
@cached(shared=True, personal_args=idea_lists.PERSONAL_FILTERS)
def home() -> ResponseReturnValue:
    return render_idea_list("main/home.html")


@bp.route("/guidelines")
@cached(tags=lambda **_: (), shared=True)
def guidelines() -> ResponseReturnValue:
    return render_template(
        "main/guidelines.html", guidelines=render_markdown(get_setting("guidelines"))
    )


@bp.route("/roadmap")
@cached(shared=True)
def roadmap() -> ResponseReturnValue:
    board = board_arg()
    shipped = roadmap_service.recently_shipped(current_user)
    columns = {
        slug: board_pages.on_board(ideas, board)
        for slug, ideas in roadmap_service.roadmap(current_user).items()
    }
    listed = [idea.id for ideas in columns.values() for idea in ideas]
    on_board = set(board_pages.on_board([s.idea for s in shipped], board))
    by_timeframe = request.args.get("by") == "timeframe"
    return render_template(
        "main/roadmap.html",
        columns=columns,
        by_timeframe=by_timeframe,
        timeframes=roadmap_service.roadmap_by_timeframe(columns) if by_timeframe else [],
        voted=idea_lists.voted_ids(current_user, listed),
        stages={s.slug: s for s in catalog.stages()},
        shipped=[s for s in shipped if s.idea in on_board],
        board=board,
        boards=boards.visible_boards(current_user),
    )


@bp.route("/stage-colours.css")
def stage_colours() -> ResponseReturnValue:
    """Each stage's badge colour, with the text colour that reads on it (inline styles are
    refused by the Content-Security-Policy, so the colours come as a stylesheet)."""
    rules = [
        f".stage-colour-{stage_id} {{ background: {colour}; color: {colours.text_on(colour)}; }}\n"
        f".stage-border-{stage_id} {{ --stage-colour: {colour}; }}\n"
        for stage_id, colour in catalog.stage_colours()
    ]
    response = make_response("".join(rules))
    response.mimetype = "text/css"
    response.cache_control.no_cache = True  # revalidated on each page: admins see a change at once
    response.add_etag()
    return response.make_conditional(request)


@bp.route("/shipped")
@cached(shared=True)
def shipped() -> ResponseReturnValue:
    """The changelog: published releases with their notes and ideas, and ideas shipped alone."""
    board = board_arg()
    entries = releases.changelog(viewer=current_user)
    if board is not None:
        # A release stays if it ships an idea of this board, and lists only those ideas.
        entries = [
            replace(entry, ideas=ideas)
            for entry in entries
            if (ideas := board_pages.on_board(entry.ideas, board))
        ]
    return render_template(
        "main/shipped.html",
        entries=entries,
        board=board,
        boards=boards.visible_boards(current_user),
    )


@bp.route("/shipped/releases/<id:release_id>")
@cached_page
def release(release_id: int) -> ResponseReturnValue:
    """One release; a draft only for the team, who see it as customers will."""
    try:
        found = releases.get_release(release_id, viewer=current_user)
    except releases.ReleaseNotFound:
        abort(404)
    return render_template(
        "main/release.html",
        release=found,
        ideas=releases.shown_ideas_of([found.id], viewer=current_user)[found.id],
    )
