"""Who may see an idea: the one rule, used by every path that shows an idea, its title or a count.

Two things decide it:
- the idea's board (portal.models.board): public boards are seen by everyone, signed-in boards by
  anyone signed in, private boards by the team, by people of the organisations and email domains
  the board names (once their address is confirmed) and by people who accepted an invitation;
- the idea's own state: a hidden idea (moderated, or waiting for approval) is seen by the team
  and its author only, and listed for nobody but the team.

The board rule is written once, in SQL (`sees_board`), over a user row and a board row. Asking
about one viewer (`visible_board_ids`) and asking which of many people may see a board
(`audience_of`, for notifications and emails) both use it, so they cannot disagree.

Lists, search, feeds and counts filter with `listed(viewer)`; a single idea is checked with
`can_see_idea(viewer, idea)`; people about to be told of an idea are filtered with
`recipients_clause(idea_board_id_column)`. Nothing else in the code decides what a person sees.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from flask import g, has_request_context
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
)

from portal.extensions import db
from portal.models import (
    Audience,
    Board,
    BoardDomain,
    BoardMember,
    BoardOrganisation,
    Idea,
    User,
)
from portal.models.user import Role
from portal.permissions import can_see_hidden, is_signed_in

T = TypeVar("T")

TEAM_ROLES = (Role.PRODUCT_MANAGER.value, Role.ADMIN.value)
_BOARDS = "_portal_boards"
_VISIBLE = "_portal_visible_boards"


def _grants(
    user: Any,
    *,
    audience: Any,
    member: ColumnElement[bool],
    organisation: ColumnElement[bool],
    domain: ColumnElement[bool],
) -> ColumnElement[bool]:
    """The rule itself: a board that is not private is seen by every signed-in person; a private
    one by the team, its invited members, and people with a confirmed address who belong to a
    named organisation or whose address is at a named domain."""
    return or_(
        audience != Audience.PRIVATE.value,
        user.role.in_(TEAM_ROLES),
        member,
        and_(user.email_verified_at.is_not(None), or_(organisation, domain)),
    )


def sees_board(user: Any = User, board: Any = Board) -> ColumnElement[bool]:
    """Whether the (signed-in, not suspended) person in `user` may see the board in `board`.

    `user` and `board` are the tables or aliases the query joins; the caller has already left
    out suspended people, who see what visitors see.
    """
    at_domain = func.substr(user.email, func.length(user.email) - func.length(BoardDomain.domain))
    return _grants(
        user,
        audience=board.audience,
        # correlate_except: the person and the board may come from a query two levels out
        # (recipients_clause), which automatic correlation (one level) would not reach.
        member=exists()
        .where(BoardMember.board_id == board.id, BoardMember.user_id == user.id)
        .correlate_except(BoardMember),
        organisation=exists()
        .where(
            BoardOrganisation.board_id == board.id,
            BoardOrganisation.organisation_id == user.organisation_id,
        )
        .correlate_except(BoardOrganisation),
        domain=exists()
        .where(BoardDomain.board_id == board.id, at_domain == literal("@") + BoardDomain.domain)
        .correlate_except(BoardDomain),
    )


def would_see(
    audience: str,
    *,
    organisation_ids: Collection[int] = (),
    domains: Collection[str] = (),
    member_ids: Collection[int] = (),
    user: Any = User,
) -> ColumnElement[bool]:
    """The same rule for a board as it would be after a change not yet saved (the preview of
    who will newly see it)."""
    return _grants(
        user,
        audience=literal(audience),
        member=user.id.in_(sorted(member_ids)) if member_ids else false(),
        organisation=user.organisation_id.in_(sorted(organisation_ids))
        if organisation_ids
        else false(),
        domain=or_(false(), *(user.email.endswith("@" + d, autoescape=True) for d in domains)),
    )


def _boards() -> list[tuple[int, str]]:
    """Every board's id and audience: a handful of rows, read once per request."""
    if has_request_context() and _BOARDS in g:
        return list(g.get(_BOARDS))
    rows = [(row.id, row.audience) for row in db.session.execute(select(Board.id, Board.audience))]
    if has_request_context():
        setattr(g, _BOARDS, rows)
    return rows


def forget() -> None:
    """After boards, their audiences or someone's access changed, this request asks afresh."""
    if has_request_context():
        g.pop(_BOARDS, None)
        g.pop(_VISIBLE, None)


def _computed(_name: str, compute: Callable[[], T]) -> T:
    return compute()


# How a value read from the database is kept between requests: portal.cache sets its
# remembered() (kept until the next write anywhere); computed each time without it.
remember: Callable[[str, Callable[[], Any]], Any] = _computed


