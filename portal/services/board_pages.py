"""What a board's own pages show: its tabs and counts, who a private board is for, its feed,
its categories, and the roadmap and changelog narrowed to it.

Who may see a board or an idea is decided in portal.visibility; this module only asks it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from portal.models import Board, Category, Idea
from portal.services import boards, catalog
from portal.services.errors import InvalidInput
from portal.services.text import and_list


def board_tabs(viewer: Any) -> list[Board]:
    """The boards this person may see, for the navigation above a list, or nothing when there
    is only one (the home page then looks as it always did).

    Without counts: counting each board's open ideas read every open idea on each render of
    every list page (hundreds of milliseconds at 100,000 ideas), for a number no one acts on.
    """
    shown = boards.visible_boards(viewer)
    return shown if len(shown) > 1 else []


def audience_line(board: Board) -> str:
    """Who a private board is for, in one sentence for the people inside it."""
    who = ["the team"]
    who += [organisation.name for organisation in board.organisations]
    who += [f"people at @{entry.domain}" for entry in board.domains]
    who.append("people the team invites")
    return f"Private board: seen by {and_list(who)}."


def categories_of(board: Board, active: list[Category]) -> list[Category]:
    """The active categories an idea on this board may be filed in (none named: all of them)."""
    own = {category.id for category in board.categories}
    return [c for c in active if c.id in own] if own else active


def check_category(board: Board, category: Category | None) -> None:
    """Refuse a category the board does not use, naming the ones it does."""
    own = board.categories
    if category is None or not own or category in own:
        return
    names = and_list([c.name for c in own if not c.retired] or [c.name for c in own])
    raise InvalidInput(
        f"“{category.name}” is not used on the {board.name} board. Choose one of {names}.",
        field="category_id",
    )


def on_board(ideas: Iterable[Idea], board: Board | None) -> list[Idea]:
    """The ideas on this board, in the order given (all of them when no board is chosen)."""
    return [idea for idea in ideas if board is None or idea.board_id == board.id]


@dataclass(frozen=True)
class BoardChoice:
    """Where a new idea goes: the boards open to this person, the one chosen, and why the one
    they asked for is not it (closed for new ideas, or not theirs to post to)."""

    postable: list[Board]
    board: Board | None  # None: no board takes new ideas from this person now
    problem: str | None = None


def choose_board(person: Any, wanted: str | None, *, posted: bool) -> BoardChoice:
    """The board a new idea goes to: the one named by its slug if the person may post there,
    else (when nothing was posted) the first open to them."""
    postable = boards.postable_boards(person)
    chosen = next((b for b in postable if b.slug == wanted), None)
    if chosen is not None:
        return BoardChoice(postable, chosen)
    fallback = postable[0] if postable else None
    named = boards.board_by_slug(wanted, viewer=person) if wanted else None
    if named is not None:  # seen, but not open for new ideas
        problem = f"The {named.name} board is not taking new ideas right now."
        if len(postable) > 1:
            problem += " Choose another board for yours."
        elif fallback is not None:
            problem += f" You can post yours on {fallback.name} instead."
    elif posted and len(postable) > 1:
        problem = "Choose the board your idea belongs on."
    else:
        return BoardChoice(postable, fallback)
    return BoardChoice(postable, fallback, problem)


def categories_by_board(postable: list[Board]) -> dict[str, list[tuple[int, str]]]:
    """Each board's categories by its slug, for the script that narrows the category list as
    the board is changed (without it, the server checks and says which fit)."""
    active = catalog.active_categories()
    return {b.slug: [(c.id, c.name) for c in categories_of(b, active)] for b in postable}
