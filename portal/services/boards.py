"""Boards: finding them, the default one, and who a change to a board's audience lets in.

Who sees what is decided in portal.visibility, never here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, func, not_, select

from portal import visibility
from portal.extensions import db
from portal.models import (
    Audience,
    Board,
    BoardDomain,
    BoardMember,
    BoardOrganisation,
    Organisation,
    User,
)
from portal.permissions import is_team
from portal.services.text import and_list

DEFAULT_BOARD = {
    "name": "Ideas",
    "slug": "ideas",
    "description": "Ideas for the product, open to everyone.",
}


def all_boards() -> list[Board]:
    return list(db.session.scalars(select(Board).order_by(Board.position, Board.id)))


def default_board() -> Board:
    """Where an idea goes when no board is chosen: the first board."""
    board = db.session.scalar(select(Board).order_by(Board.position, Board.id).limit(1))
    if board is None:
        install_default_board()
        board = db.session.scalar(select(Board).order_by(Board.position, Board.id).limit(1))
    assert board is not None
    return board


def install_default_board() -> None:
    """Add the default public board to a database that has none (the migration does this too)."""
    if db.session.scalar(select(Board.id).limit(1)) is None:
        db.session.add(Board(**DEFAULT_BOARD, position=0, audience=Audience.PUBLIC.value))
        db.session.flush()
        visibility.forget()


def visible_boards(viewer: Any) -> list[Board]:
    """The boards this person may see, in the admins' order."""
    ids = visibility.visible_board_ids(viewer)
    boards = all_boards()
    return boards if ids is None else [b for b in boards if b.id in ids]


def can_post_to(person: Any, board: Board) -> bool:
    """New ideas: on a board the person sees, while it is open for posting (always for the team)."""
    return visibility.can_see_board(person, board) and (board.posting_open or is_team(person))


def postable_boards(person: Any) -> list[Board]:
    """The boards this person may post a new idea to, in the admins' order."""
    return [b for b in visible_boards(person) if can_post_to(person, b)]


def find_board(slug: str) -> Board | None:
    """The board with this address, whoever asks; the caller decides what the person may see."""
    return db.session.scalar(select(Board).where(Board.slug == slug))


def board_by_slug(slug: str, *, viewer: Any) -> Board | None:
    """The board if this person may see it; None otherwise (a private board looks missing)."""
    board = find_board(slug)
    if board is None or not visibility.can_see_board(viewer, board):
        return None
    return board


# --- Who a change lets in ---------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceState:
    """A board's audience as it is, or as it would be after a change."""

    audience: str
    organisation_ids: frozenset[int] = frozenset()
    domains: frozenset[str] = frozenset()
    member_ids: frozenset[int] = frozenset()

    @classmethod
    def of(cls, board: Board) -> AudienceState:
        return cls(
            audience=board.audience,
            organisation_ids=frozenset(
                db.session.scalars(
                    select(BoardOrganisation.organisation_id).where(
                        BoardOrganisation.board_id == board.id
                    )
                )
            ),
            domains=frozenset(
                db.session.scalars(
                    select(BoardDomain.domain).where(BoardDomain.board_id == board.id)
                )
            ),
            member_ids=frozenset(
                db.session.scalars(
                    select(BoardMember.user_id).where(BoardMember.board_id == board.id)
                )
            ),
        )

    def clause(self) -> Any:
        return visibility.would_see(
            self.audience,
            organisation_ids=self.organisation_ids,
            domains=self.domains,
            member_ids=self.member_ids,
        )


@dataclass
class Widening:
    """Who would newly see a board's ideas after a change: shown before it is saved."""

    visitors: bool = False  # anyone, without an account
    every_account: bool = False  # anyone with an account
    people: int = 0  # accounts that cannot see it today and would
    organisations: list[str] = field(default_factory=list)  # newly named organisations
    domains: list[str] = field(default_factory=list)  # newly named domains
    examples: list[str] = field(default_factory=list)  # a few of the people, by name

    @property
    def anyone(self) -> bool:
        return self.visitors or self.every_account or self.people > 0

    def sentences(self) -> list[str]:
        said: list[str] = []
        if self.visitors:
            said.append("Everyone on the internet, including visitors who are not signed in.")
        elif self.every_account:
            said.append("Everyone with an account on this portal.")
        if self.organisations:
            said.append("People of " + and_list(self.organisations) + ".")
        if self.domains:
            said.append(
                "People whose confirmed email address is at "
                + and_list(["@" + d for d in self.domains])
                + "."
            )
        if self.people:
            who = f"{self.people} account{'s' if self.people != 1 else ''}"
            names = and_list(self.examples)
            if not names:
                said.append(f"{who} that cannot see it today.")
            elif self.people <= len(self.examples):
                said.append(f"{who} that cannot see it today: {names}.")
            else:
                said.append(f"{who} that cannot see it today, among them {names}.")
        return said


def widening(before: AudienceState, after: AudienceState) -> Widening:
    """Who sees the board after the change and not before (the team sees every board)."""
    result = Widening()
    if after.audience == Audience.PUBLIC.value and before.audience != Audience.PUBLIC.value:
        result.visitors = True
    if after.audience != Audience.PRIVATE.value and before.audience == Audience.PRIVATE.value:
        result.every_account = True
    if after.audience == Audience.PRIVATE.value:
        new_orgs = after.organisation_ids - before.organisation_ids
        if new_orgs:
            result.organisations = list(
                db.session.scalars(
                    select(Organisation.name)
                    .where(Organisation.id.in_(sorted(new_orgs)))
                    .order_by(Organisation.name)
                )
            )
        result.domains = sorted(after.domains - before.domains)
    # coalesce: the rule is NULL, not false, for someone with no organisation; NOT NULL is NULL.
    saw = func.coalesce(before.clause(), false())
    newly = and_(User.suspended_at.is_(None), after.clause(), not_(saw))
    result.people = db.session.scalar(select(func.count()).select_from(User).where(newly)) or 0
    if result.people:
        result.examples = list(
            db.session.scalars(
                select(User.display_name).where(newly).order_by(User.display_name).limit(5)
            )
        )
    return result


def moving_widens(idea_board: Board, to_board: Board) -> Widening:
    """Who would newly see an idea moved from one board to another."""
    return widening(AudienceState.of(idea_board), AudienceState.of(to_board))