@functools.cache
def _boards_seen_by() -> Select[int, str, bool]:
    """Every board, and whether the person `viewer_id` may see it: built once (building the
    rule's expression cost a millisecond a request), run with the person's id."""
    return select(Board.id, Board.audience, sees_board(User, Board).label("seen")).join(
        User, User.id == bindparam("viewer_id")
    )


def visible_board_ids(viewer: Any) -> frozenset[int] | None:
    """The boards this person may see, or None when they may see every board.

    One query a request at most: the boards alone for a visitor; for someone signed in, the
    boards each with whether the rule lets this person see it.
    """
    if not is_signed_in(viewer):
        boards = _boards()
        ids = frozenset(i for i, audience in boards if audience == Audience.PUBLIC.value)
        return None if len(ids) == len(boards) else ids
    in_request = has_request_context()
    cache: dict[int, tuple[int, frozenset[int]]] = g.setdefault(_VISIBLE, {}) if in_request else {}
    if viewer.id not in cache:

        def query() -> list[tuple[int, str, bool]]:
            rows = db.session.execute(_boards_seen_by(), {"viewer_id": viewer.id}).all()
            return [(row.id, row.audience, bool(row.seen)) for row in rows]

        # In a request, kept between requests until the next write anywhere (remember).
        rows = remember(f"boards-seen:{viewer.id}", query) if in_request else query()
        if in_request and _BOARDS not in g:
            setattr(g, _BOARDS, [(board_id, audience) for board_id, audience, _ in rows])
        cache[viewer.id] = (len(rows), frozenset(board_id for board_id, _, seen in rows if seen))
    count, ids = cache[viewer.id]
    return None if len(ids) == count else ids


def can_see_board(viewer: Any, board: Board | int) -> bool:
    ids = visible_board_ids(viewer)
    return ids is None or (board if isinstance(board, int) else board.id) in ids


def board_clause(viewer: Any, column: Any = None) -> ColumnElement[bool]:
    """SQL: the idea (or the row whose board is `column`) is on a board the viewer may see.

    Only boards known to be visible pass (a board made since this request began does not).
    The column is written `board_id + 0` so that no index serves the condition: the database
    then walks the index of the list's order as it did before boards, instead of gathering the
    visible boards' ideas and sorting them (SQLite, which keeps no statistics, chose the board
    index for every list and sorted 95,000 rows: 10 to 30 times slower).
    """
    ids = visible_board_ids(viewer)
    if ids is None:
        return true()
    if not ids:
        return false()
    return ((Idea.board_id if column is None else column) + 0).in_(sorted(ids))


def listed(
    viewer: Any, *, own_hidden: bool = False, hidden_for_team: bool = True
) -> ColumnElement[bool]:
    """SQL: the idea may appear in a list, a search, a feed or a count shown to this viewer.

    Hidden ideas are listed for the team only (not at all with hidden_for_team=False: search
    and the roadmap show everyone what customers see); with own_hidden, also for their author
    ("My ideas", where people find the idea that waits for approval).
    """
    clauses = [board_clause(viewer)]
    if not (hidden_for_team and can_see_hidden(viewer)):
        shown: ColumnElement[bool] = Idea.hidden_at.is_(None)
        if own_hidden and is_signed_in(viewer):
            shown = or_(shown, Idea.author_id == viewer.id)
        clauses.append(shown)
    return and_(*clauses)


def can_see_idea(viewer: Any, idea: Idea) -> bool:
    """Whether this person may see this one idea (its page, its title anywhere, acting on it)."""
    if not can_see_board(viewer, idea.board_id):
        return False
    if idea.hidden_at is None:
        return True
    return can_see_hidden(viewer) or (is_signed_in(viewer) and idea.author_id == viewer.id)


def recipients_clause(board_id: Any) -> ColumnElement[bool]:
    """SQL over users: the people who may see ideas of the board in `board_id` (a column or a
    number), for choosing who is notified or emailed. A suspended person sees what a visitor
    sees, as everywhere: public boards only."""
    return (
        select(Board.id)
        .where(
            Board.id == board_id,
            or_(
                Board.audience == Audience.PUBLIC.value,
                and_(User.suspended_at.is_(None), sees_board(User, Board)),
            ),
        )
        .exists()
    )


def user_can_see_board(user: User, board_id: int) -> bool:
    """For someone other than the person asking (a recipient): the same rule, in one query."""
    return bool(
        db.session.scalar(
            select(User.id).where(User.id == user.id, recipients_clause(board_id)).limit(1)
        )
    )
